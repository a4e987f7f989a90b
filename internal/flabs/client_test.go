package flabs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
)

const (
	testID     = "client-under-test"
	testSecret = "s3cr3t-DO-NOT-LOG-7f1c"
)

// newSim starts a simulator with the test credentials and a fixed seed
// unless opts already set them.
func newSim(t *testing.T, opts flabstest.Options) *flabstest.Server {
	t.Helper()
	return flabstest.NewTestServer(t, simOptions(opts))
}

// newPipeSim is newSim over in-memory connections, for tests inside a
// synctest bubble, where the simulator's latency and hangs and the
// client's timeouts run on the bubble's fake clock. Use newPipeClient.
func newPipeSim(t *testing.T, opts flabstest.Options) *flabstest.Server {
	t.Helper()
	return flabstest.NewPipeServer(t, simOptions(opts))
}

func simOptions(opts flabstest.Options) flabstest.Options {
	if opts.ClientID == "" {
		opts.ClientID = testID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = testSecret
	}
	if opts.Seed == 0 {
		opts.Seed = 42
	}
	if !opts.Webhooks.Manual {
		opts.Webhooks.Manual = true // no background dispatcher in client tests
	}
	return opts
}

// newClient returns a client for sim; mod may adjust the config.
func newClient(t *testing.T, sim *flabstest.Server, mod func(*flabs.Config)) *flabs.Client {
	t.Helper()
	cfg := flabs.Config{BaseURL: sim.URL(), ClientID: testID, ClientSecret: testSecret} // default timeout: a bound, never reached
	if mod != nil {
		mod(&cfg)
	}
	c, err := flabs.NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

// newPipeClient is newClient for a simulator from newPipeSim.
func newPipeClient(t *testing.T, sim *flabstest.Server, mod func(*flabs.Config)) *flabs.Client {
	t.Helper()
	return newClient(t, sim, func(cfg *flabs.Config) {
		cfg.HTTPClient = sim.Client()
		if mod != nil {
			mod(cfg)
		}
	})
}

// validBilling returns a request the simulator accepts.
func validBilling(integratorID string) *flabs.BillingRequest {
	return &flabs.BillingRequest{
		PatientDetails: flabs.PatientDetails{FirstName: "Asha", LastName: "Rao", Gender: flabs.GenderFemale, Age: 34, AgeType: flabs.AgeYear},
		IntegratorID:   integratorID,
		LeadSource:     "api",
		MappedTests:    []flabs.MappedTest{{FlabsID: "CBC"}, {ID: "64f000000000000000000004"}},
		UnmappedTests:  []string{"Vitamin D3 (25-OH)"},
	}
}

// asError asserts err is a *flabs.Error and returns it.
func asError(t *testing.T, err error) *flabs.Error {
	t.Helper()
	if err == nil {
		t.Fatal("want an error, got nil")
	}
	var fe *flabs.Error
	if !errors.As(err, &fe) {
		t.Fatalf("want *flabs.Error, got %T: %v", err, err)
	}
	return fe
}

// countPath counts the requests the simulator received on path.
func countPath(sim *flabstest.Server, path string) int {
	n := 0
	for _, r := range sim.Requests() {
		if r.Path == path {
			n++
		}
	}
	return n
}

func TestCreateBillingSuccess(t *testing.T) {
	sim := newSim(t, flabstest.Options{})
	c := newClient(t, sim, nil)
	req := validBilling("ORD-1")
	req.BarCode = "BC-1"
	req.LabID = "6530a4a6f1d2c8b7e9a12345"
	resp, err := c.CreateBilling(context.Background(), req)
	if err != nil {
		t.Fatalf("CreateBilling: %v", err)
	}
	if resp.PreBookingID == "" || !resp.Success || resp.IntegratorID != "ORD-1" {
		t.Fatalf("response = %+v, want success with a preBookingID echoing ORD-1", resp)
	}
	bs := sim.Bookings()
	if len(bs) != 1 {
		t.Fatalf("simulator holds %d bookings, want 1", len(bs))
	}
	if bs[0].PreBookingID != resp.PreBookingID {
		t.Errorf("booking preBookingID %q, client got %q", bs[0].PreBookingID, resp.PreBookingID)
	}
	got := bs[0].Request
	if got.IntegratorID != "ORD-1" || got.LeadSource != "api" || got.BarCode != "BC-1" || got.LabID != req.LabID ||
		got.PatientDetails != req.PatientDetails || len(got.MappedTests) != 2 || got.MappedTests[0] != req.MappedTests[0] ||
		got.MappedTests[1] != req.MappedTests[1] || len(got.UnmappedTests) != 1 || got.UnmappedTests[0] != req.UnmappedTests[0] {
		t.Errorf("booked request = %+v, want the sent fields %+v", got, *req)
	}
	if n := countPath(sim, flabs.PathToken); n != 1 {
		t.Errorf("logins = %d, want 1", n)
	}
}

// fakeClock is a settable clock shared by the simulator and the client.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 1, 20, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestTokenLoginSendsClientCredentials(t *testing.T) {
	sim := newSim(t, flabstest.Options{})
	c := newClient(t, sim, nil)
	ctx := context.Background()
	for i := range 3 {
		if _, err := c.Labs(ctx); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if n := countPath(sim, flabs.PathToken); n != 1 {
		t.Errorf("logins = %d, want 1 (the token is cached)", n)
	}
	if n := countPath(sim, flabs.PathTokenRefresh); n != 0 {
		t.Errorf("refreshes = %d, want 0", n)
	}
}

func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	clk := newFakeClock()
	sim := newSim(t, flabstest.Options{Now: clk.Now, TokenTTL: 600 * time.Second})
	c := newClient(t, sim, func(cfg *flabs.Config) { cfg.Now = clk.Now })
	ctx := context.Background()
	if _, err := c.Labs(ctx); err != nil {
		t.Fatal(err)
	}
	// Still well inside the lifetime: no refresh.
	clk.Add(5 * time.Minute)
	if _, err := c.Labs(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countPath(sim, flabs.PathTokenRefresh); n != 0 {
		t.Fatalf("refreshed after 5 min of a 10 min token; refreshes = %d", n)
	}
	// 9m30s in: the token is still valid on the server, but inside the
	// client's refresh margin, so the client must refresh before using it.
	clk.Add(4*time.Minute + 30*time.Second)
	if _, err := c.Labs(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countPath(sim, flabs.PathTokenRefresh); n != 1 {
		t.Errorf("refreshes = %d, want 1", n)
	}
	if n := countPath(sim, flabs.PathToken); n != 1 {
		t.Errorf("logins = %d, want 1 (refresh, not a new login)", n)
	}
	for _, r := range sim.Requests() {
		if r.Status == 401 {
			t.Errorf("request %s %s got 401: the client should refresh before the token runs out", r.Method, r.Path)
		}
	}
	// Well past the refreshed token's life: refresh again (rotated refresh token works).
	clk.Add(20 * time.Minute)
	if _, err := c.Labs(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countPath(sim, flabs.PathTokenRefresh); n != 2 {
		t.Errorf("refreshes = %d, want 2", n)
	}
	if n := countPath(sim, flabs.PathToken); n != 1 {
		t.Errorf("logins = %d, want 1", n)
	}
}

func TestTokenServerExpiry401RefreshesOnce(t *testing.T) {
	sim := newSim(t, flabstest.Options{})
	c := newClient(t, sim, nil)
	ctx := context.Background()
	if _, err := c.CreateBilling(ctx, validBilling("ORD-A")); err != nil {
		t.Fatal(err)
	}
	sim.ExpireTokens()
	resp, err := c.CreateBilling(ctx, validBilling("ORD-B"))
	if err != nil {
		t.Fatalf("CreateBilling after server-side expiry: %v", err)
	}
	if resp.PreBookingID == "" {
		t.Fatal("no preBookingID")
	}
	if n := countPath(sim, flabs.PathTokenRefresh); n != 1 {
		t.Errorf("refreshes = %d, want exactly 1", n)
	}
	if n := countPath(sim, flabs.PathToken); n != 1 {
		t.Errorf("logins = %d, want 1", n)
	}
	if n := len(sim.BookingsFor("ORD-B")); n != 1 {
		t.Errorf("ORD-B booked %d times, want 1", n)
	}
	var got []int
	for _, r := range sim.Requests() {
		if r.Path == flabs.PathBillingCreate {
			got = append(got, r.Status)
		}
	}
	if want := []int{200, 401, 200}; !slices.Equal(got, want) {
		t.Errorf("billing statuses = %v, want %v", got, want)
	}
}

func TestTokenRevokedRefreshFallsBackToLogin(t *testing.T) {
	clk := newFakeClock()
	sim := newSim(t, flabstest.Options{Now: clk.Now})
	c := newClient(t, sim, func(cfg *flabs.Config) { cfg.Now = clk.Now })
	ctx := context.Background()
	if _, err := c.Labs(ctx); err != nil {
		t.Fatal(err)
	}
	sim.RevokeRefreshTokens()
	clk.Add(11 * time.Minute) // auth token expired too
	if _, err := c.Labs(ctx); err != nil {
		t.Fatalf("Labs after revoked refresh token: %v", err)
	}
	var seq []string
	for _, r := range sim.Requests() {
		if r.Path == flabs.PathToken || r.Path == flabs.PathTokenRefresh {
			seq = append(seq, fmt.Sprintf("%s=%d", r.Path, r.Status))
		}
	}
	want := []string{flabs.PathToken + "=200", flabs.PathTokenRefresh + "=401", flabs.PathToken + "=200"}
	if strings.Join(seq, " ") != strings.Join(want, " ") {
		t.Errorf("token calls = %v, want %v", seq, want)
	}
}

func TestTokenWrongSecretIsAuthError(t *testing.T) {
	sim := newSim(t, flabstest.Options{})
	c := newClient(t, sim, func(cfg *flabs.Config) { cfg.ClientSecret = "wrong" })
	_, err := c.CreateBilling(context.Background(), validBilling("ORD-X"))
	fe := asError(t, err)
	if fe.Class != flabs.ClassAuth || fe.Status != 401 {
		t.Errorf("error = %v (class %v, status %d), want ClassAuth 401", err, fe.Class, fe.Status)
	}
	if flabs.IsRetryable(err) {
		t.Error("a refused secret must not be retryable")
	}
	if n := len(sim.Bookings()); n != 0 {
		t.Errorf("bookings = %d, want 0", n)
	}
	if n := countPath(sim, flabs.PathBillingCreate); n != 0 {
		t.Errorf("billing create was sent %d times without a token", n)
	}
}

func TestRateLimited429IsRetryableWithRetryAfter(t *testing.T) {
	// Burst 1 at a negligible rate: the first API call passes, the second
	// is refused with 429 and Retry-After: 3.
	sim := newSim(t, flabstest.Options{RateLimit: 0.001, RateBurst: 1, RetryAfter: 3 * time.Second})
	c := newClient(t, sim, nil)
	ctx := context.Background()
	if _, err := c.CreateBilling(ctx, validBilling("ORD-1")); err != nil {
		t.Fatalf("first call: %v", err)
	}
	_, err := c.CreateBilling(ctx, validBilling("ORD-2"))
	fe := asError(t, err)
	if fe.Status != 429 || fe.Class != flabs.ClassRetryable || !flabs.IsRetryable(err) {
		t.Errorf("error = %v (class %v), want retryable 429", err, fe.Class)
	}
	if fe.RetryAfter != 3*time.Second {
		t.Errorf("RetryAfter = %v, want 3s", fe.RetryAfter)
	}
	if n := len(sim.BookingsFor("ORD-2")); n != 0 {
		t.Errorf("rate-limited request was booked %d times", n)
	}
}

// The faults are answered at once, except the hang, which the client
// gives up on after exactly its timeout (the bubble's fake clock).
func TestTransportFaultsAreRetryable(t *testing.T) {
	const timeout = 200 * time.Millisecond
	tests := []struct {
		name       string
		opts       flabstest.Options
		wantStatus int
		wantBooked int
		wantTook   time.Duration
	}{
		{"503", flabstest.Options{FailRate: 1}, 503, 0, 0},
		{"dropped connection", flabstest.Options{DropRate: 1}, 0, 0, 0},
		{"timeout", flabstest.Options{TimeoutRate: 1, HangFor: time.Minute}, 0, 1, timeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sim := newPipeSim(t, tt.opts)
				c := newPipeClient(t, sim, func(cfg *flabs.Config) { cfg.Timeout = timeout })
				start := time.Now()
				resp, err := c.CreateBilling(context.Background(), validBilling("ORD-F"))
				took := time.Since(start)
				if resp != nil {
					t.Errorf("got a response %+v on a fault", resp)
				}
				fe := asError(t, err)
				if fe.Class != flabs.ClassRetryable || !flabs.IsRetryable(err) {
					t.Errorf("error = %v, class %v, want retryable", err, fe.Class)
				}
				if fe.Status != tt.wantStatus {
					t.Errorf("Status = %d, want %d", fe.Status, tt.wantStatus)
				}
				if took != tt.wantTook {
					t.Errorf("call took %v, want %v (client timeout %v)", took, tt.wantTook, timeout)
				}
				if n := len(sim.BookingsFor("ORD-F")); n != tt.wantBooked {
					t.Errorf("booked %d times, want %d", n, tt.wantBooked)
				}
			})
		})
	}
}

func TestTimeoutAfterBookingThenResendIsDuplicate(t *testing.T) {
	// The simulator books first and then hangs. With TimeoutRate 0.5 the
	// fault decision is seeded per (integrator_id, attempt); look for an
	// id whose first attempt hangs and whose resend is answered. Same seed,
	// same id every run. In a synctest bubble only the hung attempts reach
	// the 150 ms timeout, however slow the machine.
	synctest.Test(t, testTimeoutAfterBookingThenResendIsDuplicate)
}

func testTimeoutAfterBookingThenResendIsDuplicate(t *testing.T) {
	sim := newPipeSim(t, flabstest.Options{TimeoutRate: 0.5, HangFor: time.Minute, Seed: 7})
	c := newPipeClient(t, sim, func(cfg *flabs.Config) { cfg.Timeout = 150 * time.Millisecond })
	ctx := context.Background()
	for i := range 20 {
		id := fmt.Sprintf("ORD-T-%d", i)
		_, err := c.CreateBilling(ctx, validBilling(id))
		if err == nil {
			continue // first attempt answered; not the case we want
		}
		fe := asError(t, err)
		if fe.Class != flabs.ClassRetryable || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: first attempt error = %v (class %v), want retryable timeout", id, err, fe.Class)
		}
		if n := len(sim.BookingsFor(id)); n != 1 {
			t.Fatalf("%s: booked %d times after the timeout, want 1 (booked, answer lost)", id, n)
		}
		_, err = c.CreateBilling(ctx, validBilling(id))
		if flabs.IsRetryable(err) {
			continue // the resend hung as well; try the next id
		}
		fe = asError(t, err)
		if fe.Status != 409 || fe.Class != flabs.ClassDuplicate || !flabs.IsDuplicate(err) {
			t.Fatalf("%s: resend error = %v (class %v), want 409 conflict", id, err, fe.Class)
		}
		if n := len(sim.BookingsFor(id)); n != 1 {
			t.Errorf("%s: booked %d times after the resend, want 1", id, n)
		}
		if d := sim.DoubleBooked(); len(d) != 0 {
			t.Errorf("DoubleBooked = %v, want none", d)
		}
		return
	}
	t.Fatal("no integrator id with a hung first attempt and an answered resend in 20 tries")
}

// A call the simulator hangs on returns as soon as its context is
// cancelled: no time passes on the bubble's clock between the two.
func TestContextCancelReturnsPromptly(t *testing.T) {
	synctest.Test(t, testContextCancelReturnsPromptly)
}

func testContextCancelReturnsPromptly(t *testing.T) {
	sim := newPipeSim(t, flabstest.Options{TimeoutRate: 1, HangFor: time.Minute})
	c := newPipeClient(t, sim, func(cfg *flabs.Config) { cfg.Timeout = 30 * time.Second })
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.CreateBilling(ctx, validBilling("ORD-C"))
		errc <- err
	}()
	synctest.Wait() // logged in, and the simulator is holding the billing call
	if n := sim.Stats().TimedOut.Load(); n != 1 {
		t.Fatalf("simulator hanging on %d calls, want 1", n)
	}
	start := time.Now()
	cancel()
	err := <-errc
	if el := time.Since(start); el != 0 {
		t.Errorf("CreateBilling returned %v after cancel, want at once", el)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want it to wrap context.Canceled", err)
	}
	if flabs.IsRetryable(err) {
		t.Error("a cancelled call must not be reported as retryable")
	}

	// Already cancelled before the call: no request at all.
	_, err = c.CreateBilling(ctx, validBilling("ORD-C2"))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("pre-cancelled: error = %v, want context.Canceled", err)
	}
	if n := len(sim.BookingsFor("ORD-C2")); n != 0 {
		t.Errorf("pre-cancelled call was booked %d times", n)
	}
}

// bodyRewriter is a RoundTripper that lets a test change the JSON body of
// billing create requests on their way out, to send what the typed
// BillingRequest cannot express (a missing age, an age as a string...).
type bodyRewriter struct {
	rewrite func(body map[string]any)
	next    http.RoundTripper
}

func (b *bodyRewriter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path != flabs.PathBillingCreate || r.Body == nil {
		return b.next.RoundTrip(r)
	}
	raw, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	b.rewrite(m)
	out, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(out))
	r2.ContentLength = int64(len(out))
	r2.GetBody = nil
	return b.next.RoundTrip(r2)
}

func withRewrite(rw func(map[string]any)) func(*flabs.Config) {
	return func(cfg *flabs.Config) {
		cfg.HTTPClient = &http.Client{Transport: &bodyRewriter{rewrite: rw, next: http.DefaultTransport}}
	}
}

func patient(m map[string]any) map[string]any { return m["patient_details"].(map[string]any) }

func TestCreateBillingValidationRejected(t *testing.T) {
	type mod = func(*flabs.BillingRequest)
	type raw = func(map[string]any)
	tests := []struct {
		name      string
		opts      flabstest.Options
		mod       mod // change the typed request
		raw       raw // or the JSON on the wire
		wantField string
	}{
		// patient_details block
		{name: "patient_details missing", raw: func(m map[string]any) { delete(m, "patient_details") }, wantField: "patient_details"},
		{name: "patient_details null", raw: func(m map[string]any) { m["patient_details"] = nil }, wantField: "patient_details"},
		{name: "patient_details not an object", raw: func(m map[string]any) { m["patient_details"] = "Asha Rao" }, wantField: "patient_details"},
		{name: "first_name missing", raw: func(m map[string]any) { delete(patient(m), "first_name") }, wantField: "patient_details.first_name"},
		{name: "first_name empty", mod: func(r *flabs.BillingRequest) { r.PatientDetails.FirstName = "" }, wantField: "patient_details.first_name"},
		{name: "first_name blank", mod: func(r *flabs.BillingRequest) { r.PatientDetails.FirstName = "   " }, wantField: "patient_details.first_name"},
		{name: "first_name not a string", raw: func(m map[string]any) { patient(m)["first_name"] = 7 }, wantField: "patient_details.first_name"},
		{name: "last_name not a string", raw: func(m map[string]any) { patient(m)["last_name"] = 7 }, wantField: "patient_details.last_name"},
		{name: "gender missing", raw: func(m map[string]any) { delete(patient(m), "gender") }, wantField: "patient_details.gender"},
		{name: "gender empty", mod: func(r *flabs.BillingRequest) { r.PatientDetails.Gender = "" }, wantField: "patient_details.gender"},
		{name: "gender not in enum", mod: func(r *flabs.BillingRequest) { r.PatientDetails.Gender = "F" }, wantField: "patient_details.gender"},
		{name: "gender wrong case", mod: func(r *flabs.BillingRequest) { r.PatientDetails.Gender = "Female" }, wantField: "patient_details.gender"},
		{name: "age missing", raw: func(m map[string]any) { delete(patient(m), "age") }, wantField: "patient_details.age"},
		{name: "age null", raw: func(m map[string]any) { patient(m)["age"] = nil }, wantField: "patient_details.age"},
		{name: "age as string", raw: func(m map[string]any) { patient(m)["age"] = "34" }, wantField: "patient_details.age"},
		{name: "age fractional", raw: func(m map[string]any) { patient(m)["age"] = 34.5 }, wantField: "patient_details.age"},
		{name: "age negative", mod: func(r *flabs.BillingRequest) { r.PatientDetails.Age = -1 }, wantField: "patient_details.age"},
		{name: "age_type missing", raw: func(m map[string]any) { delete(patient(m), "age_type") }, wantField: "patient_details.age_type"},
		{name: "age_type empty", mod: func(r *flabs.BillingRequest) { r.PatientDetails.AgeType = "" }, wantField: "patient_details.age_type"},
		{name: "age_type not in enum", mod: func(r *flabs.BillingRequest) { r.PatientDetails.AgeType = "years" }, wantField: "patient_details.age_type"},
		// top-level required fields
		{name: "integrator_id missing", raw: func(m map[string]any) { delete(m, "integrator_id") }, wantField: "integrator_id"},
		{name: "integrator_id empty", mod: func(r *flabs.BillingRequest) { r.IntegratorID = "" }, wantField: "integrator_id"},
		{name: "integrator_id not a string", raw: func(m map[string]any) { m["integrator_id"] = 123 }, wantField: "integrator_id"},
		{name: "lead_source missing", raw: func(m map[string]any) { delete(m, "lead_source") }, wantField: "lead_source"},
		{name: "lead_source empty", mod: func(r *flabs.BillingRequest) { r.LeadSource = "" }, wantField: "lead_source"},
		{name: "lead_source not issued to the account", opts: flabstest.Options{LeadSources: []string{"website"}},
			mod: func(r *flabs.BillingRequest) { r.LeadSource = "api" }, wantField: "lead_source"},
		// lab
		{name: "labID unknown", mod: func(r *flabs.BillingRequest) { r.LabID = "000000000000000000000000" }, wantField: "labID"},
		{name: "labID required", opts: flabstest.Options{RequireLabID: true}, wantField: "labID"},
		{name: "labID not a string", raw: func(m map[string]any) { m["labID"] = 5 }, wantField: "labID"},
		{name: "barCode not a string", raw: func(m map[string]any) { m["barCode"] = 5 }, wantField: "barCode"},
		// test / package lists
		{name: "no test or package list", mod: func(r *flabs.BillingRequest) { r.MappedTests, r.UnmappedTests = nil, nil }, wantField: "mapped_tests"},
		{name: "all lists empty", raw: func(m map[string]any) {
			for _, k := range []string{"mapped_tests", "unmapped_tests", "mapped_packages", "unmapped_packages", "unmapped_packages_with_tests"} {
				m[k] = []any{}
			}
		}, wantField: "at least one of"},
		{name: "mapped_tests item without a key", mod: func(r *flabs.BillingRequest) { r.MappedTests = []flabs.MappedTest{{}} }, wantField: "mapped_tests[0]"},
		{name: "mapped_tests item with both keys", mod: func(r *flabs.BillingRequest) {
			r.MappedTests = []flabs.MappedTest{{FlabsID: "CBC", ID: "64f000000000000000000001"}}
		}, wantField: "mapped_tests[0]"},
		{name: "mapped_tests unknown id", mod: func(r *flabs.BillingRequest) { r.MappedTests = []flabs.MappedTest{{ID: "ffffffffffffffffffffffff"}} }, wantField: "mapped_tests[0].id"},
		{name: "mapped_tests unknown flabs_id", mod: func(r *flabs.BillingRequest) { r.MappedTests = []flabs.MappedTest{{FlabsID: "NOPE"}} }, wantField: "mapped_tests[0].flabs_id"},
		{name: "mapped_tests wrong shape", raw: func(m map[string]any) { m["mapped_tests"] = []any{"CBC"} }, wantField: "mapped_tests"},
		{name: "unmapped_tests wrong shape", raw: func(m map[string]any) { m["unmapped_tests"] = []any{map[string]any{"name": "x"}} }, wantField: "unmapped_tests"},
		{name: "unmapped_tests empty name", mod: func(r *flabs.BillingRequest) { r.UnmappedTests = []string{"Vitamin D", " "} }, wantField: "unmapped_tests[1]"},
		{name: "mapped_packages empty id", mod: func(r *flabs.BillingRequest) { r.MappedPackages = []flabs.MappedPackage{{}} }, wantField: "mapped_packages[0].id"},
		{name: "mapped_packages unknown id", mod: func(r *flabs.BillingRequest) {
			r.MappedPackages = []flabs.MappedPackage{{ID: "ffffffffffffffffffffffff"}}
		}, wantField: "mapped_packages[0].id"},
		{name: "unmapped_packages empty name", mod: func(r *flabs.BillingRequest) { r.UnmappedPackages = []string{""} }, wantField: "unmapped_packages[0]"},
		{name: "unmapped_packages_with_tests no package_name", mod: func(r *flabs.BillingRequest) {
			r.UnmappedPackagesWithTests = []flabs.UnmappedPackageWithTests{{Tests: []string{"TSH"}}}
		}, wantField: "unmapped_packages_with_tests[0].package_name"},
		{name: "unmapped_packages_with_tests wrong shape", raw: func(m map[string]any) { m["unmapped_packages_with_tests"] = []any{"Thyroid"} }, wantField: "unmapped_packages_with_tests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := newSim(t, tt.opts)
			var opt func(*flabs.Config)
			if tt.raw != nil {
				opt = withRewrite(tt.raw)
			}
			c := newClient(t, sim, opt)
			req := validBilling("ORD-V")
			if tt.mod != nil {
				tt.mod(req)
			}
			resp, err := c.CreateBilling(context.Background(), req)
			if resp != nil {
				t.Errorf("got response %+v for an invalid request", resp)
			}
			fe := asError(t, err)
			if fe.Status != 400 || fe.Class != flabs.ClassPermanent || flabs.IsRetryable(err) {
				t.Errorf("error = %v (status %d, class %v), want 400 permanent", err, fe.Status, fe.Class)
			}
			if m := lastMessage(sim); !strings.Contains(m, tt.wantField) {
				t.Errorf("simulator's message = %q, want it to name %q", m, tt.wantField)
			}
			assertNoFlabsWords(t, fe)
			if n := len(sim.Bookings()); n != 0 {
				t.Errorf("an invalid request was booked (%d bookings)", n)
			}
		})
	}
}

func TestCreateBillingDuplicateBarcode(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		wantStatus int
		wantClass  flabs.Class
	}{
		{"default 400", 0, 400, flabs.ClassPermanent},
		{"configured 409", 409, 409, flabs.ClassDuplicate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := newSim(t, flabstest.Options{BarcodeConflictStatus: tt.status})
			c := newClient(t, sim, nil)
			ctx := context.Background()
			first := validBilling("ORD-B1")
			first.BarCode = "BC-DUP"
			if _, err := c.CreateBilling(ctx, first); err != nil {
				t.Fatal(err)
			}
			second := validBilling("ORD-B2")
			second.BarCode = "BC-DUP"
			_, err := c.CreateBilling(ctx, second)
			fe := asError(t, err)
			if fe.Status != tt.wantStatus || fe.Class != tt.wantClass {
				t.Errorf("error = %v (class %v), want %d %v", err, fe.Class, tt.wantStatus, tt.wantClass)
			}
			if m := lastMessage(sim); !strings.Contains(m, "barCode") {
				t.Errorf("simulator's message = %q, want it to name barCode", m)
			}
			assertNoFlabsWords(t, fe)
			if n := len(sim.BookingsFor("ORD-B2")); n != 0 {
				t.Errorf("second barcode user booked %d times", n)
			}
		})
	}
}

func TestCreateBillingAcceptedVariants(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*flabs.BillingRequest)
		raw  func(map[string]any)
	}{
		{name: "only mapped_tests", mod: func(r *flabs.BillingRequest) { r.UnmappedTests = nil }},
		{name: "only unmapped_tests", mod: func(r *flabs.BillingRequest) { r.MappedTests = nil }},
		{name: "only mapped_packages", mod: func(r *flabs.BillingRequest) {
			r.MappedTests, r.UnmappedTests = nil, nil
			r.MappedPackages = []flabs.MappedPackage{{ID: "65a000000000000000000001"}}
		}},
		{name: "only unmapped_packages", mod: func(r *flabs.BillingRequest) {
			r.MappedTests, r.UnmappedTests = nil, nil
			r.UnmappedPackages = []string{"Wellness Basic"}
		}},
		{name: "only unmapped_packages_with_tests", mod: func(r *flabs.BillingRequest) {
			r.MappedTests, r.UnmappedTests = nil, nil
			r.UnmappedPackagesWithTests = []flabs.UnmappedPackageWithTests{{PackageName: "Thyroid Panel", Tests: []string{"TSH", "Free T4"}}}
		}},
		{name: "gender other, age in days, age 0", mod: func(r *flabs.BillingRequest) {
			r.PatientDetails.Gender, r.PatientDetails.AgeType, r.PatientDetails.Age = flabs.GenderOther, flabs.AgeDay, 0
		}},
		{name: "age in months, no last name", mod: func(r *flabs.BillingRequest) {
			r.PatientDetails.Gender, r.PatientDetails.AgeType, r.PatientDetails.LastName = flabs.GenderMale, flabs.AgeMonth, ""
		}},
		{name: "unknown extra fields ignored", raw: func(m map[string]any) { m["contact"] = "9999999999"; patient(m)["dob"] = "1990-01-01" }},
		{name: "age as integral float", raw: func(m map[string]any) { patient(m)["age"] = 34.0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := newSim(t, flabstest.Options{})
			var opt func(*flabs.Config)
			if tt.raw != nil {
				opt = withRewrite(tt.raw)
			}
			c := newClient(t, sim, opt)
			req := validBilling("ORD-OK")
			if tt.mod != nil {
				tt.mod(req)
			}
			resp, err := c.CreateBilling(context.Background(), req)
			if err != nil {
				t.Fatalf("CreateBilling: %v", err)
			}
			if resp.PreBookingID == "" {
				t.Error("no preBookingID")
			}
			if n := len(sim.BookingsFor("ORD-OK")); n != 1 {
				t.Errorf("booked %d times, want 1", n)
			}
		})
	}
}

func TestErrorStyles(t *testing.T) {
	badGender := func(r *flabs.BillingRequest) { r.PatientDetails.Gender = "F" }
	tests := []struct {
		name       string
		style      flabstest.ErrorStyle
		opts       flabstest.Options
		mod        func(*flabs.BillingRequest)
		wantStatus int
		wantClass  flabs.Class
		wantMsg    string
	}{
		{"json 400", flabstest.ErrorJSON, flabstest.Options{}, badGender, 400, flabs.ClassPermanent, "patient_details.gender must be one of male, female, other"},
		{"text 400", flabstest.ErrorText, flabstest.Options{}, badGender, 400, flabs.ClassPermanent, "patient_details.gender must be one of male, female, other"},
		{"ok-false 200", flabstest.ErrorOKFalse, flabstest.Options{}, badGender, 200, flabs.ClassPermanent, "patient_details.gender must be one of male, female, other"},
		{"json 503", flabstest.ErrorJSON, flabstest.Options{FailRate: 1}, nil, 503, flabs.ClassRetryable, "Service temporarily unavailable"},
		{"text 503", flabstest.ErrorText, flabstest.Options{FailRate: 1}, nil, 503, flabs.ClassRetryable, "Service temporarily unavailable"},
		{"ok-false 503 stays 503", flabstest.ErrorOKFalse, flabstest.Options{FailRate: 1}, nil, 503, flabs.ClassRetryable, "Service temporarily unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.ErrorStyle = tt.style
			sim := newSim(t, opts)
			c := newClient(t, sim, nil)
			req := validBilling("ORD-E")
			if tt.mod != nil {
				tt.mod(req)
			}
			resp, err := c.CreateBilling(context.Background(), req)
			if resp != nil {
				t.Errorf("success:false / error answer returned as a success: %+v", resp)
			}
			fe := asError(t, err)
			if fe.Status != tt.wantStatus || fe.Class != tt.wantClass {
				t.Errorf("error = %v (status %d, class %v), want %d %v", err, fe.Status, fe.Class, tt.wantStatus, tt.wantClass)
			}
			if m := lastMessage(sim); !strings.HasPrefix(m, tt.wantMsg) {
				t.Errorf("simulator's message = %q, want %q", m, tt.wantMsg)
			}
			assertNoFlabsWords(t, fe)
			if n := len(sim.Bookings()); n != 0 {
				t.Errorf("bookings = %d, want 0", n)
			}
		})
	}
}

func TestDuplicateIntegratorID(t *testing.T) {
	tests := []struct {
		mode         flabstest.DuplicateMode
		wantErr      bool
		wantSamePre  bool
		wantBookings int
	}{
		{flabstest.DuplicateReject, true, false, 1},
		{flabstest.DuplicateReplay, false, true, 1},
		{flabstest.DuplicateAccept, false, false, 2},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			sim := newSim(t, flabstest.Options{Duplicate: tt.mode})
			c := newClient(t, sim, nil)
			ctx := context.Background()
			first, err := c.CreateBilling(ctx, validBilling("ORD-D"))
			if err != nil {
				t.Fatal(err)
			}
			second, err := c.CreateBilling(ctx, validBilling("ORD-D"))
			if tt.wantErr {
				fe := asError(t, err)
				if fe.Status != 409 || !flabs.IsDuplicate(err) || flabs.IsRetryable(err) {
					t.Errorf("error = %v (class %v), want 409 ClassDuplicate", err, fe.Class)
				}
				if m := lastMessage(sim); !strings.Contains(m, "integrator_id") {
					t.Errorf("simulator's message = %q, want it to name integrator_id", m)
				}
				assertNoFlabsWords(t, fe)
			} else {
				if err != nil {
					t.Fatalf("resend: %v", err)
				}
				if same := second.PreBookingID == first.PreBookingID; same != tt.wantSamePre {
					t.Errorf("resend preBookingID %q vs first %q: same=%v, want %v", second.PreBookingID, first.PreBookingID, same, tt.wantSamePre)
				}
				if second.IntegratorID != "ORD-D" {
					t.Errorf("resend echoes integrator_id %q", second.IntegratorID)
				}
			}
			if n := len(sim.BookingsFor("ORD-D")); n != tt.wantBookings {
				t.Errorf("bookings for ORD-D = %d, want %d", n, tt.wantBookings)
			}
			if n := sim.Stats().Duplicates.Load(); n != 1 {
				t.Errorf("Stats.Duplicates = %d, want 1", n)
			}
			// Reject and replay keep one booking per integrator_id; accept is
			// the documented double-booking mode, which DoubleBooked reports.
			dbl := sim.DoubleBooked()
			if tt.wantBookings == 1 && len(dbl) != 0 {
				t.Errorf("DoubleBooked = %v, want none", dbl)
			}
			if tt.wantBookings == 2 && !slices.Equal(dbl, []string{"ORD-D"}) {
				t.Errorf("DoubleBooked = %v, want [ORD-D]", dbl)
			}
		})
	}
}

func TestSubscribeRules(t *testing.T) {
	const lab = "6530a4a6f1d2c8b7e9a12345"
	ok := func() *flabs.SubscribeRequest {
		return &flabs.SubscribeRequest{LabID: lab, Events: flabs.BillEvents, Endpoint: "https://hooks.example.test/flabs"}
	}
	tests := []struct {
		name       string
		opts       flabstest.Options
		mod        func(*flabs.SubscribeRequest)
		wantStatus int    // 0 = success
		wantMsg    string // substring
	}{
		{name: "https endpoint, protocol defaulted", mod: func(r *flabs.SubscribeRequest) {}},
		{name: "old-docs authToken and no labID", mod: func(r *flabs.SubscribeRequest) { r.LabID = ""; r.AuthToken = "tok" }},
		{name: "CRM events", mod: func(r *flabs.SubscribeRequest) {
			r.Events = []string{flabs.EventLeadCreated, flabs.EventBookingCreated}
		}},
		{name: "http endpoint refused", mod: func(r *flabs.SubscribeRequest) { r.Endpoint = "http://hooks.example.test/flabs" }, wantStatus: 400, wantMsg: "endpoint"},
		{name: "http endpoint allowed for demos", opts: flabstest.Options{AllowHTTPWebhooks: true}, mod: func(r *flabs.SubscribeRequest) { r.Endpoint = "http://127.0.0.1:9/flabs" }},
		{name: "endpoint not a URL", mod: func(r *flabs.SubscribeRequest) { r.Endpoint = "hooks.example.test" }, wantStatus: 400, wantMsg: "endpoint"},
		{name: "endpoint missing", mod: func(r *flabs.SubscribeRequest) { r.Endpoint = "" }, wantStatus: 400, wantMsg: "endpoint"},
		{name: "protocol http", mod: func(r *flabs.SubscribeRequest) { r.Protocol = "http" }, wantStatus: 400, wantMsg: "protocol"},
		{name: "no events", mod: func(r *flabs.SubscribeRequest) { r.Events = nil }, wantStatus: 400, wantMsg: "events"},
		{name: "unknown event", mod: func(r *flabs.SubscribeRequest) { r.Events = []string{flabs.EventBillCreated, "bill.updated"} }, wantStatus: 400, wantMsg: "events[1]"},
		{name: "unknown labID", mod: func(r *flabs.SubscribeRequest) { r.LabID = "000000000000000000000000" }, wantStatus: 400, wantMsg: "labID"},
		{name: "labID required", opts: flabstest.Options{RequireLabID: true}, mod: func(r *flabs.SubscribeRequest) { r.LabID = "" }, wantStatus: 400, wantMsg: "labID"},
		{name: "catch-all with party", mod: func(r *flabs.SubscribeRequest) { r.CorporateUser = "corp1" }, wantStatus: 400, wantMsg: "party-scoped"},
		{name: "party-scoped without party", opts: flabstest.Options{PartyScoped: true}, mod: func(r *flabs.SubscribeRequest) {}, wantStatus: 400, wantMsg: "corporateUser or organization"},
		{name: "party-scoped with both parties", opts: flabstest.Options{PartyScoped: true}, mod: func(r *flabs.SubscribeRequest) {
			r.CorporateUser, r.Organization = "corp1", "org1"
		}, wantStatus: 400, wantMsg: "not both"},
		{name: "party-scoped with one party", opts: flabstest.Options{PartyScoped: true}, mod: func(r *flabs.SubscribeRequest) { r.Organization = "org1" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := newSim(t, tt.opts)
			c := newClient(t, sim, nil)
			req := ok()
			tt.mod(req)
			err := c.Subscribe(context.Background(), req)
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("Subscribe: %v", err)
				}
				subs := sim.Subscriptions()
				if len(subs) != 1 || subs[0].Endpoint != req.Endpoint || !slices.Equal(subs[0].Events, req.Events) {
					t.Errorf("subscriptions = %+v, want one for %s", subs, req.Endpoint)
				}
				return
			}
			fe := asError(t, err)
			if fe.Status != tt.wantStatus || fe.Class != flabs.ClassPermanent {
				t.Errorf("error = %v (class %v), want %d permanent", err, fe.Class, tt.wantStatus)
			}
			if !strings.Contains(fe.Message, tt.wantMsg) {
				t.Errorf("Message = %q, want it to mention %q", fe.Message, tt.wantMsg)
			}
			if n := len(sim.Subscriptions()); n != 0 {
				t.Errorf("a refused subscription was stored (%d)", n)
			}
		})
	}
}

func TestSubscribeDuplicates(t *testing.T) {
	ctx := context.Background()
	t.Run("catch-all resubscribe replaces endpoint", func(t *testing.T) {
		sim := newSim(t, flabstest.Options{})
		c := newClient(t, sim, nil)
		for _, ep := range []string{"https://a.example.test/h", "https://b.example.test/h"} {
			if err := c.Subscribe(ctx, &flabs.SubscribeRequest{Events: flabs.BillEvents, Endpoint: ep}); err != nil {
				t.Fatal(err)
			}
		}
		subs := sim.Subscriptions()
		if len(subs) != 1 || subs[0].Endpoint != "https://b.example.test/h" {
			t.Errorf("subscriptions = %+v, want only the newest endpoint", subs)
		}
	})
	t.Run("party-scoped same party and event is 409", func(t *testing.T) {
		sim := newSim(t, flabstest.Options{PartyScoped: true})
		c := newClient(t, sim, nil)
		req := &flabs.SubscribeRequest{Events: []string{flabs.EventBillCompleted}, Endpoint: "https://a.example.test/h", CorporateUser: "corp1"}
		if err := c.Subscribe(ctx, req); err != nil {
			t.Fatal(err)
		}
		err := c.Subscribe(ctx, req)
		fe := asError(t, err)
		if fe.Status != 409 || !flabs.IsDuplicate(err) {
			t.Errorf("error = %v, want 409 conflict", err)
		}
		// Another party may subscribe to the same event.
		other := *req
		other.CorporateUser = "corp2"
		if err := c.Subscribe(ctx, &other); err != nil {
			t.Errorf("other party: %v", err)
		}
	})
}

func TestCatalogueFromSimulator(t *testing.T) {
	sim := newSim(t, flabstest.Options{})
	c := newClient(t, sim, nil)
	ctx := context.Background()
	labs, err := c.Labs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(labs) != 1 || labs[0].ID != "6530a4a6f1d2c8b7e9a12345" || labs[0].Name != "Main Lab" {
		t.Errorf("labs = %+v", labs)
	}
	tests, err := c.Tests(ctx, labs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	want := flabstest.DefaultTests()
	if len(tests) != len(want) {
		t.Fatalf("got %d tests, want %d", len(tests), len(want))
	}
	for i := range want {
		if g := tests[i]; g.ID != want[i].ID || g.Code != want[i].Code || g.Name != want[i].Name || g.Cost != want[i].Cost {
			t.Errorf("test %d = %+v, want %+v", i, g, want[i])
		}
	}
	pkgs, err := c.Packages(ctx, labs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	wantP := flabstest.DefaultPackages()
	if len(pkgs) != len(wantP) {
		t.Fatalf("got %d packages, want %d", len(pkgs), len(wantP))
	}
	for i := range wantP {
		if g := pkgs[i]; g.ID != wantP[i].ID || g.Name != wantP[i].Name || g.Cost != wantP[i].Cost {
			t.Errorf("package %d = %+v, want %+v (price from \"total\")", i, g, wantP[i])
		}
	}
	_, err = c.Tests(ctx, "")
	if fe := asError(t, err); fe.Status != 400 || !strings.Contains(fe.Message, "branchID") {
		t.Errorf("Tests without branchID: %v, want 400 naming branchID", err)
	}
}

// TestCatalogueTolerantDecoding serves list answers in shapes the docs do
// not rule out (flabs-api.md §5: schemas unknown).
func TestCatalogueTolerantDecoding(t *testing.T) {
	bodies := map[string]string{
		flabs.PathLabs: `{"success":true,"labs":[{"branchID":101,"branchName":"North","address":{"city":"Pune"}},{"name":"no id"}]}`,
		flabs.PathTests: `[{"id":"t1","testName":"CBC","testCode":"CBC","cost":"350.50","extra":[1,2]},
			{"_id":"t2","name":"LFT","price":700,"category":{"x":1}},
			{"testID":3,"title":"KFT","rate":" 750 "},
			{"name":"skipped, no id","cost":1}]`,
		flabs.PathPackages: `{"success":true,"data":{"packages":[{"packageID":"p1","packageName":"Thyroid","total":"600"}]}}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == flabs.PathToken {
			io.WriteString(w, `{"authToken":"a","refreshToken":"r","expiresIn":600}`)
			return
		}
		b, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, b)
	}))
	t.Cleanup(srv.Close)
	c, err := flabs.NewClient(flabs.Config{BaseURL: srv.URL, ClientID: "id", ClientSecret: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	labs, err := c.Labs(ctx)
	if err != nil {
		t.Fatalf("Labs: %v", err)
	}
	if len(labs) != 1 || labs[0].ID != "101" || labs[0].Name != "North" || !strings.Contains(string(labs[0].Raw), "Pune") {
		t.Errorf("labs = %+v, want one lab 101 North with raw kept", labs)
	}
	tests, err := c.Tests(ctx, "101")
	if err != nil {
		t.Fatalf("Tests: %v", err)
	}
	type item struct {
		ID, Name, Code string
		Cost           float64
	}
	var got []item
	for _, it := range tests {
		got = append(got, item{it.ID, it.Name, it.Code, it.Cost})
	}
	want := []item{{"t1", "CBC", "CBC", 350.5}, {"t2", "LFT", "", 700}, {"3", "KFT", "", 750}}
	if !slices.Equal(got, want) {
		t.Errorf("tests = %+v, want %+v", got, want)
	}
	pkgs, err := c.Packages(ctx, "101")
	if err != nil {
		t.Fatalf("Packages: %v", err)
	}
	if len(pkgs) != 1 || pkgs[0].ID != "p1" || pkgs[0].Name != "Thyroid" || pkgs[0].Cost != 600 {
		t.Errorf("packages = %+v", pkgs)
	}
}

func TestSecretsNeverLogged(t *testing.T) {
	clk := newFakeClock()
	sim := newSim(t, flabstest.Options{Now: clk.Now, ErrorStyle: flabstest.ErrorText})
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newClient(t, sim, func(cfg *flabs.Config) { cfg.Logger = logger; cfg.Now = clk.Now })
	ctx := context.Background()
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	req := validBilling("ORD-L1")
	req.PatientDetails.FirstName, req.PatientDetails.LastName = "Zenobia", "Quixote"
	_, err := c.CreateBilling(ctx, req)
	note(err)
	sim.ExpireTokens() // 401 → refresh
	req.IntegratorID = "ORD-L2"
	_, err = c.CreateBilling(ctx, req)
	note(err)
	sim.RevokeRefreshTokens() // refresh refused → login again (warn log)
	clk.Add(time.Hour)
	_, err = c.Labs(ctx)
	note(err)
	req.PatientDetails.Gender = "F" // a refused booking
	_, err = c.CreateBilling(ctx, req)
	note(err)
	_, err = c.CreateBilling(ctx, validBilling("ORD-L1")) // a conflict
	note(err)
	bad := newClient(t, sim, func(cfg *flabs.Config) { cfg.Logger = logger; cfg.ClientSecret = testSecret + "-wrong" })
	_, err = bad.Labs(ctx)
	note(err)
	if len(errs) != 3 {
		t.Fatalf("expected 3 failed calls (refused, conflict, wrong secret), got %d: %v", len(errs), errs)
	}

	mu.Lock()
	logs := buf.String()
	mu.Unlock()
	if !strings.Contains(logs, "level=DEBUG") || !strings.Contains(logs, "level=WARN") {
		t.Fatalf("expected debug and warn lines in the log, got:\n%s", logs)
	}
	forbidden := []string{testSecret, "sim-auth-", "sim-refresh-", "Bearer", "Zenobia", "Quixote"}
	for _, s := range forbidden {
		if strings.Contains(logs, s) {
			t.Errorf("log contains %q:\n%s", s, logs)
		}
		for _, e := range errs {
			if strings.Contains(e.Error(), s) {
				t.Errorf("error text %q contains %q", e.Error(), s)
			}
		}
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// 20 calls start together on a fresh client: one login serves them all,
// and (the simulator's 5 ms latency being on the bubble's fake clock) all
// 20 bookings are in flight at once.
func TestConcurrentCreateBillingOneLogin(t *testing.T) {
	synctest.Test(t, testConcurrentCreateBillingOneLogin)
}

func testConcurrentCreateBillingOneLogin(t *testing.T) {
	sim := newPipeSim(t, flabstest.Options{Latency: 5 * time.Millisecond})
	c := newPipeClient(t, sim, nil)
	ctx := context.Background()
	const n = 20
	var wg sync.WaitGroup
	pre := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			resp, err := c.CreateBilling(ctx, validBilling(fmt.Sprintf("ORD-P-%02d", i)))
			errs[i] = err
			if err == nil {
				pre[i] = resp.PreBookingID
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
	if got := len(sim.Bookings()); got != n {
		t.Errorf("bookings = %d, want %d", got, n)
	}
	seen := map[string]bool{}
	for i := range n {
		id := fmt.Sprintf("ORD-P-%02d", i)
		bs := sim.BookingsFor(id)
		if len(bs) != 1 || bs[0].PreBookingID != pre[i] {
			t.Errorf("%s: bookings %v, client got preBookingID %q", id, bs, pre[i])
		}
		if seen[pre[i]] {
			t.Errorf("preBookingID %q returned twice", pre[i])
		}
		seen[pre[i]] = true
	}
	if got := countPath(sim, flabs.PathToken); got != 1 {
		t.Errorf("logins = %d, want 1", got)
	}
	if got := countPath(sim, flabs.PathTokenRefresh); got != 0 {
		t.Errorf("refreshes = %d, want 0", got)
	}
	if d := sim.DoubleBooked(); len(d) != 0 {
		t.Errorf("DoubleBooked = %v", d)
	}
	var arrived []time.Time
	for _, r := range sim.Requests() {
		if r.Path == flabs.PathBillingCreate {
			arrived = append(arrived, r.Time)
		}
	}
	if len(arrived) != n || slices.ContainsFunc(arrived, func(at time.Time) bool { return !at.Equal(arrived[0]) }) {
		t.Errorf("billing creates arrived at %v; want all %d at once", arrived, n)
	}
}

func TestConcurrentCallsAfterServerExpiryShareOneRefresh(t *testing.T) {
	sim := newSim(t, flabstest.Options{})
	c := newClient(t, sim, nil)
	ctx := context.Background()
	if _, err := c.Labs(ctx); err != nil {
		t.Fatal(err)
	}
	sim.ExpireTokens()
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		wg.Go(func() { _, errs[i] = c.Labs(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	if got := countPath(sim, flabs.PathTokenRefresh); got != 1 {
		t.Errorf("refreshes = %d, want 1 shared by all callers", got)
	}
	if got := countPath(sim, flabs.PathToken); got != 1 {
		t.Errorf("logins = %d, want 1", got)
	}
}

func TestTokenExpiredAndRefreshRevokedStillSucceeds(t *testing.T) {
	sim := newSim(t, flabstest.Options{})
	c := newClient(t, sim, nil)
	ctx := context.Background()
	if _, err := c.Labs(ctx); err != nil {
		t.Fatal(err)
	}
	sim.ExpireTokens()
	sim.RevokeRefreshTokens()
	// 401 → refresh refused → login with the secret → resend succeeds.
	if _, err := c.CreateBilling(ctx, validBilling("ORD-RR")); err != nil {
		t.Fatalf("CreateBilling: %v", err)
	}
	if n := countPath(sim, flabs.PathToken); n != 2 {
		t.Errorf("logins = %d, want 2", n)
	}
	if n := len(sim.BookingsFor("ORD-RR")); n != 1 {
		t.Errorf("booked %d times, want 1", n)
	}
}

// TestCancelWhileAnotherCallerRenewsToken: caller A is stuck renewing the
// token (the token endpoint hangs) while caller B, holding the old token,
// gets a 401. B must return as soon as its context is cancelled: no time
// passes on the bubble's clock between the cancel and B's return.
func TestCancelWhileAnotherCallerRenewsToken(t *testing.T) {
	for _, phase := range []string{"waiting for the token", "after a 401"} {
		t.Run(phase, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { testCancelWhileAnotherCallerRenewsToken(t, phase) })
		})
	}
}

func testCancelWhileAnotherCallerRenewsToken(t *testing.T, phase string) {
	loginHangs := make(chan struct{})
	var hangOnce sync.Once
	release := make(chan struct{})
	var mu sync.Mutex
	var logins, labs int
	baseURL, hc := flabstest.ServePipe(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case flabs.PathToken:
			mu.Lock()
			logins++
			n := logins
			mu.Unlock()
			if n >= 2 { // every later login hangs until the test ends
				hangOnce.Do(func() { close(loginHangs) })
				select {
				case <-release:
				case <-r.Context().Done():
				}
				return
			}
			io.WriteString(w, `{"authToken":"a1","expiresIn":600}`)
		case flabs.PathLabs:
			mu.Lock()
			labs++
			n := labs
			mu.Unlock()
			if n == 1 && phase == "after a 401" { // B's call: answer only once A hangs in login
				<-loginHangs
			}
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"success":false,"message":"Unauthorized"}`)
		}
	}))
	t.Cleanup(func() { close(release) })
	c, err := flabs.NewClient(flabs.Config{BaseURL: baseURL, HTTPClient: hc, ClientID: "id", ClientSecret: "secret", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	if phase == "after a 401" {
		// B logs in and its call is held by the server.
		go func() { _, err := c.Labs(ctx); errc <- err }()
		synctest.Wait()
		mu.Lock()
		n := labs
		mu.Unlock()
		if n != 1 {
			t.Fatalf("B's call not held by the server: %d labs calls", n)
		}
		go c.Labs(context.Background()) // A: 401, then the hanging login
	} else {
		go c.Labs(context.Background()) // A: login, 401, hanging login
		<-loginHangs
		go func() { _, err := c.Labs(ctx); errc <- err }()
	}
	<-loginHangs
	synctest.Wait() // A hangs in login holding the token lock; B waits for it
	select {
	case err := <-errc:
		t.Fatalf("B returned before the cancel: %v", err)
	default:
	}
	start := time.Now()
	cancel()
	err = <-errc
	if el := time.Since(start); el != 0 {
		t.Errorf("returned %v after cancel, want at once", el)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
}

// lastMessage is the error message of the simulator's last answer.
func lastMessage(sim *flabstest.Server) string {
	reqs := sim.Requests()
	if len(reqs) == 0 {
		return ""
	}
	return reqs[len(reqs)-1].Message
}

// assertNoFlabsWords checks that a billing create's error keeps none of
// Flabs' words: they may echo the patient.
func assertNoFlabsWords(t *testing.T, fe *flabs.Error) {
	t.Helper()
	if fe.Message != "" {
		t.Errorf("billing create error keeps Flabs' words %q (Error() = %q)", fe.Message, fe.Error())
	}
}
