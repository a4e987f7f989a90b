// Package schedules is the running product, the one layer between the
// CLI and the domain packages. Service is `flabsync serve`: it owns the
// submitter, the inbox watcher, the webhook receiver, the admin server
// and the scheduler in one errgroup. The scheduler runs jobs on cron
// schedules: the default schedule (default.yaml, embedded) overridden by
// the config, each job never overlapping itself — within a process (skip
// if still running) and across processes sharing one database (a lease in
// the store, renewed while the job runs). RunOnce is the one way a job
// runs, whether cron or a person starts it: it takes the lease (a
// person's run waits a few seconds for one running elsewhere, then says
// who holds it) and records the run in job_runs with its outcome and a
// summary of its counts. The job bodies (ImportJob, MappingSyncJob,
// ReconcileJob, ExpectedDropsJob, PruneJob) are plain funcs tested
// without cron; GatherStatus is `flabsync status`.
package schedules

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/flabsync/flabsync/internal/logging"
	"github.com/flabsync/flabsync/internal/store"
)

//go:embed default.yaml
var defaultYAML []byte

// Default returns the default schedule: job → spec.
func Default() map[string]string {
	var m map[string]string
	if err := yaml.Unmarshal(defaultYAML, &m); err != nil {
		panic("schedules: default.yaml: " + err.Error())
	}
	return m
}

// Off is the spec that disables a job.
const Off = "off"

// Func is a job's body. It returns a one-line summary of what it did
// (counts, never patient data). An error wrapping ErrPartial records the
// run as partial (it finished, but some rows or checks failed).
type Func func(ctx context.Context) (summary string, err error)

// ErrPartial marks a job that finished with failures worth a look.
var ErrPartial = errors.New("finished with failures")

// Scheduler runs jobs.
type Scheduler struct {
	db     *store.DB
	holder string
	log    *slog.Logger
	cron   *cron.Cron
	ttl    time.Duration

	mu      sync.Mutex
	base    context.Context // Start's: scheduled runs stop with it
	jobs    map[string]Func
	specs   map[string]string
	running map[string]bool
	last    map[string]time.Time // last success per job
}

// New returns a scheduler reading specs in loc, recording runs in db as
// holder (unique per process, e.g. host:name).
func New(db *store.DB, loc *time.Location, holder string, log *slog.Logger) *Scheduler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{db: db, holder: holder, log: log, ttl: DefaultLeaseTTL,
		cron: cron.New(cron.WithLocation(loc)), jobs: map[string]Func{}, specs: map[string]string{},
		running: map[string]bool{}, last: map[string]time.Time{}}
}

// Add registers job name with spec ("off" registers it for RunNow only).
func (s *Scheduler) Add(name, spec string, fn Func) error {
	spec = strings.TrimSpace(spec)
	s.mu.Lock()
	s.jobs[name], s.specs[name] = fn, spec
	s.mu.Unlock()
	if spec == Off {
		return nil
	}
	if _, err := s.cron.AddFunc(spec, func() {
		s.mu.Lock()
		ctx := s.base
		s.mu.Unlock()
		if ctx == nil || ctx.Err() != nil {
			return
		}
		s.run(ctx, name)
	}); err != nil {
		return fmt.Errorf("schedule %s %q: %w", name, spec, err)
	}
	return nil
}

// Specs returns the registered jobs and their specs, by name.
func (s *Scheduler) Specs() [][2]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][2]string
	for n, sp := range s.specs {
		out = append(out, [2]string{n, sp})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// Start starts the clock; scheduled runs get ctx, so ending it stops them.
func (s *Scheduler) Start(ctx context.Context) {
	s.mu.Lock()
	s.base = ctx
	s.mu.Unlock()
	s.cron.Start()
}

// Stop stops the clock and waits for running jobs to end, or ctx.
func (s *Scheduler) Stop(ctx context.Context) {
	done := s.cron.Stop().Done()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// LastSuccess is when each job last finished without error.
func (s *Scheduler) LastSuccess() map[string]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]time.Time, len(s.last))
	for k, v := range s.last {
		out[k] = v
	}
	return out
}

// Outcome says how RunNow went.
type Outcome string

// Outcomes of a run.
const (
	Ran         Outcome = "ran"
	Skipped     Outcome = "skipped: still running here"
	ElsewhereOK Outcome = "skipped: running on another process"
)

// RunNow runs job name now, under the same rules as a scheduled run.
func (s *Scheduler) RunNow(ctx context.Context, name string) (Outcome, error) {
	return s.run(ctx, name)
}

// run runs a job once through RunOnce: not if it is running here, not
// if another process holds its lease (no wait: this turn is skipped).
func (s *Scheduler) run(ctx context.Context, name string) (Outcome, error) {
	s.mu.Lock()
	fn, ok := s.jobs[name]
	if !ok {
		s.mu.Unlock()
		return "", fmt.Errorf("no job %q", name)
	}
	if s.running[name] {
		s.mu.Unlock()
		s.log.Info("job still running; this turn skipped", logging.KeyJob, name)
		return Skipped, nil
	}
	s.running[name] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running[name] = false
		s.mu.Unlock()
	}()

	_, jerr := RunOnce(ctx, s.db, name, s.holder, RunOptions{TTL: s.ttl, Logger: s.log}, fn)
	if errors.Is(jerr, ErrHeld) {
		s.log.Info("job running on another process; this turn skipped", logging.KeyJob, name)
		return ElsewhereOK, nil
	}
	if jerr == nil {
		s.mu.Lock()
		s.last[name] = time.Now()
		s.mu.Unlock()
	}
	return Ran, jerr
}
