package submit

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

// TestStaleSlotsKeepTheBurst: a limiter that takes ten slots a trip (as
// on PostgreSQL) uses one, then sits idle for half a second. The nine it
// kept are in the past by then; handed out, they would all go at once, a
// burst of 10 where 1 (or 3) is configured, drawing 429s. After the idle
// spell no more than the configured burst goes at the same moment, and
// the rate stays the configured one after it. In a synctest bubble, so
// the clock is exact.
func TestStaleSlotsKeepTheBurst(t *testing.T) {
	for _, burst := range []int{1, 3} {
		t.Run(fmt.Sprintf("burst %d", burst), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLimiter(100, burst, &memStore{}, func(float64) int { return 10 })
				ctx := context.Background()
				if _, err := l.Wait(ctx); err != nil {
					t.Fatal(err)
				}
				time.Sleep(500 * time.Millisecond)
				start := time.Now()
				var at []time.Duration
				for range 20 {
					if _, err := l.Wait(ctx); err != nil {
						t.Fatal(err)
					}
					at = append(at, time.Since(start))
				}
				now := 0
				for _, d := range at {
					if d == 0 {
						now++
					}
				}
				if now != burst {
					t.Errorf("%d requests let through at once after an idle spell at 100/s, burst %d: %v", now, burst, at)
				}
				// The first goes at once with the burst, the rest 10 ms apart.
				if want := time.Duration(20-burst) * 10 * time.Millisecond; at[19] != want {
					t.Errorf("20 requests took %s, want %s", at[19], want)
				}
			})
		})
	}
}
