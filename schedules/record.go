package schedules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/flabsync/flabsync/internal/logging"
	"github.com/flabsync/flabsync/internal/store"
)

// DefaultLeaseTTL is how long a job's lease lasts unrenewed: a process
// that dies mid-job frees its job after at most this long. A running job
// renews it every third of it.
const DefaultLeaseTTL = 2 * time.Minute

// DefaultHandWait is how long a job run by hand waits for the same job
// running elsewhere to finish before saying who holds it.
const DefaultHandWait = 5 * time.Second

// ErrHeld is what RunOnce's *HeldError matches: another process holds
// the job's lease, so this run did not start.
var ErrHeld = errors.New("job is running elsewhere")

// HeldError says which process holds a job RunOnce could not start.
type HeldError struct {
	Job    string
	Holder string    // the process running it (serve's name:pid, a person's user@host pid N)
	Until  time.Time // its lease's end, unless renewed
}

// Error says who holds the job and until when.
func (e *HeldError) Error() string {
	return fmt.Sprintf("%s is running on %s (its lease runs to %s unless renewed); nothing was done: try again once it has finished",
		e.Job, e.Holder, e.Until.Local().Format("15:04:05"))
}

// Is makes errors.Is(err, ErrHeld) true.
func (e *HeldError) Is(target error) bool { return target == ErrHeld }

// RunOptions tune RunOnce.
type RunOptions struct {
	// Wait is how long to wait for the job while another process holds
	// it (0: give up at once, as a scheduled turn does).
	Wait time.Duration
	// TTL is the lease's time to live, renewed every third of it
	// (default DefaultLeaseTTL).
	TTL time.Duration
	// Waiting, if set, is called once when the job is held elsewhere and
	// RunOnce starts to wait for it.
	Waiting func(held *HeldError)
	// Gone, if set, reports a holder this process can prove is no longer
	// running (a process of this machine killed mid-job): its lease is
	// taken over at once instead of waited out.
	Gone   func(holder string) bool
	Logger *slog.Logger
}

// leaseName is the lease a job runs under.
func leaseName(job string) string { return "job:" + job }

// RunOnce is the one way a job runs, whether cron or a person starts it:
// it takes the job's lease in db as holder (waiting up to opts.Wait while
// another process holds it), runs fn with the lease renewed while it
// runs (fn's context ends if the lease is lost), records the run in
// job_runs (ok, partial when fn's error wraps ErrPartial, or failed, with
// fn's summary) and gives the lease back. holder must name this process
// alone (two processes with one holder would share the lease).
//
// A job held elsewhere past the wait returns a *HeldError (ErrHeld),
// nothing run and nothing recorded. Otherwise RunOnce returns fn's
// summary and error; a failure to record is returned only when fn
// itself succeeded.
func RunOnce(ctx context.Context, db *store.DB, job, holder string, opts RunOptions, fn Func) (string, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ttl := opts.TTL
	if ttl <= 0 {
		ttl = DefaultLeaseTTL
	}
	if err := acquire(ctx, db, job, holder, ttl, opts); err != nil {
		return "", err
	}
	lease := leaseName(job)
	jobCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	renewed := make(chan struct{})
	go func() { // keep the lease while the job runs; stop the job if it is lost
		defer close(renewed)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-jobCtx.Done():
				return
			case <-t.C:
				ok, err := db.AcquireLease(context.WithoutCancel(jobCtx), lease, holder, ttl, time.Now())
				if err != nil || !ok {
					log.Error("job lease lost; stopping the job", logging.KeyJob, job, logging.Err(err))
					cancel()
					return
				}
			}
		}
	}()
	defer func() {
		cancel()
		<-renewed
		if err := db.ReleaseLease(context.WithoutCancel(ctx), lease, holder); err != nil {
			log.Error("release job lease", logging.KeyJob, job, logging.Err(err))
		}
	}()
	return record(ctx, db, job, holder, log, func(context.Context) (string, error) { return fn(jobCtx) })
}

// acquire takes job's lease for holder, waiting up to opts.Wait while
// another holds it; past that, a *HeldError naming the holder.
func acquire(ctx context.Context, db *store.DB, job, holder string, ttl time.Duration, opts RunOptions) error {
	lease := leaseName(job)
	deadline := time.Now().Add(opts.Wait)
	poll := min(max(opts.Wait/20, 50*time.Millisecond), time.Second)
	var told bool
	for {
		got, err := db.AcquireLease(ctx, lease, holder, ttl, time.Now())
		if err != nil {
			return fmt.Errorf("%s: %w", job, err)
		}
		if got {
			return nil
		}
		held, err := heldBy(ctx, db, job)
		if err != nil {
			return err
		}
		if opts.Gone != nil && held.Holder != holder && opts.Gone(held.Holder) {
			// Its holder died: free the lease (if it is still the dead
			// one's) and try again.
			opts.Gone = nil
			if err := db.ReleaseLease(ctx, lease, held.Holder); err != nil {
				return fmt.Errorf("%s: %w", job, err)
			}
			continue
		}
		if !time.Now().Before(deadline) {
			return held
		}
		if !told && opts.Waiting != nil {
			opts.Waiting(held)
			told = true
		}
		t := time.NewTimer(min(poll, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// heldBy reads who holds job's lease.
func heldBy(ctx context.Context, db *store.DB, job string) (*HeldError, error) {
	leases, err := db.Leases(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", job, err)
	}
	held := &HeldError{Job: job, Holder: "another process"}
	for _, l := range leases {
		if l.Name == leaseName(job) {
			held.Holder, held.Until = l.Holder, l.ExpiresAt.Time
		}
	}
	return held, nil
}

// record runs fn once as job and records the run in job_runs. Only
// RunOnce calls it: every recorded run held the job's lease.
func record(ctx context.Context, db *store.DB, job, holder string, log *slog.Logger, fn Func) (string, error) {
	keep := context.WithoutCancel(ctx)
	runID, err := db.StartJobRun(keep, job, holder, time.Now())
	if err != nil {
		return "", err
	}
	start := time.Now()
	log.Info("job started", logging.KeyJob, job, "run", runID)
	summary, jerr := fn(ctx)
	status, msg := store.JobOK, ""
	switch {
	case jerr == nil:
	case errors.Is(jerr, ErrPartial):
		status, msg = store.JobPartial, jerr.Error()
	default:
		status, msg = store.JobFailed, jerr.Error()
	}
	ferr := db.FinishJobRun(keep, runID, status, summary, msg, time.Now())
	if ferr != nil {
		log.Error("record job run", logging.KeyJob, job, logging.Err(ferr))
	}
	level := slog.LevelInfo
	if jerr != nil {
		level = slog.LevelWarn
	}
	log.Log(keep, level, "job finished", logging.KeyJob, job, "run", runID, "status", status,
		"took", time.Since(start).Round(time.Millisecond), "summary", summary, logging.KeyErr, msg)
	if jerr == nil && ferr != nil {
		return summary, ferr
	}
	return summary, jerr
}
