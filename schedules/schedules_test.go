package schedules_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
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
// recorded. The job holds on until the other process has given up, so
// the two runs overlap however the goroutines are scheduled.
func TestOneJobOneProcessAtATime(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var runs atomic.Int32
		release := make(chan struct{})
		body := func(ctx context.Context) (string, error) {
			if runs.Add(1) > 1 {
				return "", errors.New("ran twice") // the other run is waiting: do not wait too
			}
			<-release
			return "3 files", nil
		}
		type result struct {
			o   schedules.Outcome
			err error
		}
		results := make(chan result, 2)
		for i := range 2 {
			s := schedules.New(db, time.UTC, fmt.Sprintf("host:%d", i), nil)
			if err := s.Add("import", schedules.Off, body); err != nil {
				t.Fatal(err)
			}
			go func() {
				o, err := s.RunNow(context.Background(), "import")
				results <- result{o, err}
			}()
		}
		first := <-results // the process that did not get the lease
		close(release)
		second := <-results
		if first.o != schedules.ElsewhereOK || first.err != nil || second.o != schedules.Ran || second.err != nil {
			t.Fatalf("outcomes %+v then %+v, want %q then %q", first, second, schedules.ElsewhereOK, schedules.Ran)
		}
		if runs.Load() != 1 {
			t.Fatalf("the job ran %d times", runs.Load())
		}
		jr, err := db.JobRuns(context.Background(), "import", 10)
		if err != nil || len(jr) != 1 || jr[0].Status != store.JobOK || jr[0].Summary != "3 files" || jr[0].FinishedAt.IsZero() {
			t.Fatalf("job runs %+v, %v", jr, err)
		}
		// The lease is given back: the next turn runs.
		s := schedules.New(db, time.UTC, "host:9", nil)
		s.Add("import", schedules.Off, func(context.Context) (string, error) { return "3 files", nil })
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

// "@every 1s" fires a second after Start, and each second after; in a
// synctest bubble the cron clock is the bubble's fake one.
func TestScheduledRunsFire(t *testing.T) {
	synctest.Test(t, testScheduledRunsFire)
}

func testScheduledRunsFire(t *testing.T) {
	db := storetest.OpenSQLite(t)
	s := schedules.New(db, time.UTC, "host", nil)
	var fired atomic.Int32
	if err := s.Add("import", "@every 1s", func(ctx context.Context) (string, error) { fired.Add(1); return "", nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("reconcile", "not a spec", nil); err == nil {
		t.Errorf("a bad spec was accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.Start(ctx)
	start := time.Now()
	for _, at := range []struct {
		since time.Duration // after Start
		want  int32
	}{{time.Second - time.Nanosecond, 0}, {time.Second, 1}, {2 * time.Second, 2}} {
		time.Sleep(at.since - time.Since(start))
		synctest.Wait()
		if n := fired.Load(); n != at.want {
			t.Fatalf("fired %d times %v after Start, want %d", n, at.since, at.want)
		}
	}
	cancel()
	s.Stop(context.Background())
	if _, ok := s.LastSuccess()["import"]; !ok {
		t.Errorf("no last success recorded")
	}
}
