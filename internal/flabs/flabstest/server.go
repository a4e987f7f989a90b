// Package flabstest is a faithful simulator of the Flabs LIS client API,
// built from internal/flabs/flabs-api.md: every documented endpoint, validating
// requests exactly as documented, with the undocumented behaviours
// (duplicate integrator_id, error bodies, rate limits, token lifetime)
// configurable and defaulting to that document's suggestions. It injects
// faults (latency, 5xx, hung answers, dropped connections, 429) and emits
// webhooks in the documented payload shape, with drops, duplicates and
// reordering. Every random choice is seeded, and is keyed by what it is
// about (an integrator_id and attempt, a bill) rather than arrival order, so
// concurrent clients see the same decisions run after run.
//
// Use NewTestServer in tests, like httptest, or NewPipeServer inside a
// testing/synctest bubble; `flabsync sim` serves New's handler on a real
// address.
package flabstest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/flabsync/flabsync/internal/flabs"
)

// Server is the simulated Flabs. It is an http.Handler; its methods are
// safe for concurrent use.
type Server struct {
	opts     Options
	limiter  *rate.Limiter
	hooks    *emitter
	url      string
	ts       *httptest.Server
	client   *http.Client // reaches ts or the pipe server
	stopPipe func()       // NewPipeServer's

	mu        sync.Mutex
	auth      map[string]time.Time // auth token → expiry
	refresh   map[string]bool      // valid refresh tokens
	bookings  map[string][]*Booking
	order     []*Booking
	barcodes  map[string]string // barCode → integrator_id
	attempts  map[string]int    // integrator_id → billing creates seen
	subs      []Subscription
	requests  []Request
	idCounter uint64
	calls     uint64 // fault key for calls with no integrator_id

	stats Stats
}

// Stats counts what the simulator answered.
type Stats struct {
	Requests     atomic.Int64
	Created      atomic.Int64 // bookings created (a double booking counts twice)
	Duplicates   atomic.Int64 // repeated integrator_id answered per DuplicateMode
	Rejected     atomic.Int64 // 400s
	Forbidden    atomic.Int64 // 403s (Options.ForbiddenLeadSources)
	Unauthorized atomic.Int64
	RateLimited  atomic.Int64 // 429s
	Failed       atomic.Int64 // injected 503s
	TimedOut     atomic.Int64 // injected hangs
	Dropped      atomic.Int64 // injected connection drops
}

// Booking is one pre-booking the simulator created.
type Booking struct {
	PreBookingID string
	BillID       string
	Received     time.Time
	Request      flabs.BillingRequest
}

// Request is one request the simulator received, for tests to inspect.
type Request struct {
	Time         time.Time
	Method       string
	Path         string
	Status       int    // 0 when the connection was dropped
	IntegratorID string // billing create only
	Fault        string // "", "fail", "timeout", "drop", "ratelimit"
	Message      string // the error message answered, if any
}

// Subscription is one registered webhook.
type Subscription struct {
	LabID         string
	Events        []string
	Endpoint      string
	AuthToken     string
	CorporateUser string
	Organization  string
}

// New returns a simulator with opts. Unless opts.Webhooks.Manual, it runs
// a dispatcher goroutine until Close.
func New(opts Options) *Server {
	opts.setDefaults()
	s := &Server{
		opts:     opts,
		auth:     map[string]time.Time{},
		refresh:  map[string]bool{},
		bookings: map[string][]*Booking{},
		barcodes: map[string]string{},
		attempts: map[string]int{},
	}
	if opts.RateLimit > 0 {
		s.limiter = rate.NewLimiter(rate.Limit(opts.RateLimit), opts.RateBurst)
	}
	s.hooks = newEmitter(s)
	return s
}

// TB is the part of testing.TB that NewTestServer, NewPipeServer and
// ServePipe use. *testing.T, *testing.B and *testing.F satisfy it;
// declaring it here keeps the testing package out of the binaries that
// link the simulator (flabsync sim, demo).
type TB interface {
	Helper()
	Cleanup(func())
}

// NewTestServer starts a simulator on a loopback httptest server and
// closes it when the test ends.
func NewTestServer(tb TB, opts Options) *Server {
	tb.Helper()
	s := New(opts)
	s.ts = httptest.NewServer(s)
	s.url = s.ts.URL
	s.client = s.ts.Client()
	tb.Cleanup(s.Close)
	return s
}

// URL is the base URL of a server started by NewTestServer or
// NewPipeServer, or the one set with SetURL.
func (s *Server) URL() string { return s.url }

// Client returns a client for a server started by NewTestServer or
// NewPipeServer (the only one that reaches the latter), or nil for one
// made with New.
func (s *Server) Client() *http.Client { return s.client }

// SetURL records the base URL the simulator is served on (for logs).
func (s *Server) SetURL(u string) { s.url = u }

// Close stops the dispatcher (pending deliveries are abandoned) and the
// test or pipe server, if any. It is idempotent.
func (s *Server) Close() {
	s.hooks.close()
	if s.ts != nil {
		s.ts.CloseClientConnections()
		s.ts.Close()
	}
	if s.stopPipe != nil {
		s.stopPipe()
	}
}

// Stats returns the live counters.
func (s *Server) Stats() *Stats { return &s.stats }

// Bookings returns every booking created, in creation order.
func (s *Server) Bookings() []*Booking {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Booking(nil), s.order...)
}

// BookingsFor returns the bookings of one integrator_id (more than one
// only under DuplicateAccept).
func (s *Server) BookingsFor(integratorID string) []*Booking {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Booking(nil), s.bookings[integratorID]...)
}

// DoubleBooked returns the integrator_ids booked more than once.
func (s *Server) DoubleBooked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, bs := range s.bookings {
		if len(bs) > 1 {
			ids = append(ids, id)
		}
	}
	return ids
}

// Requests returns every request received, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Subscriptions returns the registered webhooks.
func (s *Server) Subscriptions() []Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]Subscription(nil), s.subs...)
	for i := range out {
		out[i].Events = slices.Clone(out[i].Events)
	}
	return out
}

// ServeHTTP routes the documented endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.stats.Requests.Add(1)
	rec := &recorder{ResponseWriter: w}
	// Record on arrival so Requests() keeps arrival order even when the
	// answer (or a dropped connection) comes later; fill in the status at
	// the end.
	req := Request{Time: s.opts.Now(), Method: r.Method, Path: r.URL.Path}
	s.mu.Lock()
	idx := len(s.requests)
	s.requests = append(s.requests, req)
	s.mu.Unlock()
	defer func() {
		req.Status, req.Message = rec.status, rec.msg
		s.mu.Lock()
		s.requests[idx] = req
		s.mu.Unlock()
	}()

	type route struct {
		method string
		auth   bool
		h      func(http.ResponseWriter, *http.Request, *Request)
	}
	routes := map[string]route{
		flabs.PathToken:         {http.MethodPost, false, s.handleToken},
		flabs.PathTokenRefresh:  {http.MethodPost, false, s.handleRefresh},
		flabs.PathBillingCreate: {http.MethodPost, true, s.handleBilling},
		flabs.PathSubscribe:     {http.MethodPost, true, s.handleSubscribe},
		flabs.PathLabs:          {http.MethodGet, true, func(w http.ResponseWriter, r *http.Request, _ *Request) { s.handleLabs(w, r) }},
		flabs.PathTests: {http.MethodGet, true, func(w http.ResponseWriter, r *http.Request, _ *Request) {
			s.handleCatalogue(w, r, s.opts.Tests, "cost")
		}},
		flabs.PathPackages: {http.MethodGet, true, func(w http.ResponseWriter, r *http.Request, _ *Request) {
			s.handleCatalogue(w, r, s.opts.Packages, "total")
		}},
	}
	rt, ok := routes[r.URL.Path]
	if !ok {
		s.fail(rec, http.StatusNotFound, "no such endpoint")
		return
	}
	if r.Method != rt.method {
		rec.Header().Set("Allow", rt.method)
		s.fail(rec, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if rt.auth {
		if !s.rateOK(rec, &req) {
			return
		}
		if !s.authorized(r) {
			s.stats.Unauthorized.Add(1)
			s.writeError(rec, http.StatusUnauthorized, "Unauthorized")
			return
		}
	}
	rt.h(rec, r, &req)
}

// rateOK applies the rate limit, answering 429 with Retry-After.
func (s *Server) rateOK(w http.ResponseWriter, req *Request) bool {
	if s.limiter == nil {
		return true
	}
	res := s.limiter.Reserve()
	wait := res.Delay()
	if wait == 0 {
		return true
	}
	res.Cancel()
	s.stats.RateLimited.Add(1)
	req.Fault = "ratelimit"
	ra := s.opts.RetryAfter
	if ra <= 0 {
		ra = max(time.Second, wait)
	}
	w.Header().Set("Retry-After", fmt.Sprint(int((ra+time.Second-1)/time.Second)))
	s.writeError(w, http.StatusTooManyRequests, "Too many requests")
	return false
}

// fault decides, for the call identified by key, whether to inject a
// fault, then sleeps the configured latency. It returns the fault chosen.
func (s *Server) fault(w http.ResponseWriter, r *http.Request, key string, req *Request) (fault string) {
	o := &s.opts
	lat := o.Latency
	if o.LatencyJitter > 0 {
		lat += time.Duration(chance(o.Seed, "latency", key) * float64(o.LatencyJitter))
	}
	if lat > 0 {
		t := time.NewTimer(lat)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	switch p := chance(o.Seed, "fault", key); {
	case o.FaultScript != nil:
		fault = o.FaultScript[key]
	case p < o.FailRate:
		fault = "fail"
	case p < o.FailRate+o.DropRate:
		fault = "drop"
	case p < o.FailRate+o.DropRate+o.TimeoutRate:
		fault = "timeout"
	}
	req.Fault = fault
	switch fault {
	case "fail":
		s.stats.Failed.Add(1)
		s.writeError(w, http.StatusServiceUnavailable, "Service temporarily unavailable")
	case "drop":
		s.stats.Dropped.Add(1)
		if hj, ok := w.(interface{ Unwrap() http.ResponseWriter }); ok {
			if h, ok := hj.Unwrap().(http.Hijacker); ok {
				if conn, _, err := h.Hijack(); err == nil {
					conn.Close()
					return fault
				}
			}
		}
		panic(http.ErrAbortHandler) // closes the connection on HTTP/2 too
	}
	return fault
}

// hang holds the answer back until the client gives up or HangFor passes.
func (s *Server) hang(w http.ResponseWriter, r *http.Request) {
	s.stats.TimedOut.Add(1)
	t := time.NewTimer(s.opts.HangFor)
	defer t.Stop()
	select {
	case <-t.C:
		s.writeError(w, http.StatusGatewayTimeout, "Gateway timeout")
	case <-r.Context().Done():
	}
}

func (s *Server) nextCallKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	return fmt.Sprintf("call-%d", s.calls)
}

// newID returns a fresh 24-hex ObjectId-like ID.
func (s *Server) newID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newIDLocked()
}

func (s *Server) newIDLocked() string {
	s.idCounter++
	return objectID(s.opts.Seed, s.idCounter)
}

func objectID(seed int64, n uint64) string {
	var b [12]byte
	sum := sha256.Sum256(fmt.Appendf(nil, "%d/%d", seed, n))
	copy(b[:8], sum[:8])
	binary.BigEndian.PutUint32(b[8:], uint32(n))
	return hex.EncodeToString(b[:])
}

// hashID returns a 24-hex ID fixed by the seed and the parts.
func hashID(seed int64, parts ...string) string {
	h := sha256.New()
	fmt.Fprint(h, seed)
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// chance returns a number in [0,1) fixed by the seed and the parts.
func chance(seed int64, parts ...string) float64 {
	h := sha256.New()
	fmt.Fprint(h, seed)
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	sum := h.Sum(nil)
	return float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
}

// fail answers a request-level error in the configured style.
func (s *Server) fail(w http.ResponseWriter, status int, msg string) {
	if rec, ok := w.(*recorder); ok {
		rec.msg = msg
	}
	if status == http.StatusBadRequest {
		s.stats.Rejected.Add(1)
		if s.opts.ErrorStyle == ErrorOKFalse {
			s.writeJSON(w, http.StatusOK, map[string]any{"success": false, "message": msg})
			return
		}
	}
	s.writeError(w, status, msg)
}

// writeError writes a non-2xx answer in the configured body style.
func (s *Server) writeError(w http.ResponseWriter, status int, msg string) {
	if rec, ok := w.(*recorder); ok {
		rec.msg = msg
	}
	if s.opts.ErrorStyle == ErrorText {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintln(w, msg)
		return
	}
	s.writeJSON(w, status, map[string]any{"success": false, "message": msg})
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// recorder remembers the status written.
type recorder struct {
	http.ResponseWriter
	status int
	msg    string // the error message written, if any
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}
