package ledger_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/pipeline/ledger"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// TestTakeoverOfAGoneProcess: a hand-run import dies mid-file. While its
// heartbeat lives, nothing of it is taken; once it has been silent for
// the takeover time (a minute, not the 15 it was), its file is an
// orphan that says from which row nothing was recorded, one process
// (of two) takes it over, and its bookings are handed out once; a file
// cut short is failed with a reason, and never balanced while reading.
func TestTakeoverOfAGoneProcess(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := &testClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
		l := ledger.New(db).WithClock(c.Now).WithTakeover(time.Minute)
		start := c.Now()
		if err := l.Heartbeat(ctx, "ops@box:41"); err != nil {
			t.Fatal(err)
		}
		id, _, err := l.StartFile(ctx, ledger.File{Partner: "p", Name: "big.csv", Path: "/home/ops/big.csv", SHA256: "s1", By: "ops@box:41"})
		if err != nil {
			t.Fatal(err)
		}
		var bs []ledger.Booking
		var rows []ledger.Row
		for _, n := range []int{2, 3, 4} {
			iid := "p:" + string(rune('a'+n))
			bs = append(bs, ledger.Booking{IntegratorID: iid, Partner: "p", FirstRow: n, Rows: []int{n}, Request: request(iid)})
			rows = append(rows, ledger.Row{Num: n, Status: ledger.RowAccepted, IntegratorID: iid})
		}
		if _, err := l.Admit(ctx, id, bs, rows); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Begin(ctx, "p:c", "ops@box:41"); err != nil { // in flight when it died
			t.Fatal(err)
		}

		c.Add(50 * time.Second) // still alive: its lease runs a minute
		if o, err := l.Orphans(ctx, "serve:7", 10); err != nil || len(o) != 0 {
			t.Fatalf("orphans of a live process: %+v, %v", o, err)
		}
		if jobs, err := l.Unsettled(ctx, "serve", "serve:7", c.Now(), 10); err != nil || len(jobs) != 0 {
			t.Fatalf("bookings of a live process taken: %+v, %v", jobs, err)
		}
		recs, _ := l.FilesReceived(ctx, start.Add(-time.Hour), c.Now())
		if len(recs) != 1 || recs[0].Balanced() || !recs[0].Unread() {
			t.Fatalf("a file being read: %+v balanced=%v", recs, recs[0].Balanced())
		}

		c.Add(40 * time.Second) // silent 90s: gone
		orphans, err := l.Orphans(ctx, "serve:7", 10)
		if err != nil || len(orphans) != 1 {
			t.Fatalf("orphans: %+v, %v", orphans, err)
		}
		if mine, _ := l.Orphans(ctx, "ops@box:41", 10); len(mine) != 0 {
			t.Errorf("a process's own file is an orphan to it: %+v", mine)
		}
		o := orphans[0]
		if o.ID != id || o.LastRow != 4 || o.By != "ops@box:41" || o.Path != "/home/ops/big.csv" || o.ReadAgain != 0 {
			t.Errorf("orphan %+v", o)
		}
		jobs, err := l.Unsettled(ctx, "serve", "serve:7", c.Now(), 10)
		if err != nil || len(jobs) != 3 {
			t.Fatalf("bookings of a gone process: %d, %v", len(jobs), err)
		}
		for _, j := range jobs {
			if j.MaybeBooked != (j.IntegratorID == "p:c") {
				t.Errorf("%s maybe booked = %v", j.IntegratorID, j.MaybeBooked)
			}
		}
		if again, _ := l.Unsettled(ctx, "other", "other:8", c.Now(), 10); len(again) != 0 {
			t.Errorf("taken twice: %d", len(again))
		}

		// Two serves race for the file: one wins.
		won1, err1 := l.TakeFile(ctx, id, o.By, "serve:7")
		won2, err2 := l.TakeFile(ctx, id, o.By, "serve:8")
		if err1 != nil || err2 != nil || !won1 || won2 {
			t.Fatalf("take: %v %v, %v %v", won1, err1, won2, err2)
		}
		if err := l.CutShort(ctx, o, "serve:7", "the file is no longer at /home/ops/big.csv"); err != nil {
			t.Fatal(err)
		}
		recs, _ = l.FilesReceived(ctx, start.Add(-time.Hour), c.Now())
		if r := recs[0]; r.Status != ledger.FileFailed || !r.Refused() || r.Unread() {
			t.Errorf("cut short: %+v", r)
		}
		var reason string
		db.Get(&reason, db.Rebind(`SELECT reason FROM files WHERE id = ?`), id)
		for _, want := range []string{"not read to its end", "rows from 5 on (if the file has more) were never recorded", "import it again", "no longer at"} {
			if !strings.Contains(reason, want) {
				t.Errorf("reason %q lacks %q", reason, want)
			}
		}
		if o, _ := l.Orphans(ctx, "serve:7", 10); len(o) != 0 {
			t.Errorf("still an orphan: %+v", o)
		}
		// A killed process's lease is forgotten once long expired.
		c.Add(2 * time.Minute)
		if err := l.ForgetGone(ctx); err != nil {
			t.Fatal(err)
		}
		if ls, _ := db.Leases(ctx); len(ls) != 0 {
			t.Errorf("leases left: %+v", ls)
		}
	})
}

// TestResumeReplacesTheOrphan: a process that took a file over reads it
// again as a new record, which marks the old one abandoned; a file whose
// bytes were read again since is no work.
func TestResumeReplacesTheOrphan(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := &testClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
		l := ledger.New(db).WithClock(c.Now).WithTakeover(time.Minute)
		old, _, _ := l.StartFile(ctx, ledger.File{Partner: "p", Name: "a.csv", Path: "/x/a.csv", SHA256: "sa", By: "gone:1"})
		other, _, _ := l.StartFile(ctx, ledger.File{Partner: "p", Name: "b.csv", Path: "/x/b.csv", SHA256: "sb", By: "gone:1"})
		c.Add(2 * time.Minute)
		again, _, _ := l.StartFile(ctx, ledger.File{Partner: "p", Name: "b.csv", Path: "/x/b.csv", SHA256: "sb", By: "hand:2"})
		if err := l.Heartbeat(ctx, "serve:7"); err != nil {
			t.Fatal(err)
		}
		if won, err := l.TakeFile(ctx, old, "gone:1", "serve:7"); !won || err != nil {
			t.Fatalf("take: %v %v", won, err)
		}
		id, _, err := l.StartFile(ctx, ledger.File{Partner: "p", Name: "a.csv", Path: "/x/a.csv", SHA256: "sa", By: "serve:7", Resumes: old})
		if err != nil {
			t.Fatal(err)
		}
		status := func(id int64) (s ledger.FileStatus) {
			db.Get(&s, db.Rebind(`SELECT status FROM files WHERE id = ?`), id)
			return s
		}
		if status(old) != ledger.FileAbandoned || status(id) != ledger.FileReading {
			t.Errorf("resumed: old %s, new %s", status(old), status(id))
		}
		// b.csv's bytes were read again by a later import, which took the
		// dead reading over by itself.
		if status(other) != ledger.FileAbandoned || status(again) != ledger.FileReading {
			t.Errorf("read again: old %s, new %s", status(other), status(again))
		}
	})
}
