package submit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Limiter is the one rate limit every request to Flabs passes: shared by
// all files and partners of a process, and, on PostgreSQL, by every
// process of the lab (SharedLimiter): the limit belongs to the Flabs
// account, not to a process.
//
// Requests are spaced evenly at the current rate, with bursts of up to
// burst after a quiet spell (a token bucket kept as the time of its next
// free slot). Flabs' 429 is the only sign of its real limit, so the rate
// adapts to it (labState.throttled): on a 429 every caller waits out
// Retry-After, and the rate drops to just under the rate of answers
// measured since the last 429 — what Flabs really let through — and is
// held there for a while, then probed upward slowly, faster the longer
// no 429 comes. Against the simulator it settles at 0.99 of Flabs' limit
// with under one 429 a minute, and stays at the configured rate, with
// none, when Flabs allows that.
type Limiter struct {
	max   float64
	burst int
	st    limitStore
	batch func(rate float64) int // slots to take per trip to the store
	// recordFor bounds Throttled: a 429 it cannot record by then is
	// left unrecorded rather than hold up its caller (and shutdown).
	recordFor time.Duration

	mu    sync.Mutex
	slots []slot        // taken, not yet handed out
	idle  time.Duration // slots' worth thrown away unused, not yet added to the lab's Idle
	seen  labState
	seenT time.Time // local time seen was read
	epoch int64     // the cut seen; a slot from before a cut is thrown away

	answered  atomic.Int64 // answers not yet added to the lab's count
	throttled atomic.Int64
	trips     atomic.Int64
}

// Slot is when a request was let through, on the limiter's clock: hand it
// back to Throttled with the request's 429.
type Slot struct {
	at    time.Time // on the store's clock
	epoch int64
}

type slot struct {
	at    time.Time     // on the store's clock
	local time.Time     // the same moment on this process's clock
	every time.Duration // the rate's interval when it was planned
	epoch int64         // the cut it was planned after
}

// limitStore keeps a lab's limit state: update runs fn on it under a lock
// with the store's clock and keeps what fn leaves.
type limitStore interface {
	update(ctx context.Context, fn func(st *labState, now time.Time)) error
}

// NewLimiter is a limiter of this process alone (SQLite, tests): perSecond
// requests a second with bursts of burst.
func NewLimiter(perSecond float64, burst int) *Limiter {
	return newLimiter(perSecond, burst, &memStore{}, func(float64) int { return 1 })
}

func newLimiter(perSecond float64, burst int, st limitStore, batch func(float64) int) *Limiter {
	if perSecond <= 0 {
		perSecond = 1
	}
	return &Limiter{max: perSecond, burst: max(1, burst), st: st, batch: batch, recordFor: 5 * time.Second}
}

// Wait blocks until a request may go: past any Retry-After pause, then a
// slot at the current rate. The slot it returns goes back to Throttled if
// the request draws a 429. While another process holds the shared
// limit's row past rowLockWait, it has no slot this round and tries
// again.
func (l *Limiter) Wait(ctx context.Context) (Slot, error) {
	for {
		s, err := l.next(ctx)
		if errors.Is(err, errRowBusy) && ctx.Err() == nil {
			if err := pause(ctx, busyRetry); err != nil {
				return Slot{}, err
			}
			continue
		}
		if err != nil {
			return Slot{}, err
		}
		if err := pause(ctx, time.Until(s.local)); err != nil {
			return Slot{}, err
		}
		l.mu.Lock()
		stale := s.epoch != l.epoch
		l.mu.Unlock()
		if !stale {
			return Slot{at: s.at, epoch: s.epoch}, nil
		}
		// A 429 came while this caller waited: its slot was planned at
		// the old rate. Take a new one, after the pause.
	}
}

// next hands out a slot, taking more from the store when none is left.
//
// A slot kept from an earlier trip whose time has long passed is thrown
// away, not handed out: after a quiet spell the slots a process took a
// tenth of a second's worth at a time would otherwise all go at once, a
// burst far above the configured one. A kept slot goes only while no
// more than burst slots lie in the past (with a quarter of an interval
// for the caller being late), as the store would plan them afresh.
func (l *Limiter) next(ctx context.Context) (slot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	for len(l.slots) > 0 {
		s := l.slots[0]
		if s.epoch == l.epoch && !s.local.Before(now.Add(-time.Duration(l.burst-1)*s.every-s.every/4)) {
			break
		}
		if s.epoch == l.epoch {
			l.idle += s.every // capacity no one used: the lab sat idle
		}
		l.slots = l.slots[1:]
	}
	if len(l.slots) == 0 {
		if err := l.take(ctx); err != nil {
			return slot{}, err
		}
	}
	s := l.slots[0]
	l.slots = l.slots[1:]
	return s, nil
}

// take fetches a batch of slots from the store; l.mu is held.
func (l *Limiter) take(ctx context.Context) error {
	var got []time.Time
	var seen labState
	var storeNow time.Time
	var every time.Duration
	answered := l.answered.Swap(0)
	l.trips.Add(1)
	err := l.st.update(ctx, func(st *labState, now time.Time) {
		st.Answered += answered
		st.Idle += l.idle
		r := st.rate(l.max, now)
		got = st.reserve(now, r, l.burst, l.batch(r))
		every = interval(r)
		seen, storeNow = *st, now
	})
	localNow := time.Now()
	if err != nil {
		l.answered.Add(answered)
		return fmt.Errorf("flabs rate limit: %w", err)
	}
	l.idle = 0
	l.observe(seen, localNow)
	for _, at := range got {
		l.slots = append(l.slots, slot{at: at, local: localNow.Add(at.Sub(storeNow)), every: every, epoch: l.epoch})
	}
	return nil
}

// observe takes in the lab's state as read at local time now; l.mu is
// held. A cut not seen before throws away the slots planned before it.
func (l *Limiter) observe(st labState, now time.Time) {
	l.seen, l.seenT = st, now
	if st.Cuts != l.epoch {
		l.epoch = st.Cuts
		l.slots = l.slots[:0]
	}
}

// busyRetry is the pause before a trip that found the shared limit's
// row held (errRowBusy) is tried again.
const busyRetry = 50 * time.Millisecond

// Throttled records a 429 to the request sent in slot s, with its
// Retry-After. The first 429 of a burst of them (to requests sent before
// the lab last slowed down) cuts the lab's rate and holds every caller,
// of every process, until Retry-After has passed; the later ones may only
// lengthen the pause. It gives up after five seconds (recordFor), even
// on a context that is never cancelled: the shared limit's row held by
// another process must not hold up the caller or its shutdown.
func (l *Limiter) Throttled(ctx context.Context, s Slot, retryAfter time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, l.recordFor)
	defer cancel()
	l.throttled.Add(1)
	answered := l.answered.Swap(0)
	var seen labState
	var err error
	for {
		l.trips.Add(1)
		err = l.st.update(ctx, func(st *labState, now time.Time) {
			st.Answered += answered
			st.Throttles++
			st.throttled(now, s.at, l.max, retryAfter)
			seen = *st
		})
		if !errors.Is(err, errRowBusy) || ctx.Err() != nil {
			break
		}
	}
	localNow := time.Now()
	if err != nil {
		l.answered.Add(answered)
		return fmt.Errorf("flabs rate limit: record a 429: %w", err)
	}
	l.mu.Lock()
	l.observe(seen, localNow)
	l.mu.Unlock()
	return nil
}

// Answered records an answer from Flabs other than a 429 (a booking, a
// refusal, a 5xx: each passed Flabs' limit): the measure of what Flabs
// lets through.
func (l *Limiter) Answered() { l.answered.Add(1) }

// Rate is the lab's current rate in requests per second, as last read.
func (l *Limiter) Rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seenT.IsZero() {
		return l.max
	}
	// The state is on the store's clock; its rate law only looks at time
	// since the last cut, which this process measures as well.
	return l.seen.rate(l.max, l.seen.Now.Add(time.Since(l.seenT)))
}

// Max is the configured rate (flabs.rate_per_second).
func (l *Limiter) Max() float64 { return l.max }

// Trips counts this limiter's trips to where the limit is kept: on
// PostgreSQL, transactions on flabs_limit.
func (l *Limiter) Trips() int64 { return l.trips.Load() }

// Throttles counts the 429s this process saw.
func (l *Limiter) Throttles() int64 { return l.throttled.Load() }

// memStore is the state of a limiter of one process.
type memStore struct {
	mu sync.Mutex
	st labState
}

func (m *memStore) update(_ context.Context, fn func(*labState, time.Time)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	m.st.Now = now
	fn(&m.st, now)
	return nil
}

// The control law's constants.
const (
	// holdFor is how long the rate stays just under a measured limit
	// before probing above it.
	holdFor = 40 * time.Second
	// backoffShare is the share of the measured limit the rate drops to.
	backoffShare = 0.99
	// probeGain sets the probe above the held rate: +3% after 30 s,
	// +12% after a minute, double after three — slow near the limit that
	// drew the 429, quick to find one that was raised.
	probeGain = 0.03 / (30 * 30)
	// keepHeld is the share of the held rate kept when a probe above it
	// draws a 429: a rate that drew none for a while is kept, nearly.
	keepHeld = 0.995
	// climbFor is how long the rate takes to climb back after a cut that
	// could not be measured (a 429 soon after a quiet spell or another
	// 429).
	climbFor = 5 * time.Second
	// minWindow is the shortest stretch of sending that measures Flabs'
	// limit.
	minWindow = 2 * time.Second
)

// labState is a lab's limit: the token bucket (the time of its next free
// slot) and the control law's memory of the last 429. It is all the
// shared limiter keeps in PostgreSQL.
type labState struct {
	Now      time.Time     // when read, on the store's clock
	Next     time.Time     // the bucket's next free slot
	Idle     time.Duration // how long, in all, the bucket sat full and unasked
	Answered int64         // answers other than 429, in all

	Cuts       int64     // 429s that cut the rate
	Throttles  int64     // 429s, in all
	CutAt      time.Time // the last cut; zero: none yet
	PauseUntil time.Time // Retry-After of the last 429s
	Base       float64   // the rate right after the cut
	Plateau    float64   // the rate climbed back to before probing
	Hold       time.Duration
	Climb      time.Duration
	// At the last cut, to measure the next window.
	AnsweredAtCut int64
	IdleAtCut     time.Duration
}

// reserve takes n slots at rate r with bursts of burst.
func (st *labState) reserve(now time.Time, r float64, burst, n int) []time.Time {
	every := interval(r)
	floor := now.Add(-time.Duration(burst-1) * every)
	if st.Next.Before(floor) {
		st.Idle += floor.Sub(st.Next)
		st.Next = floor
	}
	if st.Next.Before(st.PauseUntil) {
		st.Next = st.PauseUntil
	}
	out := make([]time.Time, n)
	for i := range out {
		out[i] = st.Next
		st.Next = st.Next.Add(every)
	}
	return out
}

// interval is the time between slots at rate r.
func interval(r float64) time.Duration { return time.Duration(float64(time.Second) / r) }

// rate is the rate at now: the configured max until a 429; after one,
// from Base climbing to Plateau over Climb, held there for Hold, then
// probing upward (see probeGain), never above max.
func (st *labState) rate(max float64, now time.Time) float64 {
	if st.CutAt.IsZero() {
		return max
	}
	t := now.Sub(st.resumed())
	var r float64
	switch {
	case t <= 0:
		r = st.Base
	case t < st.Climb:
		r = st.Base + (st.Plateau-st.Base)*float64(t)/float64(st.Climb)
	case t < st.Climb+st.Hold:
		r = st.Plateau
	default:
		s := (t - st.Climb - st.Hold).Seconds()
		r = st.Plateau * (1 + probeGain*s*s)
	}
	return math.Max(max/32, math.Min(max, r))
}

// probing reports whether the rate is past its climb and hold, probing
// above them.
func (st *labState) probing(now time.Time) bool {
	return !st.CutAt.IsZero() && now.Sub(st.resumed()) > st.Climb+st.Hold
}

// resumed is when sending resumed after the last cut: its pause over.
func (st *labState) resumed() time.Time {
	if st.PauseUntil.After(st.CutAt) {
		return st.PauseUntil
	}
	return st.CutAt
}

// throttled takes in a 429 to a request sent at sent.
func (st *labState) throttled(now, sent time.Time, max float64, retryAfter time.Duration) {
	if retryAfter <= 0 {
		retryAfter = time.Second
	}
	pause := now.Add(retryAfter)
	if !st.CutAt.IsZero() && sent.Before(st.CutAt) {
		// Sent before the lab slowed down: part of the same burst.
		if pause.After(st.PauseUntil) {
			st.PauseUntil = pause
		}
		return
	}
	cur := st.rate(max, now)
	// What Flabs let through since the last cut, over the time we had
	// something to send (quiet spells left out): its limit.
	var measured float64
	var busy time.Duration
	if !st.CutAt.IsZero() {
		busy = now.Sub(st.CutAt) - (st.Idle - st.IdleAtCut)
		// Flabs' bucket refills while we wait out a Retry-After, but no
		// further than its burst: over a long window the pause is better
		// left out (a small bucket lost most of it), over a short one
		// kept in (what it refilled would count for much).
		window := busy
		if pause := st.PauseUntil.Sub(st.CutAt); pause > 0 && busy >= 10*pause {
			window -= pause
		}
		if busy >= minWindow {
			measured = float64(st.Answered-st.AnsweredAtCut) / window.Seconds()
		}
	}
	if measured > 0 {
		// Hold just under what Flabs let through (or under the rate
		// that drew the 429, if lower), then probe. A short window
		// measures less surely: hold no longer than it lasted.
		base := backoffShare * math.Min(cur, measured)
		if st.probing(now) {
			// The rate held before this probe drew no 429. What was
			// measured since includes that hold, under Flabs' limit while
			// its bucket refilled and overflowed, so it says less than the
			// limit: keep most of the held rate.
			base = math.Max(base, keepHeld*st.Plateau)
		}
		st.Base = base
		st.Plateau, st.Climb, st.Hold = st.Base, 0, min(holdFor, busy)
	} else {
		// Nothing to measure by: halve, climb back to 90% quickly.
		st.Base, st.Plateau, st.Climb, st.Hold = cur/2, 0.9*cur, climbFor, 0
	}
	st.Base = math.Max(st.Base, max/32)
	st.Plateau = math.Max(st.Plateau, st.Base)
	st.CutAt = now
	st.Cuts++
	st.AnsweredAtCut, st.IdleAtCut = st.Answered, st.Idle
	if pause.After(st.PauseUntil) {
		st.PauseUntil = pause
	}
}

// pause waits d (nothing if d <= 0), or until ctx ends: its error then.
func pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
