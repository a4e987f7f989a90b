package submit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
)

// openShared opens a database connection of its own on dsn (a process)
// and a pgStore on the row "acct" with short lock bounds.
func openShared(t *testing.T, dsn string) *pgStore {
	t.Helper()
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &pgStore{db: db, name: "acct", lockWait: 200 * time.Millisecond, holdMax: 300 * time.Millisecond}
}

// within runs fn and fails t if it has not returned within d: the
// behaviour under test is that it returns at all (a bound far above what
// it needs, not a timing gate).
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: still blocked after %s", what, d)
	}
}

// TestSharedLimitRowHolderStopped: a process stops (SIGSTOP, a lost
// network) in the middle of a trip, holding the flabs_limit row. Its
// transaction, idle, is ended by PostgreSQL after holdMax, so another
// process gets its slots all the same; the stopped one, once it goes
// on, finds its trip failed and keeps nothing. (Before, the row stayed
// locked for as long as the stopped process's session lived: every
// process's sending stalled.)
func TestSharedLimitRowHolderStopped(t *testing.T) {
	dsn := storetest.PostgresSchemaURL(t)
	stopped, other := openShared(t, dsn), openShared(t, dsn)
	b := newLimiter(20, 1, other, func(float64) int { return 2 })
	if _, err := b.Wait(context.Background()); err != nil { // the row exists
		t.Fatal(err)
	}
	holding, resume := make(chan struct{}), make(chan struct{})
	holderErr := make(chan error, 1)
	go func() {
		holderErr <- stopped.update(context.Background(), func(*labState, time.Time) {
			close(holding)
			<-resume
		})
	}()
	<-holding
	within(t, 20*time.Second, "a slot while another process holds the row, stopped", func() {
		for range 3 {
			if _, err := b.Wait(context.Background()); err != nil {
				t.Error(err)
				return
			}
		}
	})
	close(resume)
	if err := <-holderErr; err == nil {
		t.Error("the stopped process's trip committed after its session was ended")
	}
}

// TestSharedLimitRowLockedTriesAgain: while another transaction holds the
// flabs_limit row (one PostgreSQL does not end: a long statement), a
// limiter's trip gives up after lockWait and tries again rather than
// wait on, or fail; it gets its slot once the row is free. Throttled,
// on a context never cancelled, gives up after recordFor instead of
// holding up its caller and shutdown.
func TestSharedLimitRowLockedTriesAgain(t *testing.T) {
	dsn := storetest.PostgresSchemaURL(t)
	holder, other := openShared(t, dsn), openShared(t, dsn)
	b := newLimiter(20, 1, other, func(float64) int { return 1 })
	b.recordFor = 500 * time.Millisecond
	ctx := context.Background()
	s, err := b.Wait(ctx) // the row exists
	if err != nil {
		t.Fatal(err)
	}
	tx, err := holder.db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT state FROM flabs_limit WHERE name = 'acct' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}

	within(t, 20*time.Second, "Throttled while the row is locked", func() {
		if err := b.Throttled(ctx, Slot{at: s.at, epoch: s.epoch}, time.Second); !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, errRowBusy) {
			t.Errorf("Throttled with the row locked: %v, want it to give up (deadline or row busy)", err)
		}
	})

	trips := b.Trips()
	got := make(chan error, 1)
	go func() { _, err := b.Wait(ctx); got <- err }()
	deadline := time.Now().Add(20 * time.Second)
	for b.Trips() < trips+3 { // three trips: two gave up and it went on
		select {
		case err := <-got:
			t.Fatalf("Wait returned (%v) while the row was locked", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d trips in 20 s while the row was locked: the limiter waits on the lock", b.Trips()-trips)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	within(t, 20*time.Second, "Wait once the row is free", func() {
		if err := <-got; err != nil {
			t.Errorf("Wait once the row is free: %v", err)
		}
	})
}
