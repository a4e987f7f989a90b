package submit_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/pipeline/submit"
)

// answerOf returns the error the real client returns for one billing
// create answered by h (nil for a booking).
func answerOf(t *testing.T, h http.HandlerFunc) error {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case flabs.PathToken, flabs.PathTokenRefresh:
			io.WriteString(w, `{"authToken":"a","refreshToken":"r","expiresIn":600}`)
		default:
			h(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	c, err := flabs.NewClient(flabs.Config{BaseURL: srv.URL, ClientID: "id", ClientSecret: "secret", Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateBilling(context.Background(), request("p:1"))
	return err
}

func reply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// TestDecide: what an answer proves, over every kind of answer × the
// booking's history. After an attempt whose outcome is unknown, any
// refusal — whatever its status or wording — is unconfirmed; on a fresh
// booking it is rejected. Words never matter.
func TestDecide(t *testing.T) {
	const (
		booked = `{"success":true,"message":"Booking created successfully","integrator_id":"p:1","preBookingID":"pb1"}`
	)
	tests := []struct {
		name   string
		answer http.HandlerFunc
		fresh  ledger.BookingState // first attempt, nothing unknown before
		maybe  ledger.BookingState // an earlier attempt's outcome is unknown
		// the attempt itself leaves the booking maybe booked
		leavesMaybe bool
		throttled   bool
	}{
		{name: "200 booked", answer: reply(200, booked), fresh: ledger.Submitted, maybe: ledger.Submitted},
		{name: "200 success:false, vague", answer: reply(200, `{"success":false,"message":"Something went wrong"}`), fresh: ledger.Rejected, maybe: ledger.Unconfirmed},
		{name: "200 success:false naming the barcode", answer: reply(200, `{"success":false,"message":"barcode already exists"}`), fresh: ledger.Rejected, maybe: ledger.Unconfirmed},
		{name: "400 naming a field", answer: reply(400, `{"success":false,"message":"age is required"}`), fresh: ledger.Rejected, maybe: ledger.Unconfirmed},
		{name: "400 duplicate wording", answer: reply(400, `{"success":false,"message":"Duplicate integrator id"}`), fresh: ledger.Rejected, maybe: ledger.Unconfirmed},
		{name: "403", answer: reply(403, `{"success":false,"message":"forbidden"}`), fresh: ledger.Rejected, maybe: ledger.Unconfirmed},
		{name: "404 text", answer: reply(404, `not here`), fresh: ledger.Rejected, maybe: ledger.Unconfirmed},
		{name: "409 integrator_id exists", answer: reply(409, `{"success":false,"message":"integrator_id already exists"}`), fresh: ledger.Rejected, maybe: ledger.Unconfirmed},
		{name: "409 vague", answer: reply(409, `{"success":false,"message":"Something went wrong"}`), fresh: ledger.Rejected, maybe: ledger.Unconfirmed},
		{name: "422 empty body", answer: reply(422, ``), fresh: ledger.Rejected, maybe: ledger.Unconfirmed},
		{name: "401 every time", answer: reply(401, `{"success":false,"message":"Unauthorized"}`), fresh: ledger.Pending, maybe: ledger.Pending},
		{name: "429", answer: reply(429, `{"success":false,"message":"Too many requests"}`), fresh: ledger.Retry, maybe: ledger.Retry, throttled: true},
		{name: "500", answer: reply(500, `{"success":false,"message":"duplicate"}`), fresh: ledger.Retry, maybe: ledger.Retry, leavesMaybe: true},
		{name: "503", answer: reply(503, `upstream down`), fresh: ledger.Retry, maybe: ledger.Retry, leavesMaybe: true},
		{name: "200 unreadable", answer: reply(200, `<html>proxy</html>`), fresh: ledger.Retry, maybe: ledger.Retry, leavesMaybe: true},
		{name: "200 without preBookingID", answer: reply(200, `{"success":true}`), fresh: ledger.Retry, maybe: ledger.Retry, leavesMaybe: true},
		{name: "timeout", answer: func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body) // so the server notices the client hang up
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}, fresh: ledger.Retry, maybe: ledger.Retry, leavesMaybe: true},
		{name: "dropped connection", answer: func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}, fresh: ledger.Retry, maybe: ledger.Retry, leavesMaybe: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := answerOf(t, tt.answer)
			for _, h := range []struct {
				maybeBooked bool
				want        ledger.BookingState
			}{{false, tt.fresh}, {true, tt.maybe}} {
				v := submit.Decide(h.maybeBooked, err)
				if v.State != h.want {
					t.Errorf("maybe booked before %v, answer %v: %s, want %s", h.maybeBooked, err, v.State, h.want)
				}
				if want := h.maybeBooked || tt.leavesMaybe; v.MaybeBooked != want {
					t.Errorf("maybe booked before %v, answer %v: MaybeBooked %v, want %v", h.maybeBooked, err, v.MaybeBooked, want)
				}
				if v.Throttled != tt.throttled {
					t.Errorf("answer %v: Throttled %v, want %v", err, v.Throttled, tt.throttled)
				}
			}
		})
	}
}

// The reproduced case: a booking Flabs booked although the answer never
// came (a timeout) is resent, and Flabs answers the resend
// 200 {"success": false, "message": "Something went wrong"}. Nothing in
// those words names a duplicate, yet the refusal proves nothing after an
// unknown outcome: unconfirmed, never rejected, and booked once.
func TestResendAfterTimeoutRefusedVaguelyIsUnconfirmed(t *testing.T) {
	r := newRig(t, flabstest.Options{Duplicate: flabstest.DuplicateOKFalse, FaultScript: map[string]string{"p:00000#1": "timeout"}},
		300*time.Millisecond)
	jobs := r.admit(t, "p", 1)
	s := submit.New(r.client, r.ledger, submit.NewLimiter(100, 10), fast())
	stop := run(t, s)
	got := s.Submit(context.Background(), jobs, nil)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got[0].State != ledger.Unconfirmed || got[0].Attempts != 2 || got[0].HTTPStatus != 200 || !got[0].MaybeBooked {
		t.Errorf("resend refused with success:false after a timeout: %+v; want unconfirmed after 2 attempts", got[0])
	}
	st, err := r.ledger.States(context.Background(), []string{jobs[0].IntegratorID})
	if err != nil || st[jobs[0].IntegratorID].Status != ledger.Unconfirmed {
		t.Errorf("ledger: %+v, %v; want unconfirmed", st, err)
	}
	if strings.Contains(st[jobs[0].IntegratorID].Error, "Something went wrong") {
		t.Errorf("the ledger keeps Flabs' words: %q", st[jobs[0].IntegratorID].Error)
	}
	assertBookedOnce(t, r.sim, jobs)
}
