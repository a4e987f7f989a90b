package schedules_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/schedules"
)

func TestDefaultScheduleIsComplete(t *testing.T) {
	d := schedules.Default()
	for _, job := range config.Jobs {
		spec, ok := d[job]
		if !ok {
			t.Errorf("default.yaml has no %s", job)
			continue
		}
		if _, err := cron.ParseStandard(spec); err != nil {
			t.Errorf("%s: %q does not parse: %v", job, spec, err)
		}
	}
	if len(d) != len(config.Jobs) {
		t.Errorf("default.yaml has %d jobs, config knows %d", len(d), len(config.Jobs))
	}
}

// TestOneJobOneProcessAtATime: two processes (two schedulers on one
// database) fire the same job at once; it runs once, and the run is
// recorded.
func TestOneJobOneProcessAtATime(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var runs atomic.Int32
		body := func(ctx context.Context) (string, error) {
			runs.Add(1)
			time.Sleep(200 * time.Millisecond)
			return "3 files", nil
		}
		var outs []schedules.Outcome
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range 2 {
			s := schedules.New(db, time.UTC, fmt.Sprintf("host:%d", i), nil)
			if err := s.Add("import", schedules.Off, body); err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				o, err := s.RunNow(context.Background(), "import")
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				outs = append(outs, o)
				mu.Unlock()
			})
		}
		wg.Wait()
		if runs.Load() != 1 {
			t.Fatalf("the job ran %d times, outcomes %v", runs.Load(), outs)
		}
		jr, err := db.JobRuns(context.Background(), "import", 10)
		if err != nil || len(jr) != 1 || jr[0].Status != store.JobOK || jr[0].Summary != "3 files" || jr[0].FinishedAt.IsZero() {
			t.Fatalf("job runs %+v, %v", jr, err)
		}
		// The lease is given back: the next turn runs.
		s := schedules.New(db, time.UTC, "host:9", nil)
		s.Add("import", schedules.Off, body)
		if o, err := s.RunNow(context.Background(), "import"); o != schedules.Ran || err != nil {
			t.Errorf("next turn: %s, %v", o, err)
		}
	})
}

func TestNeverOverlapsItselfAndRecordsOutcomes(t *testing.T) {
	db := storetest.OpenSQLite(t)
	s := schedules.New(db, time.UTC, "host", nil)
	release := make(chan struct{})
	started := make(chan struct{})
	s.Add("reconcile", schedules.Off, func(ctx context.Context) (string, error) {
		close(started)
		<-release
		return "", fmt.Errorf("2 files unreadable: %w", schedules.ErrPartial)
	})
	s.Add("mapping-sync", schedules.Off, func(ctx context.Context) (string, error) { return "", errors.New("flabs down") })
	done := make(chan schedules.Outcome)
	go func() { o, _ := s.RunNow(context.Background(), "reconcile"); done <- o }()
	<-started
	if o, _ := s.RunNow(context.Background(), "reconcile"); o != schedules.Skipped {
		t.Errorf("a second run while the first runs: %s, want skipped", o)
	}
	close(release)
	<-done
	s.RunNow(context.Background(), "mapping-sync")
	for job, want := range map[string]string{"reconcile": store.JobPartial, "mapping-sync": store.JobFailed} {
		jr, _ := db.JobRuns(context.Background(), job, 5)
		if len(jr) != 1 || jr[0].Status != want || jr[0].Error == "" {
			t.Errorf("%s runs %+v; want one %s with its error", job, jr, want)
		}
	}
	if _, ok := s.LastSuccess()["reconcile"]; ok {
		t.Errorf("a partial run counted as a success")
	}
}

func TestScheduledRunsFire(t *testing.T) {
	db := storetest.OpenSQLite(t)
	s := schedules.New(db, time.UTC, "host", nil)
	fired := make(chan struct{}, 10)
	if err := s.Add("import", "@every 1s", func(ctx context.Context) (string, error) { fired <- struct{}{}; return "", nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("reconcile", "not a spec", nil); err == nil {
		t.Errorf("a bad spec was accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.Start(ctx)
	select {
	case <-fired:
	case <-time.After(3 * time.Second):
		t.Fatal("@every 1s did not fire in 3s")
	}
	cancel()
	s.Stop(context.Background())
	if _, ok := s.LastSuccess()["import"]; !ok {
		t.Errorf("no last success recorded")
	}
}
