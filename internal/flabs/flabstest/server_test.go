package flabstest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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

var simStart = time.Date(2025, 1, 20, 10, 0, 0, 0, time.UTC)

// receiver records webhook deliveries.
type receiver struct {
	url    string
	client *http.Client // set by newPipeReceiver: the one that reaches it
	mu     sync.Mutex
	got    []received
}

type received struct {
	Auth string
	Body []byte
}

// newReceiver serves a receiver on loopback HTTP.
func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	rc.url = srv.URL
	return rc
}

// newPipeReceiver serves a receiver over in-memory connections, for
// tests inside a synctest bubble: deliver with its client.
func newPipeReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.url, rc.client = flabstest.ServePipe(t, rc)
	return rc
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "want a JSON POST", http.StatusBadRequest)
		return
	}
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.got = append(rc.got, received{Auth: r.Header.Get("Authorization"), Body: b})
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) all() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

func client(t *testing.T, sim *flabstest.Server) *flabs.Client {
	t.Helper()
	c, err := flabs.NewClient(flabs.Config{BaseURL: sim.URL(), HTTPClient: sim.Client(), ClientID: "demo", ClientSecret: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func billing(id string) *flabs.BillingRequest {
	return &flabs.BillingRequest{
		PatientDetails: flabs.PatientDetails{FirstName: "Asha", Gender: flabs.GenderFemale, Age: 34, AgeType: flabs.AgeYear},
		IntegratorID:   id,
		LeadSource:     "api",
		MappedTests:    []flabs.MappedTest{{FlabsID: "CBC"}, {ID: "64f000000000000000000004"}},
		UnmappedTests:  []string{"Vitamin D3"},
	}
}

func TestWebhookTimelineManual(t *testing.T) {
	rc := newReceiver(t)
	sim := flabstest.NewTestServer(t, flabstest.Options{
		Seed:              1,
		AllowHTTPWebhooks: true,
		Webhooks:          flabstest.WebhookOptions{Manual: true, Start: simStart},
	})
	c := client(t, sim)
	ctx := context.Background()
	if err := c.Subscribe(ctx, &flabs.SubscribeRequest{Events: flabs.BillEvents, Endpoint: rc.url + "/hook", AuthToken: "hook-secret"}); err != nil {
		t.Fatal(err)
	}
	resp, err := c.CreateBilling(ctx, billing("ORD-W1"))
	if err != nil {
		t.Fatal(err)
	}
	bill := sim.BookingsFor("ORD-W1")[0].BillID

	// Nothing is due before CreatedAfter.
	if n := sim.Advance(ctx, flabstest.DefaultCreatedAfter-time.Second); n != 0 {
		t.Fatalf("Advance before CreatedAfter delivered %d", n)
	}
	if n := sim.Advance(ctx, time.Second); n != 1 {
		t.Fatalf("Advance to CreatedAfter delivered %d, want 1 (bill.created)", n)
	}
	if n := sim.Advance(ctx, 24*time.Hour); n != 4 {
		t.Fatalf("Advance to the end delivered %d, want 4 (3 reports + bill.completed)", n)
	}
	if sim.Pending() != 0 {
		t.Errorf("Pending = %d after the timeline", sim.Pending())
	}

	got := rc.all()
	wantTypes := []string{flabs.EventBillCreated, flabs.EventReportCompleted, flabs.EventReportCompleted, flabs.EventReportCompleted, flabs.EventBillCompleted}
	if len(got) != len(wantTypes) {
		t.Fatalf("receiver got %d deliveries, want %d", len(got), len(wantTypes))
	}
	created := simStart.Add(flabstest.DefaultCreatedAfter)
	wantTimes := []time.Time{created,
		created.Add(flabstest.DefaultReportEvery), created.Add(2 * flabstest.DefaultReportEvery), created.Add(3 * flabstest.DefaultReportEvery),
		created.Add(3*flabstest.DefaultReportEvery + flabstest.DefaultCompletedAfter)}
	var testIDs []string
	for i, r := range got {
		if r.Auth != "Bearer hook-secret" {
			t.Errorf("delivery %d Authorization = %q, want %q", i, r.Auth, "Bearer hook-secret")
		}
		// The documented shape, checked on the raw JSON.
		var m struct {
			LabID     *string         `json:"labID"`
			EventType string          `json:"eventType"`
			EventTime json.RawMessage `json:"eventTime"`
			Data      struct {
				BillID       string  `json:"billID"`
				IntegratorID string  `json:"integratorID"`
				ReportURL    *string `json:"reportURL"`
				BillData     struct {
					Status   string              `json:"status"`
					TestData []map[string]string `json:"testData"`
				} `json:"billData"`
			} `json:"data"`
		}
		if err := json.Unmarshal(r.Body, &m); err != nil {
			t.Fatalf("delivery %d: %v: %s", i, err, r.Body)
		}
		if m.EventType != wantTypes[i] {
			t.Errorf("delivery %d eventType = %q, want %q", i, m.EventType, wantTypes[i])
		}
		if m.LabID == nil || *m.LabID != "6530a4a6f1d2c8b7e9a12345" {
			t.Errorf("delivery %d labID = %v", i, m.LabID)
		}
		var secs int64
		if err := json.Unmarshal(m.EventTime, &secs); err != nil {
			t.Errorf("delivery %d eventTime %s is not integer seconds", i, m.EventTime)
		} else if secs != wantTimes[i].Unix() {
			t.Errorf("delivery %d eventTime = %d, want %d", i, secs, wantTimes[i].Unix())
		}
		if m.Data.BillID != bill || m.Data.IntegratorID != "ORD-W1" {
			t.Errorf("delivery %d billID/integratorID = %q/%q, want %q/ORD-W1", i, m.Data.BillID, m.Data.IntegratorID, bill)
		}
		if len(m.Data.BillData.TestData) != 3 {
			t.Errorf("delivery %d has %d testData entries, want 3 (one per test)", i, len(m.Data.BillData.TestData))
		}
		var ids []string
		completed := 0
		for _, td := range m.Data.BillData.TestData {
			if td["_id"] == "" || td["status"] == "" {
				t.Errorf("delivery %d testData item %v lacks _id/status", i, td)
			}
			ids = append(ids, td["_id"])
			if td["status"] == "completed" {
				completed++
			}
		}
		if testIDs == nil {
			testIDs = ids
		} else if !slices.Equal(ids, testIDs) {
			t.Errorf("delivery %d test ids %v differ from %v", i, ids, testIDs)
		}
		wantCompleted := min(i, 3)
		if completed != wantCompleted {
			t.Errorf("delivery %d: %d tests completed, want %d", i, completed, wantCompleted)
		}
		if m.EventType == flabs.EventBillCompleted {
			if m.Data.BillData.Status != "completed" {
				t.Errorf("bill.completed billData.status = %q", m.Data.BillData.Status)
			}
			if m.Data.ReportURL == nil || !strings.HasPrefix(*m.Data.ReportURL, "https://") {
				t.Errorf("bill.completed reportURL = %v, want an https URL under data", m.Data.ReportURL)
			}
		}
	}
	_ = resp
	for i, d := range sim.Deliveries() {
		if d.Status != http.StatusNoContent || d.Err != "" || d.Duplicate {
			t.Errorf("Deliveries()[%d] = status %d err %q dup %v", i, d.Status, d.Err, d.Duplicate)
		}
	}
}

func TestWebhookHeaderAndURLOptions(t *testing.T) {
	tests := []struct {
		name     string
		header   string
		scheme   string
		wantAuth string
		wantHdr  string
	}{
		{"default bearer", "", "", "Bearer opt-tok", "Authorization"},
		{"raw token", "", "-", "opt-tok", "Authorization"},
		{"custom header", "X-Flabs-Token", "Token ", "Token opt-tok", "X-Flabs-Token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var got []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				got = append(got, r.Header.Get(tt.wantHdr))
				mu.Unlock()
			}))
			t.Cleanup(srv.Close)
			sim := flabstest.NewTestServer(t, flabstest.Options{Seed: 1, Webhooks: flabstest.WebhookOptions{
				Manual: true, Start: simStart, URL: srv.URL, AuthToken: "opt-tok", Header: tt.header, Scheme: tt.scheme}})
			ctx := context.Background()
			if _, err := client(t, sim).CreateBilling(ctx, billing("ORD-H")); err != nil {
				t.Fatal(err)
			}
			if n := sim.Advance(ctx, 24*time.Hour); n != 5 {
				t.Fatalf("delivered %d, want 5", n)
			}
			mu.Lock()
			defer mu.Unlock()
			for i, a := range got {
				if a != tt.wantAuth {
					t.Errorf("delivery %d %s = %q, want %q", i, tt.wantHdr, a, tt.wantAuth)
				}
			}
		})
	}
}

func TestWebhookNoSubscriber(t *testing.T) {
	sim := flabstest.NewTestServer(t, flabstest.Options{Seed: 1, Webhooks: flabstest.WebhookOptions{Manual: true, Start: simStart}})
	ctx := context.Background()
	if _, err := client(t, sim).CreateBilling(ctx, billing("ORD-N")); err != nil {
		t.Fatal(err)
	}
	sim.Advance(ctx, 24*time.Hour)
	ds := sim.Deliveries()
	if len(ds) != 5 {
		t.Fatalf("deliveries = %d, want 5 recorded", len(ds))
	}
	for _, d := range ds {
		if d.Err != "no subscriber" || d.Status != 0 {
			t.Errorf("delivery %+v, want Err \"no subscriber\"", d)
		}
	}
}

// webhookRun books n bills on a fresh simulator and returns what the
// receiver got, plus the simulator's record of drops and duplicates.
func webhookRun(t *testing.T, seed int64, n int) (bodies []string, dropped, dups int) {
	t.Helper()
	rc := newReceiver(t)
	sim := flabstest.NewTestServer(t, flabstest.Options{Seed: seed, Webhooks: flabstest.WebhookOptions{
		Manual: true, Start: simStart, URL: rc.url,
		DropRate: 0.15, DuplicateRate: 0.2, ReorderRate: 0.1, DeleteRate: 0.1, StallRate: 0.1, MissingReportRate: 0.1,
	}})
	c := client(t, sim)
	ctx := context.Background()
	for i := range n {
		if _, err := c.CreateBilling(ctx, billing(fmt.Sprintf("ORD-S-%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	sim.Advance(ctx, 48*time.Hour)
	for _, r := range rc.all() {
		bodies = append(bodies, string(r.Body))
	}
	for _, d := range sim.Deliveries() {
		if d.Duplicate {
			dups++
		}
	}
	return bodies, len(sim.DroppedEvents()), dups
}

func TestWebhookFaultsDeterministicPerSeed(t *testing.T) {
	a, dropA, dupA := webhookRun(t, 99, 12)
	b, dropB, dupB := webhookRun(t, 99, 12)
	if dropA == 0 || dupA == 0 {
		t.Fatalf("faults not exercised: dropped %d, duplicated %d", dropA, dupA)
	}
	if dropA != dropB || dupA != dupB || !slices.Equal(a, b) {
		t.Errorf("same seed, different webhooks: drops %d/%d dups %d/%d, %d/%d deliveries", dropA, dropB, dupA, dupB, len(a), len(b))
	}
	// A duplicated delivery has a byte-identical body (no event ID exists).
	count := map[string]int{}
	for _, body := range a {
		count[body]++
	}
	twice := 0
	for _, n := range count {
		if n == 2 {
			twice++
		}
	}
	if twice != dupA {
		t.Errorf("%d bodies arrived twice, simulator reports %d duplicates", twice, dupA)
	}
	c, _, _ := webhookRun(t, 100, 12)
	if slices.Equal(a, c) {
		t.Error("different seeds gave identical webhook streams")
	}
}

// The background dispatcher delivers each event when it falls due on the
// real clock (here the synctest bubble's fake one, at Speed 1): nothing
// before the bill is created, bill.created at CreatedAfter, the whole
// timeline by CreatedAfter + 3 ReportEvery + CompletedAfter.
func TestWebhookBackgroundDispatcher(t *testing.T) {
	synctest.Test(t, testWebhookBackgroundDispatcher)
}

func testWebhookBackgroundDispatcher(t *testing.T) {
	rc := newPipeReceiver(t)
	sim := flabstest.NewPipeServer(t, flabstest.Options{Seed: 1, Webhooks: flabstest.WebhookOptions{URL: rc.url, Client: rc.client}})
	if _, err := client(t, sim).CreateBilling(context.Background(), billing("ORD-BG")); err != nil {
		t.Fatal(err)
	}
	created := flabstest.DefaultCreatedAfter
	all := created + 3*flabstest.DefaultReportEvery + flabstest.DefaultCompletedAfter
	time.Sleep(created - time.Nanosecond)
	synctest.Wait()
	if n := len(rc.all()); n != 0 {
		t.Fatalf("%d delivered before bill.created was due, want 0", n)
	}
	time.Sleep(time.Nanosecond)
	synctest.Wait()
	if n := len(rc.all()); n != 1 {
		t.Fatalf("%d delivered when bill.created fell due, want 1", n)
	}
	time.Sleep(all - created - time.Nanosecond)
	synctest.Wait()
	if n := len(rc.all()); n != 4 {
		t.Fatalf("%d delivered just before bill.completed was due, want 4", n)
	}
	time.Sleep(time.Nanosecond)
	synctest.Wait()
	got := rc.all()
	if len(got) != 5 {
		t.Fatalf("background dispatcher delivered %d, want 5", len(got))
	}
	var types []string
	for _, r := range got {
		var ev flabs.Event
		if err := json.Unmarshal(r.Body, &ev); err != nil {
			t.Fatal(err)
		}
		types = append(types, ev.EventType)
	}
	want := []string{flabs.EventBillCreated, flabs.EventReportCompleted, flabs.EventReportCompleted, flabs.EventReportCompleted, flabs.EventBillCompleted}
	if !slices.Equal(types, want) { // each fell due at its own instant
		t.Errorf("event types = %v, want %v", types, want)
	}
}

func TestAdvancePanicsWithoutManual(t *testing.T) {
	sim := flabstest.NewTestServer(t, flabstest.Options{})
	defer func() {
		if recover() == nil {
			t.Error("Advance without Manual did not panic")
		}
	}()
	sim.Advance(context.Background(), time.Minute)
}

// post sends raw JSON to the simulator and returns status and body.
func post(t *testing.T, sim *flabstest.Server, path, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, sim.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func login(t *testing.T, sim *flabstest.Server) flabs.TokenResponse {
	t.Helper()
	st, body := post(t, sim, flabs.PathToken, "", `{"clientID":"demo","clientSecret":"demo"}`)
	if st != 200 {
		t.Fatalf("login: %d %s", st, body)
	}
	var tr flabs.TokenResponse
	if err := json.Unmarshal([]byte(body), &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestTokenEndpoints(t *testing.T) {
	sim := flabstest.NewTestServer(t, flabstest.Options{})
	tests := []struct {
		name, path, body string
		wantStatus       int
		wantMsg          string
	}{
		{"login ok", flabs.PathToken, `{"clientID":"demo","clientSecret":"demo"}`, 200, ""},
		{"login wrong secret", flabs.PathToken, `{"clientID":"demo","clientSecret":"nope"}`, 401, "Invalid client credentials"},
		{"login wrong id", flabs.PathToken, `{"clientID":"x","clientSecret":"demo"}`, 401, "Invalid client credentials"},
		{"login no secret", flabs.PathToken, `{"clientID":"demo"}`, 400, "clientSecret"},
		{"login no id", flabs.PathToken, `{"clientSecret":"demo"}`, 400, "clientID"},
		{"login not JSON", flabs.PathToken, `clientID=demo`, 400, "JSON"},
		{"refresh unknown token", flabs.PathTokenRefresh, `{"clientID":"demo","refreshToken":"nope"}`, 401, "Invalid refresh token"},
		{"refresh no token", flabs.PathTokenRefresh, `{"clientID":"demo"}`, 400, "refreshToken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, body := post(t, sim, tt.path, "", tt.body)
			if st != tt.wantStatus || !strings.Contains(body, tt.wantMsg) {
				t.Errorf("got %d %s, want %d containing %q", st, body, tt.wantStatus, tt.wantMsg)
			}
			if st == 200 {
				var tr flabs.TokenResponse
				if err := json.Unmarshal([]byte(body), &tr); err != nil || tr.AuthToken == "" || tr.RefreshToken == "" || tr.ExpiresIn != 600 {
					t.Errorf("token answer %s: want authToken, refreshToken, expiresIn 600", body)
				}
			}
		})
	}
}

func TestRefreshRotation(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("KeepRefreshToken=%v", keep), func(t *testing.T) {
			sim := flabstest.NewTestServer(t, flabstest.Options{KeepRefreshToken: keep})
			tr := login(t, sim)
			body := fmt.Sprintf(`{"clientID":"demo","refreshToken":%q}`, tr.RefreshToken)
			st, out := post(t, sim, flabs.PathTokenRefresh, "", body)
			if st != 200 {
				t.Fatalf("refresh: %d %s", st, out)
			}
			var tr2 flabs.TokenResponse
			json.Unmarshal([]byte(out), &tr2)
			if (tr2.RefreshToken == tr.RefreshToken) != keep {
				t.Errorf("refresh token rotated=%v, want rotated=%v", tr2.RefreshToken != tr.RefreshToken, !keep)
			}
			st, _ = post(t, sim, flabs.PathTokenRefresh, "", body) // reuse the old one
			if want := map[bool]int{false: 401, true: 200}[keep]; st != want {
				t.Errorf("reusing the first refresh token: %d, want %d", st, want)
			}
			// Both auth tokens work (several may be valid at once).
			for _, tok := range []string{tr.AuthToken, tr2.AuthToken} {
				if st, b := post(t, sim, flabs.PathBillingCreate, tok, `{}`); st != 400 {
					t.Errorf("auth token %q: %d %s, want past auth (400)", tok, st, b)
				}
			}
		})
	}
}

func TestAuthAndRouting(t *testing.T) {
	clk := struct {
		mu sync.Mutex
		t  time.Time
	}{t: simStart}
	now := func() time.Time { clk.mu.Lock(); defer clk.mu.Unlock(); return clk.t }
	sim := flabstest.NewTestServer(t, flabstest.Options{Now: now})
	tok := login(t, sim).AuthToken
	get := func(path, token string) int {
		req, _ := http.NewRequest(http.MethodGet, sim.URL()+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := get(flabs.PathLabs, tok); st != 200 {
		t.Errorf("labs with token: %d", st)
	}
	if st := get(flabs.PathLabs, ""); st != 401 {
		t.Errorf("labs without token: %d, want 401", st)
	}
	if st := get(flabs.PathLabs, "forged"); st != 401 {
		t.Errorf("labs with forged token: %d, want 401", st)
	}
	if st := get(flabs.PathBillingCreate, tok); st != 405 {
		t.Errorf("GET billing create: %d, want 405", st)
	}
	if st := get("/client/nope", tok); st != 404 {
		t.Errorf("unknown path: %d, want 404", st)
	}
	clk.mu.Lock()
	clk.t = clk.t.Add(flabstest.DefaultTokenTTL)
	clk.mu.Unlock()
	if st := get(flabs.PathLabs, tok); st != 401 {
		t.Errorf("labs with an expired token: %d, want 401", st)
	}
	if n := sim.Stats().Unauthorized.Load(); n != 3 {
		t.Errorf("Stats.Unauthorized = %d, want 3", n)
	}
}

func TestBillingRawValidation(t *testing.T) {
	sim := flabstest.NewTestServer(t, flabstest.Options{})
	tok := login(t, sim).AuthToken
	valid := func(edit func(m map[string]any)) string {
		m := map[string]any{
			"patient_details": map[string]any{"first_name": "Asha", "gender": "female", "age": 34, "age_type": "year"},
			"integrator_id":   "ORD-R", "lead_source": "api", "unmapped_tests": []string{"CBC"},
		}
		if edit != nil {
			edit(m)
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	pd := func(m map[string]any) map[string]any { return m["patient_details"].(map[string]any) }
	tests := []struct {
		name, body, wantMsg string
	}{
		{"not JSON", "nope", "JSON object"},
		{"JSON array", "[]", "JSON object"},
		{"JSON null", "null", "JSON object"},
		{"age as string", valid(func(m map[string]any) { pd(m)["age"] = "34" }), "patient_details.age"},
		{"age boolean", valid(func(m map[string]any) { pd(m)["age"] = true }), "patient_details.age"},
		{"age huge", valid(func(m map[string]any) { pd(m)["age"] = 1e12 }), "patient_details.age"},
		{"unmapped_tests not a list", valid(func(m map[string]any) { m["unmapped_tests"] = "CBC" }), "unmapped_tests"},
		{"mapped_tests null and no other list", valid(func(m map[string]any) { delete(m, "unmapped_tests"); m["mapped_tests"] = nil }), "at least one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, body := post(t, sim, flabs.PathBillingCreate, tok, tt.body)
			var env struct {
				Success *bool  `json:"success"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal([]byte(body), &env); err != nil {
				t.Fatalf("error body is not JSON: %s", body)
			}
			if st != 400 || env.Success == nil || *env.Success || !strings.Contains(env.Message, tt.wantMsg) {
				t.Errorf("got %d %s, want 400 {success:false} naming %q", st, body, tt.wantMsg)
			}
		})
	}
	if n := len(sim.Bookings()); n != 0 {
		t.Errorf("bookings = %d, want 0", n)
	}
	if st, body := post(t, sim, flabs.PathBillingCreate, tok, valid(nil)); st != 200 || !bytes.Contains([]byte(body), []byte(`"preBookingID"`)) {
		t.Errorf("valid raw body: %d %s", st, body)
	}
}

func TestFaultDecisionsDeterministic(t *testing.T) {
	run := func() []string {
		sim := flabstest.NewTestServer(t, flabstest.Options{Seed: 5, FailRate: 0.3, DropRate: 0.2, Webhooks: flabstest.WebhookOptions{Manual: true}})
		c := client(t, sim)
		var out []string
		for i := range 20 {
			_, err := c.CreateBilling(context.Background(), billing(fmt.Sprintf("ORD-FD-%d", i)))
			out = append(out, fmt.Sprint(flabs.ClassOf(err)))
		}
		// Not sim.Requests(): a dropped call is recorded only when its
		// handler returns, which may be after the client saw the drop.
		st := sim.Stats()
		return append(out, fmt.Sprintf("failed=%d dropped=%d created=%d", st.Failed.Load(), st.Dropped.Load(), st.Created.Load()))
	}
	a, b := run(), run()
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different fault decisions:\n%v\n%v", a, b)
	}
	if !slices.Contains(a, "retryable") || !slices.Contains(a, "unknown") {
		t.Errorf("expected a mix of faults and successes, got %v", a[:20])
	}
}

func TestWebhookBillOutcomes(t *testing.T) {
	tests := []struct {
		name  string
		wo    flabstest.WebhookOptions
		want  []string
		tests int // testData entries on each event
	}{
		{"normal", flabstest.WebhookOptions{}, []string{"bill.created", "report.completed", "report.completed", "report.completed", "bill.completed"}, 3},
		{"no bill", flabstest.WebhookOptions{NoBillRate: 1}, nil, 0},
		{"deleted", flabstest.WebhookOptions{DeleteRate: 1}, []string{"bill.created", "bill.deleted"}, 3},
		{"stalled", flabstest.WebhookOptions{StallRate: 1}, []string{"bill.created", "report.completed"}, 3},
		{"missing report", flabstest.WebhookOptions{MissingReportRate: 1}, []string{"bill.created", "report.completed", "report.completed", "bill.completed"}, 2},
		{"dropped", flabstest.WebhookOptions{DropRate: 1}, nil, 0},
		{"duplicated", flabstest.WebhookOptions{DuplicateRate: 1}, []string{"bill.created", "bill.created", "report.completed", "report.completed",
			"report.completed", "report.completed", "report.completed", "report.completed", "bill.completed", "bill.completed"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t)
			wo := tt.wo
			wo.Manual, wo.Start, wo.URL = true, simStart, rc.url
			sim := flabstest.NewTestServer(t, flabstest.Options{Seed: 3, Webhooks: wo})
			ctx := context.Background()
			if _, err := client(t, sim).CreateBilling(ctx, billing("ORD-O")); err != nil {
				t.Fatal(err)
			}
			sim.Advance(ctx, 48*time.Hour)
			var types []string
			for _, r := range rc.all() {
				var ev flabs.Event
				if err := json.Unmarshal(r.Body, &ev); err != nil {
					t.Fatal(err)
				}
				types = append(types, ev.EventType)
				if len(ev.Data.BillData.TestData) != tt.tests {
					t.Errorf("%s has %d testData entries, want %d", ev.EventType, len(ev.Data.BillData.TestData), tt.tests)
				}
			}
			if !slices.Equal(types, tt.want) {
				t.Errorf("events = %v, want %v", types, tt.want)
			}
		})
	}
}

func TestSubscriptionsSnapshotIsACopy(t *testing.T) {
	sim := flabstest.NewTestServer(t, flabstest.Options{})
	c := client(t, sim)
	ctx := context.Background()
	if err := c.Subscribe(ctx, &flabs.SubscribeRequest{Events: []string{flabs.EventBillCreated, flabs.EventBillCompleted}, Endpoint: "https://a.example.test/h"}); err != nil {
		t.Fatal(err)
	}
	before := sim.Subscriptions()
	// Moving bill.created to another endpoint must not change the snapshot taken above.
	if err := c.Subscribe(ctx, &flabs.SubscribeRequest{Events: []string{flabs.EventBillCreated}, Endpoint: "https://b.example.test/h"}); err != nil {
		t.Fatal(err)
	}
	if want := []string{flabs.EventBillCreated, flabs.EventBillCompleted}; !slices.Equal(before[0].Events, want) {
		t.Errorf("earlier Subscriptions() snapshot changed to %q, want %q", before[0].Events, want)
	}
	after := sim.Subscriptions()
	if len(after) != 2 || !slices.Equal(after[0].Events, []string{flabs.EventBillCompleted}) || !slices.Equal(after[1].Events, []string{flabs.EventBillCreated}) {
		t.Errorf("subscriptions after move = %+v", after)
	}
}
