package submit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is the one rate limit every request to Flabs passes, shared by
// all files and partners. On a 429 it halves its rate and its burst (once
// per second at most: the requests already in flight answer 429
// together) and holds every caller until Retry-After has passed. Each
// second's worth of successes then raises the rate quickly back to 90% of
// the rate that drew the 429; above that it probes in small steps (1/32 of
// the configured rate) every ten seconds' worth of successes, up to the
// configured rate. It settles just under Flabs' own limit with few 429s.
type Limiter struct {
	lim   *rate.Limiter
	max   rate.Limit
	floor rate.Limit
	step  rate.Limit
	burst int

	mu        sync.Mutex
	pauseTill time.Time
	lastCut   time.Time
	ceiling   rate.Limit // 90% of the rate that last drew a 429
	streak    int

	throttled atomic.Int64
}

// NewLimiter allows perSecond requests with bursts of burst.
func NewLimiter(perSecond float64, burst int) *Limiter {
	top := rate.Limit(perSecond)
	return &Limiter{
		lim:   rate.NewLimiter(top, max(1, burst)),
		max:   top,
		floor: top / 32,
		step:  top / 8,
		burst: max(1, burst),
	}
}

// Wait blocks until a request may go: past any Retry-After pause, then a
// token from the bucket.
func (l *Limiter) Wait(ctx context.Context) error {
	for {
		l.mu.Lock()
		d := time.Until(l.pauseTill)
		l.mu.Unlock()
		if d <= 0 {
			break
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return l.lim.Wait(ctx)
}

// Throttled records a 429: the rate halves (not below 1/32 of the
// configured rate) and, with a Retry-After, every caller waits it out.
func (l *Limiter) Throttled(retryAfter time.Duration) {
	l.throttled.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.streak = 0
	now := time.Now()
	if now.Sub(l.lastCut) >= time.Second {
		l.lastCut = now
		l.ceiling = l.lim.Limit() * 9 / 10
		l.lim.SetLimit(max(l.floor, l.lim.Limit()/2))
		// Bursts are what a server's bucket punishes first: send evenly
		// spaced until the rate is whole again.
		l.lim.SetBurst(max(1, l.lim.Burst()/2))
	}
	if retryAfter > 0 {
		if until := time.Now().Add(retryAfter); until.After(l.pauseTill) {
			l.pauseTill = until
		}
	}
}

// Succeeded records an answered request; enough in a row raise the rate a
// step toward the configured one.
func (l *Limiter) Succeeded() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lim.Limit() >= l.max {
		return
	}
	l.streak++
	r := l.lim.Limit()
	below := r < l.ceiling
	need := max(5, int(r)) // about a second's worth of successes
	if !below {
		need *= 10 // near the rate that drew a 429: probe every ten seconds
	}
	if l.streak >= need {
		l.streak = 0
		if below {
			r = min(l.ceiling, r+l.step)
		} else {
			r += l.max / 32
		}
		l.lim.SetLimit(min(l.max, r))
		if l.lim.Limit() >= l.max {
			l.lim.SetBurst(l.burst)
		}
	}
}

// Rate is the current rate in requests per second.
func (l *Limiter) Rate() float64 { return float64(l.lim.Limit()) }

// Throttles counts the 429s seen.
func (l *Limiter) Throttles() int64 { return l.throttled.Load() }
