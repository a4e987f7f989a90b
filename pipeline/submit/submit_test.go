package submit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/pipeline/submit"
)

// rig is a ledger on a real SQLite file, a simulator over loopback HTTP
// and a client for it.
type rig struct {
	db     *store.DB
	ledger *ledger.Ledger
	sim    *flabstest.Server
	client *flabs.Client
	fileID int64
}

func newRig(t testing.TB, o flabstest.Options, timeout time.Duration) *rig {
	t.Helper()
	o.Webhooks.Manual = true
	sim := flabstest.NewTestServer(t, o)
	cl, err := flabs.NewClient(flabs.Config{BaseURL: sim.URL(), ClientID: flabstest.DefaultClientID,
		ClientSecret: flabstest.DefaultClientSecret, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	db := storetest.OpenSQLite(t)
	r := &rig{db: db, ledger: ledger.New(db), sim: sim, client: cl}
	r.fileID, _, err = r.ledger.StartFile(context.Background(), ledger.File{Partner: "p", Name: "f.csv", SHA256: "x"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func request(id string) *flabs.BillingRequest {
	return &flabs.BillingRequest{
		PatientDetails: flabs.PatientDetails{FirstName: "Test", Gender: flabs.GenderFemale, Age: 30, AgeType: flabs.AgeYear},
		IntegratorID:   id, LeadSource: "partner",
		MappedTests: []flabs.MappedTest{{ID: flabstest.DefaultTests()[0].ID}},
	}
}

// admit puts n bookings of partner into the ledger and returns the jobs
// it decides to send.
func (r *rig) admit(t testing.TB, partner string, n int) []ledger.Job {
	t.Helper()
	var bs []ledger.Booking
	var rows []ledger.Row
	for i := range n {
		id := fmt.Sprintf("%s:%05d", partner, i)
		bs = append(bs, ledger.Booking{IntegratorID: id, Partner: partner, FirstRow: i + 2, Rows: []int{i + 2}, Request: request(id)})
		rows = append(rows, ledger.Row{Sheet: partner, Num: i + 2, Status: ledger.RowAccepted, IntegratorID: id})
	}
	ds, err := r.ledger.Admit(context.Background(), r.fileID, bs, rows)
	if err != nil {
		t.Fatal(err)
	}
	var jobs []ledger.Job
	for _, d := range ds {
		if d.Send != nil {
			jobs = append(jobs, *d.Send)
		}
	}
	return jobs
}

func fast() submit.Options {
	return submit.Options{Concurrency: 8, MaxAttempts: 8, Backoff: submit.Backoff{Min: time.Millisecond, Max: 20 * time.Millisecond}}
}

// run starts s and returns a stop function that waits for it.
func run(t *testing.T, s *submit.Submitter) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	t.Cleanup(cancel)
	return func() error { cancel(); return <-errc }
}

// assertBookedOnce checks the simulator holds exactly one booking per ID.
func assertBookedOnce(t *testing.T, sim *flabstest.Server, jobs []ledger.Job) {
	t.Helper()
	if d := sim.DoubleBooked(); len(d) > 0 {
		t.Errorf("double-booked at Flabs: %v", d)
	}
	for _, j := range jobs {
		if n := len(sim.BookingsFor(j.IntegratorID)); n != 1 {
			t.Errorf("%s booked %d times at Flabs, want once", j.IntegratorID, n)
		}
	}
}

func TestFaultsEveryBookingOnceNeverCountedUnproven(t *testing.T) {
	// 10% 503s, 5% answers that never come although the booking was made
	// (the client times out and resends: Flabs says 409), 5% dropped
	// connections.
	r := newRig(t, flabstest.Options{FailRate: 0.1, TimeoutRate: 0.05, DropRate: 0.05, HangFor: time.Second, Seed: 7}, 150*time.Millisecond)
	jobs := r.admit(t, "p", 300)
	s := submit.New(r.client, r.ledger, submit.NewLimiter(1000, 50), fast())
	stop := run(t, s)
	res := s.Submit(context.Background(), jobs, nil)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var submitted, unconfirmed int
	for _, x := range res {
		switch x.State {
		case ledger.Submitted:
			submitted++
		case ledger.Unconfirmed:
			// A resend refused after an attempt with no answer: it is in
			// fact booked here, but the 409 alone does not prove it.
			unconfirmed++
			if !x.MaybeBooked {
				t.Errorf("%s unconfirmed without an attempt of unknown outcome", x.IntegratorID)
			}
		default:
			t.Errorf("%s ended %s: %s", x.IntegratorID, x.State, x.Error)
		}
	}
	assertBookedOnce(t, r.sim, jobs)
	if unconfirmed == 0 {
		t.Errorf("no resend met a booking that had gone through; the timeout fault did not bite")
	}
	c, err := r.ledger.FinishFile(context.Background(), r.fileID, 300)
	if err != nil || c.Submitted != submitted || c.Unconfirmed != unconfirmed || !c.Balanced() {
		t.Errorf("file counts %+v, %v; want %d submitted, %d unconfirmed", c, err, submitted, unconfirmed)
	}
}

// TestConflictOnFirstAttemptIsARefusal: a 409 to a booking's first
// attempt cannot mean "already booked" (nothing of ours was sent): here
// another booking holds its barcode. It is rejected with Flabs' answer
// (status and class), never counted as submitted.
func TestConflictOnFirstAttemptIsARefusal(t *testing.T) {
	r := newRig(t, flabstest.Options{BarcodeConflictStatus: 409}, time.Second)
	jobs := r.admit(t, "p", 2)
	jobs[0].Request.BarCode, jobs[1].Request.BarCode = "BC-1", "BC-1"
	s := submit.New(r.client, r.ledger, submit.NewLimiter(100, 10), fast())
	stop := run(t, s)
	first := s.Submit(context.Background(), jobs[:1], nil)
	second := s.Submit(context.Background(), jobs[1:], nil)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if first[0].State != ledger.Submitted {
		t.Fatalf("first booking: %s (%s)", first[0].State, first[0].Error)
	}
	if got := second[0]; got.State != ledger.Rejected || got.HTTPStatus != 409 || got.Error == "" {
		t.Errorf("second booking, same barcode: %s %d %q; want rejected 409 with Flabs' answer", got.State, got.HTTPStatus, got.Error)
	}
	if n := len(r.sim.BookingsFor(jobs[1].IntegratorID)); n != 0 {
		t.Errorf("the refused booking exists %d times in Flabs", n)
	}
}

// TestResendRefusedAfterUnknownOutcomeIsUnconfirmed: a booking whose
// earlier attempt's outcome is unknown (in flight at a crash) is resent;
// Flabs refuses it for its own barcode. That proves nothing either way:
// unconfirmed, not rejected and not submitted.
func TestResendRefusedAfterUnknownOutcomeIsUnconfirmed(t *testing.T) {
	r := newRig(t, flabstest.Options{}, time.Second)
	jobs := r.admit(t, "p", 1)
	s := submit.New(r.client, r.ledger, submit.NewLimiter(100, 10), fast())
	stop := run(t, s)
	if got := s.Submit(context.Background(), jobs, nil); got[0].State != ledger.Submitted {
		t.Fatalf("first send: %s", got[0].State)
	}
	// The process died with the request on its way: the ledger still says
	// in flight, though Flabs booked it.
	if _, err := r.db.Exec(r.db.Rebind(`UPDATE bookings SET status = 'in_flight' WHERE integrator_id = ?`), jobs[0].IntegratorID); err != nil {
		t.Fatal(err)
	}
	resend := jobs[0] // not marked: the ledger itself says an attempt's outcome is unknown
	got := s.Submit(context.Background(), []ledger.Job{resend}, nil)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got[0].State != ledger.Unconfirmed || got[0].HTTPStatus != 409 {
		t.Errorf("resend refused with 409: %s %d, want unconfirmed", got[0].State, got[0].HTTPStatus)
	}
	st, err := r.ledger.States(context.Background(), []string{resend.IntegratorID})
	if err != nil || st[resend.IntegratorID].Status != ledger.Unconfirmed {
		t.Errorf("ledger: %+v, %v; want unconfirmed", st, err)
	}
}

func TestPermanentRefusalIsNeverRetried(t *testing.T) {
	r := newRig(t, flabstest.Options{}, time.Second)
	jobs := r.admit(t, "p", 3)
	jobs[1].Request.PatientDetails.AgeType = "decade" // Flabs refuses it: 400
	s := submit.New(r.client, r.ledger, submit.NewLimiter(100, 10), fast())
	stop := run(t, s)
	res := s.Submit(context.Background(), jobs, nil)
	stop()
	if res[1].State != ledger.Rejected || res[1].Attempts != 1 || res[1].HTTPStatus != 400 {
		t.Errorf("refused booking: %+v; want rejected after 1 attempt with 400", res[1])
	}
	if res[0].State != ledger.Submitted || res[2].State != ledger.Submitted || res[0].PreBookingID == "" {
		t.Errorf("the others: %+v, %+v", res[0], res[2])
	}
	if st, _ := r.ledger.States(context.Background(), []string{jobs[0].IntegratorID}); st[jobs[0].IntegratorID].PreBookingID != res[0].PreBookingID {
		t.Errorf("ledger keeps preBookingID %q, Flabs gave %q", st[jobs[0].IntegratorID].PreBookingID, res[0].PreBookingID)
	}
	st, err := r.ledger.States(context.Background(), []string{jobs[1].IntegratorID})
	if err != nil || st[jobs[1].IntegratorID].Status != ledger.Rejected || st[jobs[1].IntegratorID].Error == "" {
		t.Errorf("ledger: %+v, %v", st, err)
	}
}

func TestRetriesRunOutIntoFailed(t *testing.T) {
	r := newRig(t, flabstest.Options{FailRate: 1}, time.Second)
	jobs := r.admit(t, "p", 2)
	o := fast()
	o.MaxAttempts = 3
	s := submit.New(r.client, r.ledger, submit.NewLimiter(1000, 10), o)
	stop := run(t, s)
	res := s.Submit(context.Background(), jobs, nil)
	stop()
	for _, x := range res {
		if x.State != ledger.Failed || x.Attempts != 3 || x.HTTPStatus != 503 {
			t.Errorf("%+v; want failed after 3 attempts, last 503", x)
		}
	}
	if n := len(r.sim.Bookings()); n != 0 {
		t.Errorf("%d bookings made", n)
	}
}

func TestRateLimitAdaptsTo429(t *testing.T) {
	// Flabs allows 20/s; we are configured for 80/s. Every 429 makes
	// every worker wait out Retry-After (a whole second: the header counts
	// seconds), so this takes a few seconds.
	r := newRig(t, flabstest.Options{RateLimit: 20, RateBurst: 5, RetryAfter: 100 * time.Millisecond}, time.Second)
	jobs := r.admit(t, "p", 60)
	lim := submit.NewLimiter(80, 8)
	o := fast()
	o.Backoff = submit.Backoff{Min: 10 * time.Millisecond, Max: 200 * time.Millisecond}
	s := submit.New(r.client, r.ledger, lim, o)
	stop := run(t, s)
	res := s.Submit(context.Background(), jobs, nil)
	stop()
	for _, x := range res {
		if x.State != ledger.Submitted {
			t.Fatalf("%s ended %s: %s", x.IntegratorID, x.State, x.Error)
		}
	}
	assertBookedOnce(t, r.sim, jobs)
	n := lim.Throttles()
	if n == 0 {
		t.Fatalf("no 429 seen; the simulator's limit did not bite")
	}
	if n > int64(len(jobs)) {
		t.Errorf("%d 429s for %d bookings: the limiter did not slow down", n, len(jobs))
	}
	t.Logf("429s: %d for %d bookings; rate now %.1f/s", n, len(jobs), lim.Rate())
}

func TestPartnersServedInTurn(t *testing.T) {
	r := newRig(t, flabstest.Options{Latency: 2 * time.Millisecond}, time.Second)
	big := r.admit(t, "big", 400)
	small := r.admit(t, "small", 10)
	o := fast()
	o.Concurrency = 2
	s := submit.New(r.client, r.ledger, submit.NewLimiter(400, 1), o)
	var mu sync.Mutex
	var order []string
	underWay := make(chan struct{})
	var once sync.Once
	note := func(x ledger.Result) {
		mu.Lock()
		order = append(order, x.Partner)
		n := len(order)
		mu.Unlock()
		if n >= 10 {
			once.Do(func() { close(underWay) })
		}
	}
	stop := run(t, s)
	var wg sync.WaitGroup
	wg.Go(func() { s.Submit(context.Background(), big, note) })
	<-underWay // the big file is well under way: ten of its bookings are done
	s.Submit(context.Background(), small, note)
	mu.Lock()
	doneWhenSmallDone := len(order)
	mu.Unlock()
	wg.Wait()
	stop()
	// Served in turn, the 10 small bookings are done within about 20
	// requests of arriving, not after the big file's 400.
	if doneWhenSmallDone > 200 {
		t.Errorf("the small file finished after %d results: starved by the big one", doneWhenSmallDone)
	}
}

func TestAuthFailureStopsAndKeepsBookingsPending(t *testing.T) {
	r := newRig(t, flabstest.Options{ClientSecret: "other"}, time.Second)
	jobs := r.admit(t, "p", 5)
	s := submit.New(r.client, r.ledger, submit.NewLimiter(100, 5), fast())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(context.Background()) }()
	res := s.Submit(context.Background(), jobs, nil)
	if err := <-errc; !errors.Is(err, flabs.ErrAuth) {
		t.Fatalf("Run = %v, want ErrAuth", err)
	}
	for _, x := range res {
		if x.State.Final() {
			t.Errorf("%s ended %s on a credentials problem; want it left to send later", x.IntegratorID, x.State)
		}
	}
}

func TestSameIDQueuedOnce(t *testing.T) {
	r := newRig(t, flabstest.Options{Latency: 20 * time.Millisecond}, time.Second)
	jobs := r.admit(t, "p", 1)
	s := submit.New(r.client, r.ledger, submit.NewLimiter(100, 5), fast())
	stop := run(t, s)
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { s.Submit(context.Background(), jobs, nil) })
	}
	wg.Wait()
	stop()
	if n := len(r.sim.Requests()); n > 2 { // a token and one billing create
		var paths []string
		for _, q := range r.sim.Requests() {
			paths = append(paths, q.Path)
		}
		t.Errorf("%d requests for one booking submitted five times at once: %v", n, paths)
	}
	assertBookedOnce(t, r.sim, jobs)
}

// TestForbiddenRejectsOneBookingOnly: Flabs answers 403 to one booking
// (its lead_source is barred for the account). That booking is rejected
// with the 403 (not Flabs' words: they may echo the patient); the run does not stop and every other
// booking is submitted.
func TestForbiddenRejectsOneBookingOnly(t *testing.T) {
	r := newRig(t, flabstest.Options{ForbiddenLeadSources: []string{"lapsed"}}, time.Second)
	jobs := r.admit(t, "p", 6)
	jobs[2].Request.LeadSource = "lapsed"
	s := submit.New(r.client, r.ledger, submit.NewLimiter(100, 10), fast())
	errc := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { errc <- s.Run(ctx) }()
	res := s.Submit(context.Background(), jobs, nil)
	select {
	case err := <-errc:
		t.Fatalf("Run stopped on a 403 before being told to: %v", err)
	default:
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	for i, x := range res {
		if i == 2 {
			if x.State != ledger.Rejected || x.HTTPStatus != 403 || x.Attempts != 1 || !strings.Contains(x.Error, "403 Forbidden (permanent)") ||
				strings.Contains(x.Error, "forbidden for this account") {
				t.Errorf("forbidden booking: %s %d after %d attempts %q; want rejected 403, status and class only", x.State, x.HTTPStatus, x.Attempts, x.Error)
			}
			continue
		}
		if x.State != ledger.Submitted || x.PreBookingID == "" {
			t.Errorf("%s ended %s (%s); want submitted", x.IntegratorID, x.State, x.Error)
		}
	}
	st, err := r.ledger.States(context.Background(), []string{jobs[2].IntegratorID})
	if got := st[jobs[2].IntegratorID]; err != nil || got.Status != ledger.Rejected || !strings.Contains(got.Error, "403") {
		t.Errorf("ledger: %+v, %v; want rejected with the 403", got, err)
	}
	if n := len(r.sim.Bookings()); n != 5 {
		t.Errorf("Flabs holds %d bookings, want the 5 allowed", n)
	}
}

// garble replaces the body of the first billing create answer with an
// HTML page, keeping its 200: what a misbehaving proxy might hand back
// after Flabs booked.
type garble struct {
	base http.RoundTripper
	mu   sync.Mutex
	done bool
}

func (g *garble) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := g.base.RoundTrip(req)
	if err != nil || req.URL.Path != flabs.PathBillingCreate {
		return resp, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done {
		return resp, nil
	}
	g.done = true
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	resp.Header.Set("Content-Type", "text/html")
	resp.Body = io.NopCloser(strings.NewReader("<html><body>OK</body></html>"))
	resp.ContentLength = -1
	return resp, nil
}

// TestUnreadable2xxIsNeverSubmitted: Flabs books, but the 200 that comes
// back is not the documented JSON. The booking is retried as maybe
// booked; the resend meets a 409 and ends unconfirmed — never submitted
// on an answer nobody could read, and booked once.
func TestUnreadable2xxIsNeverSubmitted(t *testing.T) {
	r := newRig(t, flabstest.Options{}, time.Second)
	cl, err := flabs.NewClient(flabs.Config{BaseURL: r.sim.URL(), ClientID: flabstest.DefaultClientID,
		ClientSecret: flabstest.DefaultClientSecret, Timeout: time.Second,
		HTTPClient: &http.Client{Transport: &garble{base: r.sim.Client().Transport}}})
	if err != nil {
		t.Fatal(err)
	}
	jobs := r.admit(t, "p", 1)
	s := submit.New(cl, r.ledger, submit.NewLimiter(100, 10), fast())
	stop := run(t, s)
	res := s.Submit(context.Background(), jobs, nil)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := res[0]; got.State != ledger.Unconfirmed || !got.MaybeBooked || got.Attempts != 2 || got.HTTPStatus != 409 {
		t.Errorf("%s after %d attempts (status %d, maybe booked %v): %s; want unconfirmed after a garbled 200 and a 409",
			got.State, got.Attempts, got.HTTPStatus, got.MaybeBooked, got.Error)
	}
	assertBookedOnce(t, r.sim, jobs)
}

// TestSettledMeanwhileIsNotSentAgain: a booking another sender settled
// after this one decided to send it (the resume sweep and a re-read file
// in one process) is not sent again — a second "first attempt" would draw
// Flabs' 409 and be taken for a refusal.
func TestSettledMeanwhileIsNotSentAgain(t *testing.T) {
	r := newRig(t, flabstest.Options{}, time.Second)
	jobs := r.admit(t, "p", 2)
	s := submit.New(r.client, r.ledger, submit.NewLimiter(100, 10), fast())
	stop := run(t, s)
	if got := s.Submit(context.Background(), jobs[:1], nil); got[0].State != ledger.Submitted {
		t.Fatalf("first sender: %s", got[0].State)
	}
	before := len(r.sim.Requests())
	again := s.Submit(context.Background(), jobs[:1], nil) // the same job, decided on before the first settled
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if again[0].State != ledger.Submitted || len(r.sim.Requests()) != before {
		t.Errorf("second sender: %s after %d more requests; want submitted, none sent", again[0].State, len(r.sim.Requests())-before)
	}
}
