package schedules

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/flabsync/flabsync/internal/logging"
	"github.com/flabsync/flabsync/internal/store"
)

// Record runs fn once as job and records the run in job_runs: ok,
// partial (fn's error wraps ErrPartial) or failed, with fn's summary.
// It is how every job runs, scheduled or by hand (`flabsync mapping
// sync`), so status shows them alike. It returns fn's summary and error;
// a failure to record is returned only when fn itself succeeded.
func Record(ctx context.Context, db *store.DB, job, holder string, log *slog.Logger, fn Func) (string, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
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
