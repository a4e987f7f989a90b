package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/schedules"
)

// runJob runs a scheduled job by hand through schedules.RunOnce, the one
// way every job runs: under the job's lease (waiting up to m.JobWait for
// a run elsewhere to end, saying so) and recorded in job_runs. A job
// still held by another process after the wait is exit 1, naming it.
func runJob(ctx context.Context, m *Main, db *store.DB, job string, fn schedules.Func) (string, error) {
	wait := m.JobWait
	if wait == 0 {
		wait = schedules.DefaultHandWait
	}
	summary, err := schedules.RunOnce(ctx, db, job, schedules.HandHolder(), schedules.RunOptions{Wait: wait,
		Waiting: func(h *schedules.HeldError) {
			fmt.Fprintf(m.Stderr, "flabsync: %s is running on %s; waiting up to %s for it to finish\n", job, h.Holder, wait)
		},
		Gone: schedules.HandRunGone}, fn)
	var held *schedules.HeldError
	if errors.As(err, &held) {
		return summary, &partialError{msg: held.Error()}
	}
	return summary, err
}
