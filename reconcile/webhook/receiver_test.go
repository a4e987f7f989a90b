package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/reconcile/webhook"
)

// A delivery without the right token, with the wrong method, too big or
// not a Flabs event is refused with a status that says which; only the
// last is kept (as received, for a replay after a fix).
func TestRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		srv := startReceiver(t, db, tokenConfig(), webhook.Options{})
		good := fixture(t, "bill_created.json")
		big := append([]byte(`{"eventType":"bill.created","pad":"`), bytes.Repeat([]byte("x"), config.DefaultWebhookMaxBody)...)
		big = append(big, `"}`...)
		bearer := map[string]string{"Authorization": "Bearer " + testToken}
		tests := []struct {
			name   string
			method string
			header map[string]string
			body   []byte
			code   int
			reason string // in the error answer
		}{
			{"no token", "POST", nil, good, 401, "missing or wrong token"},
			{"wrong token", "POST", map[string]string{"Authorization": "Bearer nope"}, good, 401, "missing or wrong token"},
			{"token prefix", "POST", map[string]string{"Authorization": "Bearer " + testToken[:5]}, good, 401, ""},
			{"token in another header", "POST", map[string]string{"X-Flabs-Token": testToken}, good, 401, ""},
			{"GET", "GET", bearer, nil, 405, "use POST"},
			{"PUT", "PUT", bearer, good, 405, "use POST"},
			{"oversize", "POST", bearer, big, 413, "larger than 1048576 bytes"},
			{"malformed JSON", "POST", bearer, []byte(`{"eventType": "bill.created",`), 400, "not JSON"},
			{"not an object", "POST", bearer, []byte(`[1,2]`), 400, "want a JSON object, got an array"},
			{"empty", "POST", bearer, nil, 400, "empty body"},
			{"no eventType", "POST", bearer, []byte(`{"eventTime": 1795939200}`), 400, "eventType is required"},
			{"eventTime in ms", "POST", bearer, []byte(`{"eventType":"bill.created","eventTime":1795939200000,"data":{"billID":"b"}}`), 400, "not Unix seconds"},
			{"bill event without billID", "POST", bearer, []byte(`{"eventType":"bill.created","eventTime":1795939200,"data":{}}`), 400, "data.billID is required"},
		}
		var invalid int
		for _, tt := range tests {
			a := send(t, tt.method, srv.URL, tt.header, tt.body)
			if a.Code != tt.code || !strings.Contains(a.Error, tt.reason) {
				t.Errorf("%s: answered %d %q, want %d %q", tt.name, a.Code, a.Error, tt.code, tt.reason)
			}
			if tt.code == 400 {
				invalid++
			}
		}
		raw, events, _ := counts(t, db)
		if raw != invalid || events != 0 {
			t.Errorf("stored %d raw bodies and %d events; want the %d invalid bodies kept and no event", raw, events, invalid)
		}
		var reasons []string
		if err := db.SelectContext(t.Context(), &reasons, `SELECT error FROM webhook_raw WHERE status = 'invalid' ORDER BY id`); err != nil {
			t.Fatal(err)
		}
		if len(reasons) != invalid || !strings.Contains(reasons[0], "not JSON") {
			t.Errorf("invalid bodies kept with reasons %q", reasons)
		}
		st := srv.Stats()
		want := map[string]int64{webhook.ReasonUnauthorized: 4, webhook.ReasonMethod: 2, webhook.ReasonTooLarge: 1, webhook.ReasonInvalid: int64(invalid)}
		for k, v := range want {
			if st.Rejected[k] != v {
				t.Errorf("Stats.Rejected[%s] = %d, want %d", k, st.Rejected[k], v)
			}
		}
		if st.Received != int64(len(tests)) || st.Stored != 0 {
			t.Errorf("Stats = %+v, want %d received, none stored", st, len(tests))
		}
		if a := send(t, "POST", strings.TrimSuffix(srv.URL, "/flabs")+"/other", bearer, good); a.Code != http.StatusNotFound {
			t.Errorf("another path answered %d, want 404", a.Code)
		}
	})
}

// A body sent chunked (no Content-Length) past the limit is cut off with 413 too.
func TestOversizeChunked(t *testing.T) {
	db := storetest.OpenSQLite(t)
	srv := startReceiver(t, db, config.Webhook{AuthToken: testToken, MaxBody: 4096}, webhook.Options{})
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(`{"eventType":"bill.created","pad":"`))
		for range 10 {
			pw.Write(bytes.Repeat([]byte("y"), 1024))
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, srv.URL, pr)
	req.Header.Set("Authorization", testToken)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked 10 KiB body with max_body 4096: %d, want 413", resp.StatusCode)
	}
}

// Flabs' token header is undocumented: "Bearer <t>", a bare token, any
// case of "bearer", and a configured header name all work.
func TestTokenForms(t *testing.T) {
	db := storetest.OpenSQLite(t)
	std := startReceiver(t, db, tokenConfig(), webhook.Options{})
	custom := startReceiver(t, db, config.Webhook{AuthToken: testToken, AuthHeader: "X-Flabs-Token", Path: "/hooks/custom"}, webhook.Options{})
	open := startReceiver(t, db, config.Webhook{Path: "/hooks/open"}, webhook.Options{})
	tests := []struct {
		name   string
		url    string
		header map[string]string
		code   int
	}{
		{"bearer", std.URL, map[string]string{"Authorization": "Bearer " + testToken}, 200},
		{"bare", std.URL, map[string]string{"Authorization": testToken}, 200},
		{"lower-case scheme, spaces", std.URL, map[string]string{"Authorization": "  bearer   " + testToken + " "}, 200},
		{"custom header", custom.URL, map[string]string{"X-Flabs-Token": "Bearer " + testToken}, 200},
		{"custom header, token in Authorization", custom.URL, map[string]string{"Authorization": "Bearer " + testToken}, 401},
		{"no token configured", open.URL, nil, 200},
	}
	for i, tt := range tests {
		body := event(flabs.EventBillCreated, idf("tok:%d", i), idf("bill-%d", i), t0)
		if a := send(t, "POST", tt.url, tt.header, body); a.Code != tt.code {
			t.Errorf("%s: %d %q, want %d", tt.name, a.Code, a.Error, tt.code)
		}
	}
}

// The same event delivered twice is stored once, answered 200 both
// times, and its second delivery counted.
func TestDuplicateDelivery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		addBookings(t, db, "sunrise:SR-1001")
		srv := startReceiver(t, db, tokenConfig(), webhook.Options{})
		body := fixture(t, "report_completed_1.json")
		// The same event re-encoded (other spacing, other key order) is the same event.
		reencoded := []byte(strings.Join(strings.Fields(string(body)), ""))
		for i, b := range [][]byte{body, body, reencoded} {
			a := post(t, srv.URL, b)
			want := "duplicate"
			if i == 0 {
				want = "stored"
			}
			if a.Code != 200 || a.Status != want {
				t.Errorf("delivery %d: %d %q, want 200 %q", i+1, a.Code, a.Status, want)
			}
		}
		raw, events, deliveries := counts(t, db)
		if raw != 1 || events != 1 || deliveries != 3 {
			t.Errorf("raw %d, events %d, deliveries %d; want 1, 1, 3", raw, events, deliveries)
		}
		st := states(t, db)["sunrise:SR-1001"]
		if st.ReportsCompleted != 1 {
			t.Errorf("reports_completed = %d after one report delivered three times, want 1", st.ReportsCompleted)
		}
		if s := srv.Stats(); s.Stored != 1 || s.Duplicates != 2 {
			t.Errorf("Stats stored %d duplicates %d, want 1 and 2", s.Stored, s.Duplicates)
		}
	})
}

// Events folded in any order give the state they would in order:
// bill.completed before bill.created is completed, a late bill.created
// does not undo it, and deleted dominates.
func TestOutOfOrderDelivery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		addBookings(t, db, "sunrise:SR-1001", "metro:MT-77")
		srv := startReceiver(t, db, tokenConfig(), webhook.Options{})
		timeline := []string{"bill_completed.json", "report_completed_2.json", "bill_created.json", "report_completed_1.json"}
		for _, name := range timeline {
			if a := post(t, srv.URL, fixture(t, name)); a.Code != 200 || a.Status != "stored" {
				t.Fatalf("%s: %d %q %q", name, a.Code, a.Status, a.Error)
			}
		}
		st := states(t, db)["sunrise:SR-1001"]
		if st.State != "completed" || st.BillID != "6560b0c1d2e3f4a5b6c7d8e9" || st.ReportsCompleted != 2 || st.BillsSeen != 1 {
			t.Errorf("state after reversed timeline = %+v; want completed, 2 reports, 1 bill", st)
		}
		if st.CreatedAt.Unix() != 1795939200 || st.CompletedAt.Unix() != 1795941900 || st.LastEventAt.Unix() != 1795941900 {
			t.Errorf("times created %v completed %v last %v; want those of the events, not of arrival", st.CreatedAt, st.CompletedAt, st.LastEventAt)
		}
		// deleted dominates, whichever comes first
		for i, b := range [][]byte{
			event(flabs.EventBillDeleted, "metro:MT-77", "bill-m", t0.Add(3600e9)),
			event(flabs.EventBillCreated, "metro:MT-77", "bill-m", t0),
			event(flabs.EventBillCompleted, "metro:MT-77", "bill-m", t0.Add(7200e9)),
		} {
			if a := post(t, srv.URL, b); a.Code != 200 {
				t.Fatalf("metro event %d: %d", i, a.Code)
			}
		}
		if st := states(t, db)["metro:MT-77"]; st.State != "deleted" || st.DeletedAt.Unix() != t0.Add(3600e9).Unix() {
			t.Errorf("metro state = %+v; want deleted", st)
		}
	})
}

// Events for integrator IDs flabsync never sent — a bill made by lab
// staff has none at all — are stored and marked, not dropped.
func TestOrphans(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		addBookings(t, db, "sunrise:SR-1001")
		srv := startReceiver(t, db, tokenConfig(), webhook.Options{})
		for _, b := range [][]byte{fixture(t, "bill_created.json"), fixture(t, "orphan_staff_bill.json"),
			event(flabs.EventBillCreated, "other-system:42", "bill-x", t0)} {
			if a := post(t, srv.URL, b); a.Code != 200 || a.Status != "stored" {
				t.Fatalf("%d %q %q", a.Code, a.Status, a.Error)
			}
		}
		var orphans []string
		if err := db.SelectContext(t.Context(), &orphans, db.Rebind(`SELECT integrator_id FROM webhook_events WHERE orphan = ? ORDER BY integrator_id`), true); err != nil {
			t.Fatal(err)
		}
		if strings.Join(orphans, ",") != ",other-system:42" {
			t.Errorf("orphan events %q; want the staff bill (no ID) and other-system:42", orphans)
		}
		all := states(t, db)
		if !all["other-system:42"].Orphan || all["other-system:42"].State != "created" || all["sunrise:SR-1001"].Orphan {
			t.Errorf("booking states %+v; want other-system:42 created and orphan, sunrise:SR-1001 not", all)
		}
		if s := srv.Stats(); s.Orphans != 2 {
			t.Errorf("Stats.Orphans = %d, want 2", s.Orphans)
		}
	})
}

// 500 events for integrator IDs flabsync never sent, delivered at once,
// make a summary line or two at INFO (the first orphan at once, the rest
// at Close or after OrphanLogInterval), not a line each; the counter and
// the lines' totals both say 500.
func TestOrphansLoggedAsSummary(t *testing.T) {
	const n = 500
	db := storetest.OpenSQLite(t)
	var logs lockedBuffer
	r := webhook.New(db, tokenConfig(), slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	// Its port may be one an earlier test's receiver had, which the
	// shared client refuses to dial once stopped: this one is new.
	clientConns.open(srv.Listener.Addr().String())
	start := time.Now()
	var wg sync.WaitGroup
	ids := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range ids {
				if a := post(t, srv.URL, event(flabs.EventBillCreated, idf("other-system:%d", i), idf("bill-%d", i), t0)); a.Code != 200 || a.Status != "stored" {
					t.Errorf("delivery %d: %d %q %q", i, a.Code, a.Status, a.Error)
				}
			}
		})
	}
	for i := range n {
		ids <- i
	}
	close(ids)
	wg.Wait()
	elapsed := time.Since(start)
	r.Close()
	if s := r.Stats(); s.Orphans != n || s.Stored != n {
		t.Errorf("Stats: %d orphans, %d stored; want %d each", s.Orphans, s.Stored, n)
	}
	var lines, total int
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !strings.Contains(l, "orphan") {
			continue
		}
		lines++
		var k int
		if _, err := fmt.Sscanf(l[strings.Index(l, " orphans=")+1:], "orphans=%d", &k); err != nil {
			t.Errorf("summary line without a count: %s", l)
		}
		total += k
	}
	if most := 2 + int(elapsed/webhook.OrphanLogInterval); lines == 0 || lines > most {
		t.Errorf("%d log lines about orphans in %s; want 1 to %d:\n%s", lines, elapsed, most, logs.String())
	}
	if total != n {
		t.Errorf("the summary lines count %d orphans, want %d:\n%s", total, n, logs.String())
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lead.created and unknown events are stored (the raw body and the
// event) but change no booking.
func TestOtherEventsStoredNotFolded(t *testing.T) {
	db := storetest.OpenSQLite(t)
	srv := startReceiver(t, db, tokenConfig(), webhook.Options{})
	for _, b := range []string{
		`{"eventType":"lead.created","eventTime":1795939200,"data":{"leadId":"6530a4a6f1d2c8b7e9a54321","integratorID":"crm-1"}}`,
		`{"eventType":"bill.reopened","eventTime":1795939200,"data":{"billID":"b1","integratorID":"sunrise:SR-1"}}`,
	} {
		if a := post(t, srv.URL, []byte(b)); a.Code != 200 || a.Status != "stored" {
			t.Errorf("%s: %d %q %q", b, a.Code, a.Status, a.Error)
		}
	}
	if _, events, _ := counts(t, db); events != 2 {
		t.Errorf("%d events stored, want 2", events)
	}
	if n := len(states(t, db)); n != 0 {
		t.Errorf("%d booking states written for events that touch no bill", n)
	}
}

// Ingest (replay) goes through the same dedupe: a body already received
// over HTTP is a duplicate; an invalid one is reported, not stored.
func TestIngest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		srv := startReceiver(t, db, tokenConfig(), webhook.Options{})
		post(t, srv.URL, fixture(t, "bill_created.json"))
		ctx := context.Background()
		for _, tt := range []struct {
			body []byte
			want webhook.Status
		}{
			{fixture(t, "bill_created.json"), webhook.StatusDuplicate},
			{fixture(t, "bill_completed.json"), webhook.StatusStored},
			{fixture(t, "bill_completed.json"), webhook.StatusDuplicate},
			{[]byte(`{"eventType": 7}`), webhook.StatusInvalid},
		} {
			res, err := srv.Ingest(ctx, tt.body, "replay")
			if err != nil || res.Status != tt.want {
				t.Errorf("Ingest = %+v, %v; want %s", res, err, tt.want)
			}
		}
		if raw, events, _ := counts(t, db); raw != 2 || events != 2 {
			t.Errorf("raw %d events %d, want 2 and 2 (the invalid replayed body is not stored)", raw, events)
		}
	})
}

// After Close, deliveries are answered 503 (Flabs may try again; nothing
// half-stored).
func TestClosedReceiverAnswers503(t *testing.T) {
	db := storetest.OpenSQLite(t)
	srv := startReceiver(t, db, tokenConfig(), webhook.Options{})
	srv.Close()
	if a := post(t, srv.URL, fixture(t, "bill_created.json")); a.Code != http.StatusServiceUnavailable {
		t.Errorf("after Close: %d, want 503", a.Code)
	}
	if _, err := srv.Ingest(context.Background(), fixture(t, "bill_created.json"), "x"); err != webhook.ErrClosed {
		t.Errorf("Ingest after Close: %v, want ErrClosed", err)
	}
}
