package store

import (
	"context"
	"fmt"
	"time"
)

// Job run statuses.
const (
	JobRunning = "running"
	JobOK      = "ok"
	JobPartial = "partial" // finished, some rows or checks failed
	JobFailed  = "failed"
)

// JobRun is one run of a scheduled or manual job.
type JobRun struct {
	ID         int64  `db:"id"`
	Job        string `db:"job"`
	Holder     string `db:"holder"`
	Status     string `db:"status"`
	Summary    string `db:"summary"`
	Error      string `db:"error"`
	StartedAt  Time   `db:"started_at"`
	FinishedAt Time   `db:"finished_at"`
}

// StartJobRun records that holder started job at now and returns the run ID.
func (db *DB) StartJobRun(ctx context.Context, job, holder string, now time.Time) (int64, error) {
	var id int64
	q := db.Rebind(`INSERT INTO job_runs (job, holder, status, started_at) VALUES (?, ?, ?, ?) RETURNING id`)
	if err := db.QueryRowxContext(ctx, q, job, holder, JobRunning, T(now)).Scan(&id); err != nil {
		return 0, fmt.Errorf("start job run %s: %w", job, err)
	}
	return id, nil
}

// FinishJobRun records a run's outcome. errMsg is empty unless it failed.
func (db *DB) FinishJobRun(ctx context.Context, id int64, status, summary, errMsg string, now time.Time) error {
	q := db.Rebind(`UPDATE job_runs SET status = ?, summary = ?, error = ?, finished_at = ? WHERE id = ?`)
	res, err := db.ExecContext(ctx, q, status, summary, errMsg, T(now), id)
	if err != nil {
		return fmt.Errorf("finish job run %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("finish job run %d: no such run", id)
	}
	return nil
}

// JobRuns returns the latest limit runs of job (all jobs if job is ""),
// newest first.
func (db *DB) JobRuns(ctx context.Context, job string, limit int) ([]JobRun, error) {
	var out []JobRun
	// Two statements, not "(? = '' OR job = ?)": that form keeps SQLite
	// off the (job, …) index, seconds over a year of runs.
	q := db.Rebind(`SELECT id, job, holder, status, summary, error, started_at, finished_at
FROM job_runs ORDER BY started_at DESC, id DESC LIMIT ?`)
	args := []any{limit}
	if job != "" {
		q = db.Rebind(`SELECT id, job, holder, status, summary, error, started_at, finished_at
FROM job_runs WHERE job = ? ORDER BY started_at DESC, id DESC LIMIT ?`)
		args = []any{job, limit}
	}
	if err := db.SelectContext(ctx, &out, q, args...); err != nil {
		return nil, fmt.Errorf("list job runs: %w", err)
	}
	return out, nil
}

// LastJobRuns returns the latest run of every job that has run, by job
// name: however often one job runs, the others' last runs stay in view.
func (db *DB) LastJobRuns(ctx context.Context) ([]JobRun, error) {
	var out []JobRun
	// A skip scan: the next job name after the last, one index step each,
	// then that job's newest run — a handful of steps however many runs
	// the minutely import has piled up (a GROUP BY read them all).
	q := `WITH RECURSIVE jobs(job) AS (
	SELECT MIN(job) FROM job_runs
	UNION ALL
	SELECT (SELECT MIN(j.job) FROM job_runs j WHERE j.job > jobs.job) FROM jobs WHERE jobs.job IS NOT NULL
)
SELECT r.id, r.job, r.holder, r.status, r.summary, r.error, r.started_at, r.finished_at
FROM jobs JOIN job_runs r ON r.id = (SELECT MAX(x.id) FROM job_runs x WHERE x.job = jobs.job)
ORDER BY r.job`
	if err := db.SelectContext(ctx, &out, q); err != nil {
		return nil, fmt.Errorf("list the last job runs: %w", err)
	}
	return out, nil
}
