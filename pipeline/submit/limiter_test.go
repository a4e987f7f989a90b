package submit_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/pipeline/submit"
)

// memRecorder is a ledger that keeps nothing but the attempt count: the
// limit tests are about time, not about what the ledger proves.
type memRecorder struct {
	mu sync.Mutex
	n  map[string]int
}

func (m *memRecorder) Begin(_ context.Context, id, _ string) (ledger.Attempt, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n == nil {
		m.n = map[string]int{}
	}
	m.n[id]++
	return ledger.Attempt{N: m.n[id]}, nil
}

func (m *memRecorder) Settle(context.Context, ledger.Result) error { return nil }

// limitRun is one run of a submitter against a simulator that allows
// flabsPerSecond (its burst the same, Retry-After until a slot is free,
// at least a second: the simulator's defaults) while we are configured
// for ours.
type limitRun struct {
	ours, flabs float64
	latency     time.Duration
	length      time.Duration // how long to send
	settle      time.Duration // measured from here on
}

// limitResult is what the simulator saw after the settling time.
type limitResult struct {
	rate     float64 // bookings per second
	share    float64 // of Flabs' limit (or ours, when Flabs has none)
	per429   float64 // 429s a minute
	total429 int64
}

func (r limitResult) String() string {
	return fmt.Sprintf("%.2f bookings/s = %.3f of the limit, %.2f × 429 a minute (%d in all)", r.rate, r.share, r.per429, r.total429)
}

// run sends for run.length against sim through a client made by
// newClient, and measures what Flabs booked and refused after run.settle.
func (run limitRun) run(t testing.TB, sim *flabstest.Server, cl *flabs.Client) limitResult {
	t.Helper()
	lim := submit.NewLimiter(run.ours, max(1, int(run.ours/10)))
	s := submit.New(cl, &memRecorder{}, lim, submit.Options{Concurrency: 8, MaxAttempts: 1000,
		Backoff: submit.Backoff{Min: 100 * time.Millisecond, Max: 2 * time.Second}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	start := time.Now()
	n := int(run.ours*run.length.Seconds()) + 100 // more than can be sent
	jobs := make([]ledger.Job, n)
	for i := range jobs {
		id := fmt.Sprintf("p:%06d", i)
		jobs[i] = ledger.Job{IntegratorID: id, Partner: "p", Request: request(id)}
	}
	subCtx, stopSubmit := context.WithTimeout(ctx, run.length)
	s.Submit(subCtx, jobs, nil)
	stopSubmit()
	cancel()
	<-done
	from, to := start.Add(run.settle), start.Add(run.length)
	var booked, refused int
	for _, q := range sim.Requests() {
		if q.Path != flabs.PathBillingCreate || q.Time.Before(from) || q.Time.After(to) {
			continue
		}
		switch q.Status {
		case 200:
			booked++
		case 429:
			refused++
		}
	}
	secs := to.Sub(from).Seconds()
	limit := run.flabs
	if limit == 0 || run.ours < limit {
		limit = run.ours
	}
	return limitResult{rate: float64(booked) / secs, share: float64(booked) / secs / limit,
		per429: float64(refused) / secs * 60, total429: sim.Stats().RateLimited.Load()}
}

func pipeRun(t *testing.T, run limitRun) limitResult {
	sim := flabstest.NewPipeServer(t, flabstest.Options{RateLimit: run.flabs, Latency: run.latency, Webhooks: flabstest.WebhookOptions{Manual: true}})
	cl, err := flabs.NewClient(flabs.Config{BaseURL: sim.URL(), ClientID: flabstest.DefaultClientID,
		ClientSecret: flabstest.DefaultClientSecret, HTTPClient: sim.Client(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return run.run(t, sim, cl)
}

// TestLimitSettlesUnderFlabsLimit: Flabs allows less than we are
// configured for. After the first half-minute the rate stays at 0.95 of
// Flabs' limit or more, with a 429 a minute at most. On the simulator
// over in-memory connections in a synctest bubble, so ten minutes of its
// clock take about a second.
func TestLimitSettlesUnderFlabsLimit(t *testing.T) {
	for _, c := range []struct {
		ours, flabs float64
		minutes     time.Duration
	}{{20, 8, 10}, {50, 8, 8}, {45, 15, 10}} {
		t.Run(fmt.Sprintf("ours %.0f flabs %.0f", c.ours, c.flabs), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				got := pipeRun(t, limitRun{ours: c.ours, flabs: c.flabs, latency: 50 * time.Millisecond,
					length: c.minutes * time.Minute, settle: 30 * time.Second})
				t.Log(got)
				if got.share < 0.95 || got.per429 > 1 {
					t.Errorf("%v; want ≥ 0.95 of the limit, ≤ 1 × 429 a minute", got)
				}
			})
		})
	}
}

// TestLimitUnchangedAtFlabsLimit: configured at Flabs' own limit, the
// rate is the configured one and no 429 comes.
func TestLimitUnchangedAtFlabsLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		got := pipeRun(t, limitRun{ours: 10, flabs: 10, latency: 50 * time.Millisecond, length: 3 * time.Minute})
		t.Log(got)
		if got.share < 0.97 || got.total429 > 0 {
			t.Errorf("%v; want ≥ 0.97 of the limit and no 429", got)
		}
	})
}

// TestLimitUnderFlabsLimitRealTime is TestLimitSettlesUnderFlabsLimit's
// case from issue 22 (configured 20/s, Flabs 8/s) over loopback TCP in
// real time: three minutes. Set FLABSYNC_LIMIT_LONG=1 to run it.
func TestLimitUnderFlabsLimitRealTime(t *testing.T) {
	if os.Getenv("FLABSYNC_LIMIT_LONG") == "" {
		t.Skip("three minutes of real time: set FLABSYNC_LIMIT_LONG=1 to run it")
	}
	got := realRun(t, limitRun{ours: 20, flabs: 8, latency: 50 * time.Millisecond, length: 3 * time.Minute, settle: 30 * time.Second})
	t.Log(got)
	if got.share < 0.95 || got.per429 > 1 {
		t.Errorf("%v; want ≥ 0.95 of the limit, ≤ 1 × 429 a minute", got)
	}
}

func realRun(t testing.TB, run limitRun) limitResult {
	sim := flabstest.NewTestServer(t, flabstest.Options{RateLimit: run.flabs, Latency: run.latency, Webhooks: flabstest.WebhookOptions{Manual: true}})
	cl, err := flabs.NewClient(flabs.Config{BaseURL: sim.URL(), ClientID: flabstest.DefaultClientID,
		ClientSecret: flabstest.DefaultClientSecret, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return run.run(t, sim, cl)
}

// BenchmarkLimitUnderFlabsLimit is issue 22's case in real time over
// loopback: configured 20/s, Flabs 8/s, two minutes, measured after the
// first half-minute. Run with -benchtime 1x.
func BenchmarkLimitUnderFlabsLimit(b *testing.B) {
	for range b.N {
		got := realRun(b, limitRun{ours: 20, flabs: 8, latency: 50 * time.Millisecond, length: 2 * time.Minute, settle: 30 * time.Second})
		b.ReportMetric(got.rate, "bookings/s")
		b.ReportMetric(got.share, "share-of-limit")
		b.ReportMetric(got.per429, "429/min")
	}
}
