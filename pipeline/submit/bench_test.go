package submit_test

import (
	"context"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/pipeline/submit"
)

// benchSubmit sends n bookings through the real ledger (SQLite) to the
// simulator over loopback and reports bookings/s, the share of our own
// limit that was used, and the 429s seen. Each run takes n/limit seconds
// at least; run with -benchtime 1x.
func benchSubmit(b *testing.B, n int, limit float64, o flabstest.Options, opts submit.Options) {
	for range b.N {
		b.StopTimer()
		r := newRig(b, o, 5*time.Second)
		jobs := r.admit(b, "p", n)
		lim := submit.NewLimiter(limit, int(limit/10)+1)
		s := submit.New(r.client, r.ledger, lim, opts)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { s.Run(ctx); close(done) }()
		b.StartTimer()
		start := time.Now()
		res := s.Submit(ctx, jobs, nil)
		took := time.Since(start)
		b.StopTimer()
		cancel()
		<-done
		ok := 0
		for _, x := range res {
			if x.State == ledger.Submitted {
				ok++
			}
		}
		if ok != n {
			b.Fatalf("%d of %d submitted", ok, n)
		}
		if d := r.sim.DoubleBooked(); len(d) > 0 {
			b.Fatalf("double-booked: %v", d)
		}
		st := r.sim.Stats()
		rate := float64(n) / took.Seconds()
		b.ReportMetric(rate, "bookings/s")
		b.ReportMetric(100*rate/limit, "%-of-limit")
		b.ReportMetric(float64(lim.Throttles()), "429s")
		b.ReportMetric(float64(st.Failed.Load()), "5xx")
		b.ReportMetric(float64(st.Requests.Load()-int64(n)), "extra-requests")
	}
}

// Flabs answers in 100 ms and allows anything; our limit is 50/s.
func BenchmarkSubmitAtLimit(b *testing.B) {
	benchSubmit(b, 5000, 50, flabstest.Options{Latency: 100 * time.Millisecond},
		submit.Options{Concurrency: 8, MaxAttempts: 8})
}

// Flabs allows 30/s (burst 5) and answers 429 with Retry-After; our limit
// is 50/s.
func BenchmarkSubmitAboveFlabsLimit(b *testing.B) {
	benchSubmit(b, 1500, 50, flabstest.Options{Latency: 50 * time.Millisecond, RateLimit: 30, RateBurst: 5},
		submit.Options{Concurrency: 8, MaxAttempts: 20})
}

// One answer in ten is a 503; our limit is 50/s.
func BenchmarkSubmitWith5xx(b *testing.B) {
	benchSubmit(b, 2000, 50, flabstest.Options{Latency: 50 * time.Millisecond, FailRate: 0.1, Seed: 11},
		submit.Options{Concurrency: 8, MaxAttempts: 12, Backoff: submit.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}})
}
