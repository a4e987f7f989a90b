package flabs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
)

// fakeFlabs serves the token endpoints with a fixed answer and billing
// create with answer, counting the calls by path.
type fakeFlabs struct {
	token   func(w http.ResponseWriter) // default: a valid token
	billing func(w http.ResponseWriter) // default: the documented 200
	mu      sync.Mutex
	calls   map[string]int
}

func (f *fakeFlabs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls[r.URL.Path]++
	f.mu.Unlock()
	switch r.URL.Path {
	case flabs.PathToken, flabs.PathTokenRefresh:
		if f.token != nil {
			f.token(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"authToken":"a","refreshToken":"r","expiresIn":600}`)
	case flabs.PathBillingCreate:
		if f.billing != nil {
			f.billing(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"success":true,"message":"Booking created successfully","integrator_id":"ORD-1","preBookingID":"pb1"}`)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeFlabs) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[path]
}

func startFake(t *testing.T, f *fakeFlabs) *flabs.Client {
	t.Helper()
	f.calls = map[string]int{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := flabs.NewClient(flabs.Config{BaseURL: srv.URL, ClientID: "id", ClientSecret: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func answer(status int, contentType, body string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// A 403 to billing create is Flabs refusing that one booking: permanent,
// without Flabs' words (they may echo the patient), no token renewal, and the next booking of the same
// client goes through. Every error body style keeps the 403.
func TestForbiddenBillingIsPermanentNotAuth(t *testing.T) {
	for _, style := range []flabstest.ErrorStyle{flabstest.ErrorJSON, flabstest.ErrorText, flabstest.ErrorOKFalse} {
		t.Run(string(style), func(t *testing.T) {
			sim := newSim(t, flabstest.Options{ErrorStyle: style, ForbiddenLeadSources: []string{"lapsed-partner"}})
			c := newClient(t, sim, nil)
			ctx := context.Background()
			req := validBilling("ORD-403")
			req.LeadSource = "lapsed-partner"
			resp, err := c.CreateBilling(ctx, req)
			if resp != nil {
				t.Errorf("403 returned as a success: %+v", resp)
			}
			fe := asError(t, err)
			if fe.Status != http.StatusForbidden || fe.Class != flabs.ClassPermanent || flabs.ClassOf(err) != flabs.ClassPermanent {
				t.Errorf("error = %v (status %d, class %v), want 403 ClassPermanent", err, fe.Status, fe.Class)
			}
			if m := lastMessage(sim); !strings.Contains(m, "forbidden for this account") {
				t.Errorf("simulator's message = %q, want the 403's reason", m)
			}
			assertNoFlabsWords(t, fe)
			if n := countPath(sim, flabs.PathTokenRefresh) + countPath(sim, flabs.PathToken); n != 1 {
				t.Errorf("token calls = %d, want the one login: a 403 is not a token problem", n)
			}
			if _, err := c.CreateBilling(ctx, validBilling("ORD-OK")); err != nil {
				t.Errorf("next booking after a 403: %v", err)
			}
			if n := len(sim.Bookings()); n != 1 || sim.Stats().Forbidden.Load() != 1 {
				t.Errorf("bookings = %d, forbidden = %d; want 1 and 1", n, sim.Stats().Forbidden.Load())
			}
		})
	}
}

// Only a 401 that survives a renewed token is ClassAuth.
func TestPersistent401IsAuth(t *testing.T) {
	f := &fakeFlabs{billing: answer(http.StatusUnauthorized, "application/json", `{"success":false,"message":"Unauthorized"}`)}
	c := startFake(t, f)
	_, err := c.CreateBilling(context.Background(), validBilling("ORD-1"))
	if fe := asError(t, err); fe.Status != 401 || fe.Class != flabs.ClassAuth {
		t.Errorf("error = %v (class %v), want 401 ClassAuth", err, fe.Class)
	}
	if n := f.count(flabs.PathBillingCreate); n != 2 {
		t.Errorf("billing creates = %d, want 2 (one more after renewing the token)", n)
	}
	if n := f.count(flabs.PathTokenRefresh); n != 1 {
		t.Errorf("refreshes = %d, want 1", n)
	}
}

// The token endpoints carry only the credentials, so any refusal there —
// 403 and 400 included — is ClassAuth; trouble getting an answer is not.
// No booking is sent without a token.
func TestTokenEndpointAnswers(t *testing.T) {
	tests := []struct {
		name   string
		answer func(http.ResponseWriter)
		want   flabs.Class
	}{
		{"403", answer(403, "application/json", `{"success":false,"message":"client disabled"}`), flabs.ClassAuth},
		{"401", answer(401, "application/json", `{"success":false,"message":"Invalid client credentials"}`), flabs.ClassAuth},
		{"400", answer(400, "text/plain", "clientSecret is required"), flabs.ClassAuth},
		{"200 success false", answer(200, "application/json", `{"success":false,"message":"Invalid client credentials"}`), flabs.ClassAuth},
		{"503", answer(503, "text/html", "<html>maintenance</html>"), flabs.ClassRetryable},
		{"429", answer(429, "", ""), flabs.ClassRetryable},
		{"200 HTML", answer(200, "text/html", "<html>login portal</html>"), flabs.ClassRetryable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeFlabs{token: tt.answer}
			c := startFake(t, f)
			_, err := c.CreateBilling(context.Background(), validBilling("ORD-1"))
			if fe := asError(t, err); fe.Class != tt.want {
				t.Errorf("error = %v (class %v), want %v", err, fe.Class, tt.want)
			}
			if n := f.count(flabs.PathBillingCreate); n != 0 {
				t.Errorf("billing create sent %d times without a token", n)
			}
		})
	}
}

// A 2xx to billing create that is not the documented answer with a
// preBookingID may hide a booking: retryable (the submitter then counts
// the booking as maybe booked), never a success and never a refusal.
func TestBillingUnreadable2xxIsRetryable(t *testing.T) {
	const documented = `{"success":true,"message":"Booking created successfully","integrator_id":"ORD-1","preBookingID":"pb1"}`
	tests := []struct {
		name   string
		status int
		ctype  string
		body   string
	}{
		{"empty 200", 200, "application/json", ""},
		{"204 no content", 204, "", ""},
		{"HTML 200", 200, "text/html", "<!DOCTYPE html><html><body>Welcome to nginx!</body></html>"},
		{"truncated", 200, "application/json", documented[:len(documented)-20]},
		{"no preBookingID", 200, "application/json", `{"success":true,"message":"Booking created successfully","integrator_id":"ORD-1"}`},
		{"empty preBookingID", 201, "application/json", `{"success":true,"integrator_id":"ORD-1","preBookingID":""}`},
		{"null", 200, "application/json", "null"},
		{"array", 200, "application/json", `[{"preBookingID":"pb1"}]`},
		{"preBookingID not a string", 200, "application/json", `{"success":true,"preBookingID":12345}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeFlabs{billing: answer(tt.status, tt.ctype, tt.body)}
			c := startFake(t, f)
			resp, err := c.CreateBilling(context.Background(), validBilling("ORD-1"))
			if resp != nil {
				t.Errorf("counted as booked: %+v", resp)
			}
			fe := asError(t, err)
			if fe.Class != flabs.ClassRetryable || !flabs.IsRetryable(err) || fe.Status != tt.status {
				t.Errorf("error = %v (status %d, class %v), want ClassRetryable with status %d", err, fe.Status, fe.Class, tt.status)
			}
		})
	}
	t.Run("documented answer", func(t *testing.T) {
		c := startFake(t, &fakeFlabs{billing: answer(200, "application/json", documented)})
		resp, err := c.CreateBilling(context.Background(), validBilling("ORD-1"))
		if err != nil || resp.PreBookingID != "pb1" {
			t.Errorf("CreateBilling = %+v, %v; want pb1", resp, err)
		}
	})
}

// An integrator ID over MaxIntegratorIDLen is never sent: its webhooks
// would be refused by our receiver. One of exactly the limit is booked.
func TestCreateBillingIntegratorIDLimit(t *testing.T) {
	sim := newSim(t, flabstest.Options{})
	c := newClient(t, sim, nil)
	ctx := context.Background()
	long := "p:" + strings.Repeat("R", flabs.MaxIntegratorIDLen-1)
	_, err := c.CreateBilling(ctx, validBilling(long))
	if fe := asError(t, err); fe.Class != flabs.ClassPermanent || fe.Status != 0 || !strings.Contains(fe.Message, "256") {
		t.Errorf("error = %v (class %v), want ClassPermanent naming the limit, nothing sent", err, fe.Class)
	}
	if n := countPath(sim, flabs.PathBillingCreate); n != 0 {
		t.Errorf("billing create sent %d times", n)
	}
	if _, err := c.CreateBilling(ctx, validBilling(long[:flabs.MaxIntegratorIDLen])); err != nil {
		t.Errorf("ID of exactly %d bytes: %v", flabs.MaxIntegratorIDLen, err)
	}
}

// What the client keeps of a billing create's refusal is its status, its
// class and Flabs' error code: never Flabs' words, which may echo the
// patient, whatever the body style and status. The class never depends
// on the words: a refusal is a refusal however it is worded.
func TestBillingRefusalKeepsStatusClassAndCodeOnly(t *testing.T) {
	const name = "Zebedee Quargleworth"
	tests := []struct {
		name      string
		status    int
		body      string
		wantClass flabs.Class
		wantCode  string
	}{
		{"400 with a code", 400, `{"success":false,"message":"first_name ` + name + ` is invalid","code":"E_NAME_1"}`, flabs.ClassPermanent, "E_NAME_1"},
		{"409 errorCode number", 409, `{"success":false,"message":"duplicate for ` + name + `","errorCode":4091}`, flabs.ClassDuplicate, "4091"},
		{"409 worded like anything", 409, `{"success":false,"message":"Something went wrong"}`, flabs.ClassDuplicate, ""},
		{"400 naming a barcode", 400, `{"success":false,"message":"barcode already exists"}`, flabs.ClassPermanent, ""},
		{"200 success false", 200, `{"success":false,"message":"Something went wrong for ` + name + `","error_code":"SW-1"}`, flabs.ClassPermanent, "SW-1"},
		{"a code that is words", 400, `{"success":false,"message":"x","code":"patient ` + name + `"}`, flabs.ClassPermanent, ""},
		{"text body", 403, name + " may not be booked", flabs.ClassPermanent, ""},
		{"503 html", 503, "<html>" + name + "</html>", flabs.ClassRetryable, ""},
		{"undecodable 200", 200, "<html>" + name + "</html>", flabs.ClassRetryable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startFake(t, &fakeFlabs{billing: answer(tt.status, "application/json", tt.body)})
			_, err := c.CreateBilling(context.Background(), validBilling("ORD-1"))
			fe := asError(t, err)
			if fe.Class != tt.wantClass || fe.Status != tt.status || fe.Code != tt.wantCode {
				t.Errorf("error = %v: class %v status %d code %q; want %v %d %q", err, fe.Class, fe.Status, fe.Code, tt.wantClass, tt.status, tt.wantCode)
			}
			if strings.Contains(err.Error(), "Quargleworth") || strings.Contains(fmt.Sprintf("%+v", fe), "Quargleworth") {
				t.Errorf("the error keeps the patient's name: %v", err)
			}
			if tt.wantCode != "" && !strings.Contains(err.Error(), "code "+tt.wantCode) {
				t.Errorf("Error() = %q, want it to give Flabs' code %s", err, tt.wantCode)
			}
		})
	}
}

// Calls that carry no patient data keep Flabs' words: they help whoever
// fixes the config, and cannot echo a patient.
func TestNonPatientCallsKeepFlabsWords(t *testing.T) {
	c := startFake(t, &fakeFlabs{token: answer(400, "application/json", `{"success":false,"message":"clientSecret is wrong"}`)})
	_, err := c.Labs(context.Background())
	fe := asError(t, err)
	if fe.Class != flabs.ClassAuth || !strings.Contains(fe.Message, "clientSecret is wrong") {
		t.Errorf("error = %v, want ClassAuth with Flabs' words", err)
	}
}

// The classes are sentinels too: one ErrAuth, one ErrDuplicate.
func TestClassSentinels(t *testing.T) {
	wrap := func(c flabs.Class) error { return fmt.Errorf("ctx: %w", &flabs.Error{Op: "x", Class: c}) }
	if !errors.Is(wrap(flabs.ClassAuth), flabs.ErrAuth) || errors.Is(wrap(flabs.ClassPermanent), flabs.ErrAuth) {
		t.Error("errors.Is(_, ErrAuth) does not follow ClassAuth")
	}
	if !errors.Is(wrap(flabs.ClassDuplicate), flabs.ErrDuplicate) || errors.Is(wrap(flabs.ClassPermanent), flabs.ErrDuplicate) {
		t.Error("errors.Is(_, ErrDuplicate) does not follow ClassDuplicate")
	}
	if !flabs.ClassDuplicate.Refusal() || !flabs.ClassPermanent.Refusal() || flabs.ClassRetryable.Refusal() || flabs.ClassAuth.Refusal() {
		t.Error("Refusal() is wrong")
	}
}
