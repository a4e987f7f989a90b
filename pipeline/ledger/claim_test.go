package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/pipeline/ledger"
)

// TestAdmitLeavesALiveHoldersBooking: a booking one live process has in
// flight, read again by another (a second serve, a hand-run import of
// the same bookings), is left to the first: not sent twice. Once the
// first is gone it is the second's, sent as maybe booked; the first's
// late answer then changes nothing.
func TestAdmitLeavesALiveHoldersBooking(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := &testClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
		l := ledger.New(db).WithClock(c.Now).WithTakeover(time.Minute)
		for _, h := range []string{"a:1", "b:2"} {
			if err := l.Heartbeat(ctx, h); err != nil {
				t.Fatal(err)
			}
		}
		bs := []ledger.Booking{{IntegratorID: "p:x", Partner: "p", FirstRow: 2, Rows: []int{2}, Request: request("p:x")}}
		rows := []ledger.Row{{Num: 2, Status: ledger.RowAccepted, IntegratorID: "p:x"}}
		admit := func(name, by string) ledger.Decision {
			t.Helper()
			id, _, err := l.StartFile(ctx, ledger.File{Partner: "p", Name: name, Path: "/in/" + name, SHA256: "s1", By: by})
			if err != nil {
				t.Fatal(err)
			}
			ds, err := l.Admit(ctx, id, bs, rows)
			if err != nil {
				t.Fatal(err)
			}
			return ds[0]
		}
		admit("a.csv", "a:1")
		if _, err := l.Begin(ctx, "p:x", "a:1"); err != nil {
			t.Fatal(err)
		}

		d := admit("a (1).csv", "b:2")
		if d.Send != nil || !d.Elsewhere || d.State != ledger.InFlight {
			t.Fatalf("admitted while a live process has it in flight: %+v; want left to it", d)
		}
		if _, err := l.Begin(ctx, "p:x", "b:2"); !errors.Is(err, ledger.ErrClaimed) {
			t.Fatalf("second process's Begin: %v; want ErrClaimed", err)
		}

		// a:1 is gone (its lease ran out; b:2 beats on): b:2 takes it over.
		c.Add(2 * time.Minute)
		if err := l.Heartbeat(ctx, "b:2"); err != nil {
			t.Fatal(err)
		}
		d = admit("a (2).csv", "b:2")
		if d.Send == nil || !d.Send.MaybeBooked {
			t.Fatalf("a booking whose holder is gone: %+v; want sent again as maybe booked", d)
		}
		if _, err := l.Begin(ctx, "p:x", "b:2"); err != nil {
			t.Fatal(err)
		}
		late := ledger.Result{IntegratorID: "p:x", State: ledger.Failed, Error: "late", Holder: "a:1"}
		if err := l.Settle(ctx, late); !errors.Is(err, ledger.ErrClaimed) {
			t.Fatalf("late answer of the process that lost the booking: %v; want ErrClaimed", err)
		}
		if st, _ := l.States(ctx, []string{"p:x"}); st["p:x"].Status != ledger.InFlight {
			t.Fatalf("after a late answer: %+v; want the new holder's in_flight", st["p:x"])
		}
		if err := l.Settle(ctx, ledger.Result{IntegratorID: "p:x", State: ledger.Submitted, PreBookingID: "pb", Holder: "b:2"}); err != nil {
			t.Fatal(err)
		}
		if st, _ := l.States(ctx, []string{"p:x"}); st["p:x"].Status != ledger.Submitted {
			t.Fatalf("holder's answer: %+v; want submitted", st["p:x"])
		}
	})
}

// TestAdmitSideBySide: two files with the same new bookings admitted at
// once (the inbox reads files side by side) both go through, and each
// booking is in the ledger once; on PostgreSQL the second INSERT once
// failed with a duplicate key and took its whole file with it.
func TestAdmitSideBySide(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := ledger.New(db)
		var bs []ledger.Booking
		var rows []ledger.Row
		for n := 2; n < 502; n++ {
			iid := fmt.Sprintf("p:%d", n)
			bs = append(bs, ledger.Booking{IntegratorID: iid, Partner: "p", FirstRow: n, Rows: []int{n}, Request: request(iid)})
			rows = append(rows, ledger.Row{Num: n, Status: ledger.RowAccepted, IntegratorID: iid})
		}
		var ids []int64
		for _, name := range []string{"a.csv", "a (1).csv"} {
			id, _, err := l.StartFile(ctx, ledger.File{Partner: "p", Name: name, Path: "/in/" + name, SHA256: "s1", By: "serve:7"})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		var wg sync.WaitGroup
		errs := make([]error, len(ids))
		start := make(chan struct{})
		for i, id := range ids {
			wg.Go(func() {
				<-start
				_, errs[i] = l.Admit(ctx, id, bs, rows)
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("file %d: %v", ids[i], err)
			}
		}
		var n, r int
		if err := db.GetContext(ctx, &n, `SELECT COUNT(*) FROM bookings`); err != nil {
			t.Fatal(err)
		}
		if err := db.GetContext(ctx, &r, `SELECT COUNT(*) FROM sheet_rows`); err != nil {
			t.Fatal(err)
		}
		if n != 500 || r != 1000 {
			t.Fatalf("%d bookings, %d rows; want 500 and 1000", n, r)
		}
	})
}

// TestUnsettledResumesOwnStale: a booking a live process admitted but
// never began (its rate-limit wait or Begin failed on a database blip)
// is its own to resume once untouched for StaleAfter; while fresh it is
// left to its submitter, and another live process never takes it.
func TestUnsettledResumesOwnStale(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := &testClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
		l := ledger.New(db).WithClock(c.Now).WithTakeover(time.Minute)
		beat := func() {
			t.Helper()
			if err := l.Heartbeat(ctx, "serve:7"); err != nil {
				t.Fatal(err)
			}
		}
		beat()
		id, _, err := l.StartFile(ctx, ledger.File{Partner: "p", Name: "a.csv", Path: "/in/a.csv", SHA256: "s1", By: "serve:7"})
		if err != nil {
			t.Fatal(err)
		}
		bs := []ledger.Booking{{IntegratorID: "p:x", Partner: "p", FirstRow: 2, Rows: []int{2}, Request: request("p:x")}}
		if _, err := l.Admit(ctx, id, bs, []ledger.Row{{Num: 2, Status: ledger.RowAccepted, IntegratorID: "p:x"}}); err != nil {
			t.Fatal(err)
		}
		unsettled := func(name, holder string) int {
			t.Helper()
			jobs, err := l.Unsettled(ctx, name, holder, c.Now(), 10)
			if err != nil {
				t.Fatal(err)
			}
			return len(jobs)
		}
		c.Add(ledger.StaleAfter - time.Minute)
		beat()
		if n := unsettled("serve", "serve:7"); n != 0 {
			t.Fatalf("own fresh booking resumed: %d jobs", n)
		}
		c.Add(2 * time.Minute)
		beat()
		if n := unsettled("other", "other:9"); n != 0 {
			t.Fatalf("another process took a live process's booking: %d jobs", n)
		}
		if n := unsettled("serve", "serve:7"); n != 1 {
			t.Fatalf("own booking untouched for StaleAfter: %d jobs; want 1", n)
		}
		if n := unsettled("serve", "serve:7"); n != 0 {
			t.Fatalf("resumed again at once: %d jobs", n)
		}
	})
}

// TestFinishFileReceiptUnlessStopped: a file read to its end with a
// booking not final gets its receipt (the booking counts as still with
// the lab) unless the run stopped: then the file is read again and its
// receipt goes then. It once got none either way, and serve archived it.
func TestFinishFileReceiptUnlessStopped(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := ledger.New(db).WithReceipts(ledger.Receipts{Wants: func(string) bool { return true }})
		finish := func(ctx context.Context, n int) (int64, ledger.Counts) {
			t.Helper()
			name := fmt.Sprintf("f%d.csv", n)
			id, _, err := l.StartFile(t.Context(), ledger.File{Partner: "p", Name: name, Path: "/in/" + name, SHA256: name, By: "serve:7"})
			if err != nil {
				t.Fatal(err)
			}
			iid := fmt.Sprintf("p:%d", n)
			bs := []ledger.Booking{{IntegratorID: iid, Partner: "p", FirstRow: 2, Rows: []int{2}, Request: request(iid)}}
			if _, err := l.Admit(t.Context(), id, bs, []ledger.Row{{Num: 2, Status: ledger.RowAccepted, IntegratorID: iid}}); err != nil {
				t.Fatal(err)
			}
			c, err := l.FinishFile(ctx, id, 1)
			if err != nil {
				t.Fatal(err)
			}
			return id, c
		}
		check := func(id int64, receipts int) {
			t.Helper()
			f, err := l.FileByID(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			if f.Status != ledger.FileInterrupted || f.Counts.Unfinished != 1 || !f.Balanced() {
				t.Errorf("file %d: %+v; want interrupted, 1 unfinished, balanced", id, f)
			}
			if n, err := l.UnsentReceipts(t.Context(), []int64{id}); err != nil || n != receipts {
				t.Errorf("file %d: %d receipts queued (%v); want %d", id, n, err, receipts)
			}
		}
		id, c := finish(t.Context(), 1)
		if c.Unfinished != 1 {
			t.Fatalf("counts %+v; want 1 unfinished", c)
		}
		check(id, 1)
		stopped, cancel := context.WithCancel(t.Context())
		cancel()
		id, _ = finish(stopped, 2)
		check(id, 0)
	})
}

// TestAdmitWaitsForABeginOnPostgres: on PostgreSQL (read committed) a
// second reader's Admit of a booking not yet attempted once read it
// pending, and replaced it as pending (its claim with it) over the
// first holder's Begin committed in between: sent twice. Its read now
// waits for the Begin, and then leaves the booking to its holder.
func TestAdmitWaitsForABeginOnPostgres(t *testing.T) {
	db := storetest.OpenPostgres(t)
	ctx := t.Context()
	l := ledger.New(db)
	for _, h := range []string{"a:1", "b:2"} {
		if err := l.Heartbeat(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	bs := []ledger.Booking{{IntegratorID: "p:x", Partner: "p", FirstRow: 2, Rows: []int{2}, Request: request("p:x")}}
	rows := []ledger.Row{{Num: 2, Status: ledger.RowAccepted, IntegratorID: "p:x"}}
	fa, _, err := l.StartFile(ctx, ledger.File{Partner: "p", Name: "a.csv", Path: "/in/a.csv", SHA256: "s1", By: "a:1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Admit(ctx, fa, bs, rows); err != nil {
		t.Fatal(err)
	}
	fb, _, err := l.StartFile(ctx, ledger.File{Partner: "p", Name: "a (1).csv", Path: "/in/a (1).csv", SHA256: "s1", By: "b:2"})
	if err != nil {
		t.Fatal(err)
	}

	// a:1's Begin, not committed yet (Begin's own UPDATE, held open).
	begin, err := db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer begin.Rollback()
	var pid int
	if err := begin.GetContext(ctx, &pid, `SELECT pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	if _, err := begin.ExecContext(ctx, `UPDATE bookings SET status = $1, attempts = attempts + 1, claimed_by = $2, updated_at = $3
WHERE integrator_id = $4`, ledger.InFlight, "a:1", store.T(time.Now()), "p:x"); err != nil {
		t.Fatal(err)
	}
	type admitted struct {
		ds  []ledger.Decision
		err error
	}
	got := make(chan admitted, 1)
	go func() {
		ds, err := l.Admit(ctx, fb, bs, rows)
		got <- admitted{ds, err}
	}()
	// Until b:2's Admit waits on the Begin's row lock.
	for {
		var n int
		if err := db.GetContext(ctx, &n, `SELECT COUNT(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, pid); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		select {
		case a := <-got:
			t.Fatalf("Admit did not wait for the Begin: %+v", a)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := begin.Commit(); err != nil {
		t.Fatal(err)
	}
	a := <-got
	if a.err != nil {
		t.Fatal(a.err)
	}
	if d := a.ds[0]; d.Send != nil || !d.Elsewhere {
		t.Errorf("b:2 admitted a booking a:1 has in flight: %+v; want left to it", d)
	}
	var cur struct {
		Status string `db:"status"`
		By     string `db:"claimed_by"`
	}
	if err := db.GetContext(ctx, &cur, `SELECT status, claimed_by FROM bookings WHERE integrator_id = 'p:x'`); err != nil {
		t.Fatal(err)
	}
	if cur.Status != string(ledger.InFlight) || cur.By != "a:1" {
		t.Errorf("booking %+v; want in_flight, claimed by a:1", cur)
	}
}
