package submit

import (
	"math/rand/v2"
	"time"
)

// Backoff is the wait before retry number attempt (1 for the first retry):
// "full jitter" — uniform between 0 and min(Max, Min·2^(attempt-1)), never
// less than Min — and never shorter than the server's Retry-After.
type Backoff struct {
	Min time.Duration // default 1s
	Max time.Duration // default 5m
}

// Delay returns how long to wait before retry attempt.
func (b Backoff) Delay(attempt int, retryAfter time.Duration) time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = time.Second
	}
	if hi <= 0 {
		hi = 5 * time.Minute
	}
	ceiling := hi
	if attempt < 1 {
		attempt = 1
	}
	if attempt <= 30 {
		if c := lo << (attempt - 1); c > 0 && c < hi {
			ceiling = c
		}
	}
	d := lo + time.Duration(rand.Int64N(int64(ceiling-lo)+1))
	if d < retryAfter {
		d = retryAfter
	}
	return d
}
