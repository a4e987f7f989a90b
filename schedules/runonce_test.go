package schedules_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/schedules"
)

// TestRunOnceOneDoorForCronAndHand: a hand run (RunOnce with a wait, as
// the command line runs reconcile, mapping sync and prune) while another
// process holds the job waits, then says who holds it, having run and
// recorded nothing; a hand run that outwaits the other runs after it,
// never beside it; and a cron turn while a hand run holds the job skips.
// On SQLite and PostgreSQL.
func TestRunOnceOneDoorForCronAndHand(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var running, overlaps atomic.Int32
		body := func(release <-chan struct{}, started chan<- struct{}) schedules.Func {
			return func(ctx context.Context) (string, error) {
				if running.Add(1) > 1 {
					overlaps.Add(1)
				}
				defer running.Add(-1)
				if started != nil {
					close(started)
				}
				if release != nil {
					<-release
				}
				return "done", nil
			}
		}

		// The 02:00 run (serve) holds the job.
		release, started := make(chan struct{}), make(chan struct{})
		cronDone := make(chan error, 1)
		go func() {
			_, err := schedules.RunOnce(ctx, db, schedules.JobReconcile, "serve@lab1:4242", schedules.RunOptions{}, body(release, started))
			cronDone <- err
		}()
		<-started

		// A hand run waits briefly, then names the holder: nothing run.
		waited := false
		_, err := schedules.RunOnce(ctx, db, schedules.JobReconcile, "alice@lab1 pid 7", schedules.RunOptions{Wait: 150 * time.Millisecond,
			Waiting: func(*schedules.HeldError) { waited = true }}, body(nil, nil))
		var held *schedules.HeldError
		if !errors.As(err, &held) || !errors.Is(err, schedules.ErrHeld) || held.Holder != "serve@lab1:4242" || held.Job != schedules.JobReconcile || !waited {
			t.Fatalf("hand run while serve holds the job: %v (waited %v); want a HeldError naming serve@lab1:4242", err, waited)
		}
		if runs, _ := db.JobRuns(ctx, schedules.JobReconcile, 10); len(runs) != 1 || runs[0].Holder != "serve@lab1:4242" {
			t.Fatalf("job runs %+v: want only serve's (the refused hand run is not recorded)", runs)
		}

		// A hand run that outwaits it runs once it is done, not beside it.
		handDone := make(chan error, 1)
		waiting := make(chan struct{})
		go func() {
			_, err := schedules.RunOnce(ctx, db, schedules.JobReconcile, "bob@lab2 pid 9", schedules.RunOptions{Wait: time.Minute,
				Waiting: func(*schedules.HeldError) { close(waiting) }}, body(nil, nil))
			handDone <- err
		}()
		<-waiting
		close(release)
		if err := <-cronDone; err != nil {
			t.Fatal(err)
		}
		if err := <-handDone; err != nil {
			t.Fatalf("the waiting hand run: %v", err)
		}
		if overlaps.Load() != 0 {
			t.Fatalf("%d runs overlapped", overlaps.Load())
		}
		runs, _ := db.JobRuns(ctx, schedules.JobReconcile, 10)
		if len(runs) != 2 || runs[0].Holder != "bob@lab2 pid 9" || runs[0].Status != store.JobOK {
			t.Fatalf("job runs %+v: want serve's then bob's, ok", runs)
		}

		// A cron turn while a hand run holds the job is skipped.
		release, started = make(chan struct{}), make(chan struct{})
		go func() {
			_, err := schedules.RunOnce(ctx, db, schedules.JobReconcile, "carol@lab1 pid 11", schedules.RunOptions{Wait: time.Second}, body(release, started))
			handDone <- err
		}()
		<-started
		s := schedules.New(db, time.UTC, "serve@lab1:4242", nil)
		s.Add(schedules.JobReconcile, schedules.Off, body(nil, nil))
		if o, err := s.RunNow(ctx, schedules.JobReconcile); o != schedules.ElsewhereOK || err != nil {
			t.Errorf("cron turn while a hand run holds the job: %s, %v; want %q", o, err, schedules.ElsewhereOK)
		}
		close(release)
		if err := <-handDone; err != nil {
			t.Fatal(err)
		}
		if o, err := s.RunNow(ctx, schedules.JobReconcile); o != schedules.Ran || err != nil {
			t.Errorf("cron turn after it: %s, %v", o, err)
		}
		if overlaps.Load() != 0 {
			t.Fatalf("%d runs overlapped", overlaps.Load())
		}
	})
}
