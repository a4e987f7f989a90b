package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/reconcile/webhook"
)

const testToken = "s3cret-webhook-token"

// testServer is a receiver served over real loopback HTTP.
type testServer struct {
	*webhook.Receiver
	URL  string
	stop func() // stops the server and closes the receiver
}

// startReceiver serves a receiver on db at 127.0.0.1:0 until the test
// ends (or stop is called). Stopping closes the test clients' connections
// to it first (see clientConns), so call stop only with no delivery in
// flight.
func startReceiver(tb testing.TB, db *store.DB, cfg config.Webhook, opts webhook.Options) *testServer {
	tb.Helper()
	def := config.Default().Webhook
	if cfg.Path == "" {
		cfg.Path = def.Path
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Listen = ln.Addr().String()
	clientConns.open(cfg.Listen)
	r := webhook.NewWithOptions(db, cfg, nil, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, ln) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		clientConns.closeAll(cfg.Listen)
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Serve: %v", err)
		}
		r.Close()
	}
	tb.Cleanup(stop)
	return &testServer{Receiver: r, URL: "http://" + cfg.Listen + cfg.Path, stop: stop}
}

// tokenConfig is the receiver config the tests use by default.
func tokenConfig() config.Webhook { return config.Webhook{AuthToken: testToken} }

// answer is a receiver's reply.
type answer struct {
	Code   int
	Status string `json:"status"`
	Error  string `json:"error"`
}

var httpClient = &http.Client{Timeout: 30 * time.Second, Transport: newTransport(64)}

// newTransport returns a client transport keeping up to maxIdle idle
// connections, dialling through clientConns.
func newTransport(maxIdle int) *http.Transport {
	return &http.Transport{DialContext: clientConns.dial, MaxIdleConnsPerHost: maxIdle, MaxIdleConns: maxIdle}
}

// clientConns tracks the connections the test clients open, by address,
// so that stopping a receiver can close them before it shuts down.
//
// http.Server.Shutdown closes idle keep-alive connections at once, but
// gives a connection that has not yet sent a request 5 s before treating
// it as idle (net/http, issue 22682). A Transport leaves such a
// connection behind whenever a request it dialled for is served by
// another connection freed meanwhile, and Shutdown then waited those 5 s
// in about one run of TestConcurrentDelivery in ten. Closing the client
// connections (and failing dials that complete afterwards) leaves the
// server none to wait for, whatever state they are in.
var clientConns = &connTracker{conns: map[string][]net.Conn{}, stopped: map[string]bool{}}

type connTracker struct {
	mu      sync.Mutex
	conns   map[string][]net.Conn // by the address dialled
	stopped map[string]bool       // receivers stopped: dials to them fail
}

// open marks addr as served by a new receiver (a port can be reused).
func (ct *connTracker) open(addr string) {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	delete(ct.stopped, addr)
}

func (ct *connTracker) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if ct.stopped[addr] {
		c.Close()
		return nil, fmt.Errorf("dial %s: the test stopped that receiver", addr)
	}
	ct.conns[addr] = append(ct.conns[addr], c)
	return c, nil
}

// closeAll closes every client connection to addr and fails the dials to
// it still under way.
func (ct *connTracker) closeAll(addr string) {
	ct.mu.Lock()
	ct.stopped[addr] = true
	cs := ct.conns[addr]
	delete(ct.conns, addr)
	ct.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
}

// post sends body with Authorization: Bearer testToken.
func post(tb testing.TB, url string, body []byte) answer {
	tb.Helper()
	return send(tb, http.MethodPost, url, map[string]string{"Authorization": "Bearer " + testToken}, body)
}

func send(tb testing.TB, method, url string, header map[string]string, body []byte) answer {
	tb.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil { // Errorf, not Fatalf: senders run on goroutines of their own
		tb.Errorf("%s %s: %v", method, url, err)
		return answer{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{Code: resp.StatusCode}
	if len(b) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &a); err != nil {
			tb.Fatalf("answer %q is not JSON: %v", b, err)
		}
	}
	return a
}

// event builds a bill event body.
func event(typ, integratorID, billID string, at time.Time, tests ...flabs.TestStatus) []byte {
	ev := flabs.Event{LabID: "6530a4a6f1d2c8b7e9a12345", EventType: typ, EventTime: at.Unix(),
		Data: flabs.EventData{BillID: billID, IntegratorID: integratorID, BillData: flabs.BillData{Status: "x", TestData: tests}}}
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	return b
}

func ts(id, status string) flabs.TestStatus { return flabs.TestStatus{ID: id, Status: status} }

var t0 = time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)

// addBookings records integrator IDs as sent, as the submission ledger
// does, so their events are not orphans.
func addBookings(tb testing.TB, db *store.DB, ids ...string) {
	tb.Helper()
	now := store.T(time.Now())
	for _, id := range ids {
		_, err := db.ExecContext(context.Background(), db.Rebind(`INSERT INTO bookings (integrator_id, partner, status, created_at, updated_at)
VALUES (?, 'sunrise', 'submitted', ?, ?)`), id, now, now)
		if err != nil {
			tb.Fatalf("add booking %s: %v", id, err)
		}
	}
}

// bookingState is a row of booking_state.
type bookingState struct {
	IntegratorID     string     `db:"integrator_id"`
	State            string     `db:"state"`
	BillID           string     `db:"bill_id"`
	BillsSeen        int        `db:"bills_seen"`
	ReportsCompleted int        `db:"reports_completed"`
	CreatedAt        store.Time `db:"created_at"`
	CompletedAt      store.Time `db:"completed_at"`
	DeletedAt        store.Time `db:"deleted_at"`
	LastEventAt      store.Time `db:"last_event_at"`
	Orphan           bool       `db:"orphan"`
}

func states(tb testing.TB, db *store.DB) map[string]bookingState {
	tb.Helper()
	var rows []bookingState
	if err := db.SelectContext(context.Background(), &rows, `SELECT integrator_id, state, bill_id, bills_seen, reports_completed,
	created_at, completed_at, deleted_at, last_event_at, orphan FROM booking_state`); err != nil {
		tb.Fatal(err)
	}
	out := map[string]bookingState{}
	for _, r := range rows {
		out[r.IntegratorID] = r
	}
	return out
}

// counts returns the rows in webhook_raw, webhook_events and the sum of
// deliveries counted on the events.
func counts(tb testing.TB, db *store.DB) (raw, events, deliveries int) {
	tb.Helper()
	ctx := context.Background()
	if err := db.GetContext(ctx, &raw, `SELECT COUNT(*) FROM webhook_raw`); err != nil {
		tb.Fatal(err)
	}
	if err := db.GetContext(ctx, &events, `SELECT COUNT(*) FROM webhook_events`); err != nil {
		tb.Fatal(err)
	}
	if err := db.GetContext(ctx, &deliveries, `SELECT COALESCE(SUM(deliveries), 0) FROM webhook_events`); err != nil {
		tb.Fatal(err)
	}
	return raw, events, deliveries
}

func fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "webhooks", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func fixtureNames(tb testing.TB) []string {
	tb.Helper()
	m, err := filepath.Glob(filepath.Join("..", "..", "fixtures", "webhooks", "*.json"))
	if err != nil || len(m) == 0 {
		tb.Fatalf("no webhook fixtures: %v", err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

func idf(format string, a ...any) string { return fmt.Sprintf(format, a...) }
