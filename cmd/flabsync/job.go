package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

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
	summary, err := schedules.RunOnce(ctx, db, job, jobHolder(), schedules.RunOptions{Wait: wait,
		Waiting: func(h *schedules.HeldError) {
			fmt.Fprintf(m.Stderr, "flabsync: %s is running on %s; waiting up to %s for it to finish\n", job, h.Holder, wait)
		},
		Gone: handRunGone}, fn)
	var held *schedules.HeldError
	if errors.As(err, &held) {
		return summary, &partialError{msg: held.Error()}
	}
	return summary, err
}

// jobHolder names this process for a job's lease and its job_runs row:
// user@host pid N, so two hand runs on one machine never share a lease.
func jobHolder() string {
	return fmt.Sprintf("%s pid %d", schedules.Holder(), os.Getpid())
}

// handRunGone reports whether h is a hand run of this user on this
// machine (jobHolder's form) whose process no longer exists: killed
// mid-job, its lease need not be waited out.
func handRunGone(h string) bool {
	rest, ok := strings.CutPrefix(h, schedules.Holder()+" pid ")
	if !ok {
		return false
	}
	pid, err := strconv.Atoi(rest)
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
