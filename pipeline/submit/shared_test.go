package submit_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/pipeline/submit"
)

// process is one flabsync process's worth of sending: its own database
// connection, its own limiter on the shared flabs_limit row, its own
// submitter.
type process struct {
	name string
	lim  *submit.Limiter
	sub  *submit.Submitter
	stop context.CancelFunc
	done chan struct{}
}

func startProcess(t *testing.T, name, dsn string, cl *flabs.Client, perSecond float64) *process {
	t.Helper()
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	lim := submit.LimiterFor(db, flabstest.DefaultClientID, perSecond, max(1, int(perSecond/10)))
	sub := submit.New(cl, &memRecorder{}, lim, submit.Options{Concurrency: 8, MaxAttempts: 100, Holder: name,
		Backoff: submit.Backoff{Min: 100 * time.Millisecond, Max: time.Second}})
	ctx, cancel := context.WithCancel(context.Background())
	p := &process{name: name, lim: lim, sub: sub, stop: cancel, done: make(chan struct{})}
	go func() { sub.Run(ctx); close(p.done) }()
	t.Cleanup(func() { cancel(); <-p.done })
	return p
}

// jobs are n bookings of partner, numbered from its name.
func jobs(partner string, n int) []ledger.Job {
	out := make([]ledger.Job, n)
	for i := range out {
		id := fmt.Sprintf("%s:%06d", partner, i)
		out[i] = ledger.Job{IntegratorID: id, Partner: partner, Request: request(id)}
	}
	return out
}

// booked counts the simulator's bookings of the integrator IDs starting
// with prefix made in (from, to].
func booked(sim *flabstest.Server, prefix string, from, to time.Time) int {
	n := 0
	for _, b := range sim.Bookings() {
		if len(b.Request.IntegratorID) >= len(prefix) && b.Request.IntegratorID[:len(prefix)] == prefix && b.Received.After(from) && !b.Received.After(to) {
			n++
		}
	}
	return n
}

func newLoopSim(t *testing.T, o flabstest.Options) (*flabstest.Server, *flabs.Client) {
	t.Helper()
	o.Webhooks.Manual = true
	sim := flabstest.NewTestServer(t, o)
	cl, err := flabs.NewClient(flabs.Config{BaseURL: sim.URL(), ClientID: flabstest.DefaultClientID,
		ClientSecret: flabstest.DefaultClientSecret, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return sim, cl
}

// TestTwoProcessesShareOneLimit: two processes on one PostgreSQL, each
// configured for Flabs' real limit. Together they stay at that limit,
// with few 429s, and both do work. (Each with a limit of its own, they
// would send twice the limit and meet a 429 in every other request.)
func TestTwoProcessesShareOneLimit(t *testing.T) {
	dsn := storetest.PostgresSchemaURL(t)
	const limit = 40.0
	sim, cl := newLoopSim(t, flabstest.Options{RateLimit: limit, Latency: 20 * time.Millisecond})
	a := startProcess(t, "a", dsn, cl, limit)
	b := startProcess(t, "b", dsn, cl, limit)
	const each = 60
	start := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() { a.sub.Submit(context.Background(), jobs("a", each), nil) })
	wg.Go(func() { b.sub.Submit(context.Background(), jobs("b", each), nil) })
	wg.Wait()
	took := time.Since(start)
	na, nb := booked(sim, "a:", start, time.Now()), booked(sim, "b:", start, time.Now())
	rate := float64(na+nb) / took.Seconds()
	n429 := sim.Stats().RateLimited.Load()
	t.Logf("%d + %d bookings in %s: %.1f/s against Flabs' %.0f/s, %d × 429", na, nb, took.Round(time.Millisecond), rate, limit, n429)
	if na != each || nb != each {
		t.Errorf("booked %d and %d, want %d each", na, nb, each)
	}
	// The first second holds both processes' bursts (a tenth of the rate
	// each): allow for them.
	if rate > limit*1.1 {
		t.Errorf("together %.1f/s, over Flabs' %.0f/s", rate, limit)
	}
	if n429 > 3 {
		t.Errorf("%d × 429: the processes did not share the limit", n429)
	}
}

// TestStoppedProcessLeavesItsShare: of two processes taking slots from
// the shared limit as fast as it gives them, one stops; within half a
// second the other gets the whole rate. It counts what the limiter hands
// out (no HTTP in between), so a loaded machine does not blur it.
func TestStoppedProcessLeavesItsShare(t *testing.T) {
	dsn := storetest.PostgresSchemaURL(t)
	const limit = 40.0
	open := func() *submit.Limiter {
		db, err := store.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return submit.SharedLimiter(db, "acct", limit, 1)
	}
	a, b := open(), open()
	// take counts the slots l hands out from now until ctx ends.
	take := func(ctx context.Context, l *submit.Limiter, n *atomic.Int64) {
		for ctx.Err() == nil {
			if _, err := l.Wait(ctx); err == nil {
				n.Add(1)
			}
		}
	}
	aCtx, stopA := context.WithCancel(context.Background())
	defer stopA()
	var na, nb atomic.Int64
	go take(aCtx, a, &na)
	bCtx, stopB := context.WithCancel(context.Background())
	defer stopB()
	go take(bCtx, b, &nb)
	time.Sleep(500 * time.Millisecond) // both under way
	b0, start := nb.Load(), time.Now()
	time.Sleep(2 * time.Second)
	bShared := float64(nb.Load()-b0) / time.Since(start).Seconds()
	stopA()
	time.Sleep(500 * time.Millisecond) // a's reserved tenth of a second runs out
	b1, from := nb.Load(), time.Now()
	time.Sleep(2 * time.Second)
	bAlone := float64(nb.Load()-b1) / time.Since(from).Seconds()
	t.Logf("b gets %.1f/s beside a, %.1f/s alone (limit %.0f/s)", bShared, bAlone, limit)
	if bShared > limit*0.7 {
		t.Errorf("b got %.1f/s beside a: not sharing", bShared)
	}
	if bAlone < limit*0.85 {
		t.Errorf("b got %.1f/s once a had stopped; want the whole %.0f/s", bAlone, limit)
	}
}

// TestOneProcess429SlowsAll: a 429 that one process meets pauses the
// other for its Retry-After and cuts the lab's rate.
func TestOneProcess429SlowsAll(t *testing.T) {
	dsn := storetest.PostgresSchemaURL(t)
	open := func() *submit.Limiter {
		db, err := store.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return submit.SharedLimiter(db, "acct", 20, 1)
	}
	a, b := open(), open()
	ctx := context.Background()
	s, err := a.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Throttled(ctx, s, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	// b may hold a slot or two it took before (a tenth of a second's
	// worth); the ones after wait out a's pause.
	start := time.Now()
	for range 5 {
		if _, err := b.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if waited := time.Since(start); waited < 1500*time.Millisecond {
		t.Errorf("b sent 5 requests %s after a's 429 with Retry-After 2s", waited.Round(time.Millisecond))
	}
	if r := b.Rate(); r >= 20 {
		t.Errorf("b's rate after a's 429: %.1f/s, want under the configured 20/s", r)
	}
}
