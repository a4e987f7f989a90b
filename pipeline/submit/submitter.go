// Package submit sends bookings to Flabs: a bounded pool of workers behind
// one shared, adaptive rate limit, partners served in turn, retries with
// back-off that never double-book, and the ledger (package ledger, seen
// here through the Recorder interface) told before and after every
// request, so that a crash loses nothing and resends only what may not
// have arrived (with the same integrator_id).
package submit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/logging"
	"github.com/flabsync/flabsync/pipeline/ledger"
)

// Biller sends one booking: flabs.Client does.
type Biller interface {
	CreateBilling(ctx context.Context, req *flabs.BillingRequest) (*flabs.BillingResponse, error)
}

// Recorder is the ledger as the submitter sees it: told before each
// request and after each answer.
type Recorder interface {
	// Begin marks the booking in flight and says whether an earlier
	// attempt may have booked; a booking already settled is not sent
	// (*ledger.SettledError), one another process holds neither
	// (ledger.ErrClaimed).
	Begin(ctx context.Context, integratorID, holder string) (ledger.Attempt, error)
	// Settle records an answer: a final state, or a retry and when.
	Settle(ctx context.Context, r ledger.Result) error
}

// Options tune a Submitter.
type Options struct {
	Concurrency int           // workers, default 8
	MaxAttempts int           // per booking and run, default 8
	Budget      time.Duration // how long a booking may keep retrying, default 30m
	Backoff     Backoff
	Holder      string // who sends, recorded in the ledger
	Logger      *slog.Logger
}

// Submitter sends jobs. One Submitter (with one Limiter) serves every file
// and partner of a process: Run starts its workers, Submit hands it jobs.
type Submitter struct {
	client Biller
	rec    Recorder
	lim    *Limiter
	opts   Options
	log    *slog.Logger

	mu     sync.Mutex
	queues map[string][]*task // per partner, FIFO
	ring   []string           // partners with queued work, served in turn
	active map[string]*task   // by integrator ID: queued, in flight or waiting to retry
	wake   chan struct{}
	work   chan *task

	stop    context.CancelCauseFunc
	stopped chan struct{}
	settled atomic.Int64
}

type task struct {
	job   ledger.Job
	first time.Time // first attempt in this run, for the budget
	res   ledger.Result
	done  chan struct{}
}

// New returns a Submitter sending with client through lim and recording
// in rec.
func New(client Biller, rec Recorder, lim *Limiter, opts Options) *Submitter {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 8
	}
	if opts.Budget <= 0 {
		opts.Budget = 30 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Submitter{client: client, rec: rec, lim: lim, opts: opts, log: opts.Logger,
		queues: map[string][]*task{}, active: map[string]*task{},
		wake: make(chan struct{}, 1), work: make(chan *task), stopped: make(chan struct{})}
}

// Queued counts bookings waiting for a worker (not those in flight or
// waiting out a back-off).
func (s *Submitter) Queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, q := range s.queues {
		n += len(q)
	}
	return n
}

// Active counts bookings queued, in flight or waiting to retry.
func (s *Submitter) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.active)
}

// Limiter is the submitter's rate limiter.
func (s *Submitter) Limiter() *Limiter { return s.lim }

// Run sends until ctx ends or the credentials are refused. On the way out
// it takes no new job; requests already on their way finish (each within
// the client's timeout) and are recorded, so the ledger is consistent.
func (s *Submitter) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	s.mu.Lock()
	s.stop = cancel
	s.mu.Unlock()
	defer close(s.stopped)
	var wg sync.WaitGroup
	for range s.opts.Concurrency {
		wg.Go(func() { s.worker(ctx) })
	}
	s.dispatch(ctx)
	wg.Wait()
	if err := context.Cause(ctx); errors.Is(err, flabs.ErrAuth) {
		return err
	}
	return nil
}

// Submit queues jobs and waits until each is final, or the run stops.
// onResult (optional) is called as each job ends, from worker goroutines.
// A job whose integrator ID is already queued or in flight is not queued
// twice: it shares that one's result.
func (s *Submitter) Submit(ctx context.Context, jobs []ledger.Job, onResult func(ledger.Result)) []ledger.Result {
	tasks := make([]*task, len(jobs))
	s.mu.Lock()
	for i, j := range jobs {
		if t, ok := s.active[j.IntegratorID]; ok {
			tasks[i] = t
			continue
		}
		t := &task{job: j, done: make(chan struct{}),
			res: ledger.Result{IntegratorID: j.IntegratorID, Partner: j.Partner, State: ledger.Pending}}
		s.active[j.IntegratorID] = t
		s.push(t)
		tasks[i] = t
	}
	s.mu.Unlock()
	s.signal()
	out := make([]ledger.Result, len(tasks))
	for i, t := range tasks {
		select {
		case <-t.done:
		case <-ctx.Done():
		case <-s.stopped:
		}
		s.mu.Lock()
		out[i] = t.res
		s.mu.Unlock()
		if onResult != nil {
			onResult(out[i])
		}
	}
	return out
}

// push appends t to its partner's queue; s.mu is held.
func (s *Submitter) push(t *task) {
	p := t.job.Partner
	if len(s.queues[p]) == 0 {
		s.ring = append(s.ring, p)
	}
	s.queues[p] = append(s.queues[p], t)
}

func (s *Submitter) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// dispatch hands queued jobs to free workers, one partner after another,
// so a big file cannot hold a small one back.
func (s *Submitter) dispatch(ctx context.Context) {
	defer close(s.work)
	for {
		s.mu.Lock()
		var t *task
		if len(s.ring) > 0 {
			p := s.ring[0]
			q := s.queues[p]
			t, s.queues[p] = q[0], q[1:]
			s.ring = s.ring[1:]
			if len(s.queues[p]) > 0 {
				s.ring = append(s.ring, p) // to the back of the line
			} else {
				delete(s.queues, p)
			}
		}
		s.mu.Unlock()
		if t == nil {
			select {
			case <-s.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		select {
		case s.work <- t:
		case <-ctx.Done():
			return // t stays pending in the ledger; the next run sends it
		}
	}
}

func (s *Submitter) worker(ctx context.Context) {
	for t := range s.work {
		slot, err := s.lim.Wait(ctx)
		if err != nil {
			// Stopping (or the shared limit unreadable): t was never sent
			// and stays pending in the ledger; whoever waits on it hears
			// so rather than wait on.
			if ctx.Err() == nil {
				s.log.Error("flabs rate limit: no slot", logging.KeyIntegratorID, t.job.IntegratorID, logging.Err(err))
			}
			s.finish(t, ledger.Result{State: ledger.Pending, Error: "not sent: " + err.Error()})
			continue
		}
		s.send(ctx, t, slot)
	}
}

// send makes one attempt and records it. The request itself is not
// cancelled by a stop: it runs to its answer or the client's timeout.
func (s *Submitter) send(ctx context.Context, t *task, slot Slot) {
	keep := context.WithoutCancel(ctx)
	id := t.job.IntegratorID
	if t.first.IsZero() {
		t.first = time.Now()
	}
	begun, err := s.rec.Begin(keep, id, s.opts.Holder)
	attempt := begun.N
	var settled *ledger.SettledError
	if errors.As(err, &settled) {
		s.finish(t, ledger.Result{IntegratorID: id, Partner: t.job.Partner, State: settled.State})
		return
	}
	if begun.MaybeBooked {
		t.job.MaybeBooked = true
	}
	if errors.Is(err, ledger.ErrClaimed) {
		s.log.Info("another process is sending this booking; left to it", logging.KeyIntegratorID, id)
		s.finish(t, ledger.Result{IntegratorID: id, Partner: t.job.Partner, State: ledger.Pending, Error: err.Error()})
		return
	}
	if err != nil {
		s.log.Error("ledger: mark in flight", logging.KeyIntegratorID, id, logging.Err(err))
		s.finish(t, ledger.Result{State: ledger.Pending, Error: "ledger: " + err.Error()})
		return
	}
	resp, err := s.client.CreateBilling(keep, t.job.Request)
	r := ledger.Result{IntegratorID: id, Partner: t.job.Partner, Attempts: attempt}
	var fe *flabs.Error
	if errors.As(err, &fe) {
		// Error() keeps the status, the class and Flabs' code, never
		// Flabs' words (they may echo the patient): safe to store.
		r.HTTPStatus = fe.Status
		r.Error = fe.Error()
	} else if err != nil {
		r.Error = err.Error()
	}
	v := Decide(t.job.MaybeBooked, err)
	if err == nil || (fe != nil && !v.Throttled) {
		s.lim.Answered() // it passed Flabs' limit: the measure of that limit
	}
	t.job.MaybeBooked, r.MaybeBooked = v.MaybeBooked, v.MaybeBooked
	switch v.State {
	case ledger.Submitted:
		r.State, r.PreBookingID, r.HTTPStatus = ledger.Submitted, resp.PreBookingID, 200
	case ledger.Rejected:
		r.State = ledger.Rejected
	case ledger.Unconfirmed:
		r.State = ledger.Unconfirmed
		r.Error = "a resend after an attempt with no clear answer was refused; it may already be booked: " + r.Error
	case ledger.Pending: // credentials refused
		r.State = ledger.Pending // not the booking's fault: sent again once the config is fixed
		s.record(keep, r)
		s.finish(t, r)
		s.log.Error("flabs refused the credentials; stopping", logging.KeyIntegratorID, id)
		s.mu.Lock()
		stop := s.stop
		s.mu.Unlock()
		if stop != nil {
			stop(fmt.Errorf("submit: %w", err))
		}
		return
	default: // retry, unless attempts or time have run out
		var retryAfter time.Duration
		if fe != nil {
			retryAfter = fe.RetryAfter
		}
		if v.Throttled {
			if err := s.lim.Throttled(keep, slot, retryAfter); err != nil {
				s.log.Error("flabs rate limit: record a 429", logging.KeyIntegratorID, id, logging.Err(err))
			}
		}
		delay := s.opts.Backoff.Delay(attempt, retryAfter)
		switch {
		case attempt >= s.opts.MaxAttempts:
			r.State = ledger.Failed
			r.Error = fmt.Sprintf("gave up after %d attempts: %s", attempt, r.Error)
		case time.Since(t.first)+delay > s.opts.Budget:
			r.State = ledger.Failed
			r.Error = fmt.Sprintf("gave up after %s of retries: %s", time.Since(t.first).Round(time.Second), r.Error)
		default:
			r.State, r.NextAttempt = ledger.Retry, time.Now().Add(delay)
			s.log.Warn("flabs: will retry", logging.KeyIntegratorID, id, "attempt", attempt, "status", r.HTTPStatus, "in", delay.Round(time.Millisecond))
			s.record(keep, r)
			s.mu.Lock()
			t.res = r
			s.mu.Unlock()
			time.AfterFunc(delay, func() {
				s.mu.Lock()
				s.push(t)
				s.mu.Unlock()
				s.signal()
			})
			return
		}
	}
	s.record(keep, r)
	s.finish(t, r)
	level := slog.LevelDebug // one line per booking is too many for a big file
	if r.State != ledger.Submitted {
		level = slog.LevelWarn
	}
	s.log.Log(ctx, level, "booking "+string(r.State), logging.KeyIntegratorID, id, logging.KeyPartner, r.Partner, "attempts", r.Attempts,
		"status", r.HTTPStatus, "maybe_booked", r.MaybeBooked)
}

func (s *Submitter) record(ctx context.Context, r ledger.Result) {
	r.Holder = s.opts.Holder
	if err := s.rec.Settle(ctx, r); errors.Is(err, ledger.ErrClaimed) {
		// Another process took it over while this one waited on its
		// answer (and sends it again, as maybe booked): its state stands.
		s.log.Warn("ledger: answer not recorded, another process holds this booking now", logging.KeyIntegratorID, r.IntegratorID,
			"state", r.State, "pre_booking_id", r.PreBookingID)
	} else if err != nil {
		s.log.Error("ledger: record answer", logging.KeyIntegratorID, r.IntegratorID, "state", r.State, logging.Err(err))
	}
}

func (s *Submitter) finish(t *task, r ledger.Result) {
	s.mu.Lock()
	if r.IntegratorID == "" {
		r.IntegratorID, r.Partner = t.job.IntegratorID, t.job.Partner
	}
	t.res = r
	delete(s.active, t.job.IntegratorID)
	s.mu.Unlock()
	s.settled.Add(1)
	close(t.done)
}

// Settled counts the bookings that have left the submitter since it was
// made: answered, given up or stopped by a refused login.
func (s *Submitter) Settled() int64 { return s.settled.Load() }
