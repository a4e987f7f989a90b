package retention_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/reconcile/nightly"
	"github.com/flabsync/flabsync/reconcile/rules"
	"github.com/flabsync/flabsync/schedules/retention"
)

// exceptionsNow runs the nightly reconciliation as of w.now and returns
// every exception with its facts.
func exceptionsNow(t *testing.T, db *store.DB, w *world) []string {
	t.Helper()
	if _, err := nightly.Run(context.Background(), w.cfg, db, w.now, nightly.Options{}); err != nil {
		t.Fatalf("nightly: %v", err)
	}
	l, err := rules.List(context.Background(), db, "all", "")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range l {
		out = append(out, e.ID+" "+string(e.Status)+" "+e.Detail)
	}
	return out
}

// TestPrune: a prune erases the patient data older than the retention
// window — requests, row text, refusal reasons, webhook bodies, sheets,
// notes and reject files — and keeps the rest and everything newer; the
// ledger's tallies, booking states and the nightly's exceptions are what
// they were; a dry run counts the same and changes nothing; a second
// prune finds nothing to do.
func TestPrune(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := seed(t, db)
		l := ledger.New(db)
		tally, err := l.Tally(ctx)
		if err != nil {
			t.Fatal(err)
		}
		exc := exceptionsNow(t, db, w)
		if len(exc) < 3 {
			t.Fatalf("the seed should make exceptions, got %v", exc)
		}
		text := dbText(t, db)
		for _, s := range []string{oldName, oldPhone, newName, newPhone} {
			if !strings.Contains(text, s) {
				t.Fatalf("seeded database lacks %q", s)
			}
		}

		dry, err := retention.Prune(ctx, db, w.cfg, w.now, true)
		if err != nil {
			t.Fatal(err)
		}
		if got := dbText(t, db); got != text {
			t.Error("a dry run changed the database")
		}
		for _, p := range w.gone {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("a dry run deleted %s", p)
			}
		}

		rep, err := retention.Prune(ctx, db, w.cfg, w.now, false)
		if err != nil {
			t.Fatal(err)
		}
		want := retention.Report{At: w.now, Before: rep.Before, Bookings: 3, LedgerFiles: 2, SheetRows: 4, WebhookBodies: 1,
			ArchivedSheets: 1, RefusedSheets: 2, ReasonNotes: 1, RejectFiles: 1, BytesFreed: rep.BytesFreed}
		if diff := cmp.Diff(want, rep); diff != "" {
			t.Errorf("report (-want +got):\n%s", diff)
		}
		dry.DryRun = false
		if diff := cmp.Diff(rep, dry); diff != "" {
			t.Errorf("the dry run counted otherwise (-prune +dry):\n%s", diff)
		}
		if rep.BytesFreed <= 0 {
			t.Errorf("bytes freed = %d", rep.BytesFreed)
		}

		text = dbText(t, db)
		for _, s := range []string{oldName, oldPhone} {
			if strings.Contains(text, s) {
				t.Errorf("%q survived the prune", s)
			}
		}
		for _, s := range []string{newName, newPhone} {
			if !strings.Contains(text, s) {
				t.Errorf("%q (inside the window) was erased", s)
			}
		}
		var req string
		if err := db.GetContext(ctx, &req, db.Rebind(`SELECT request FROM bookings WHERE integrator_id = ?`), "p:old-billed"); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{`"integrator_id"`, `"p:old-billed"`, `"lab1"`, `"Sunrise"`, `"t1"`} {
			if !strings.Contains(req, s) {
				t.Errorf("pruned request %s lost %s", req, s)
			}
		}
		for _, p := range w.gone {
			if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s not deleted: %v", p, err)
			}
		}
		for _, p := range w.keep {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s deleted: %v", p, err)
			}
		}

		after, err := l.Tally(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tally, after); diff != "" {
			t.Errorf("tally changed (-before +after):\n%s", diff)
		}
		if diff := cmp.Diff(exc, exceptionsNow(t, db, w)); diff != "" {
			t.Errorf("exceptions changed (-before +after):\n%s", diff)
		}
		again, err := retention.Prune(ctx, db, w.cfg, w.now, false)
		if err != nil || again.Total() != 0 || again.BytesFreed != 0 {
			t.Errorf("second prune: %+v, %v; want nothing to do", again, err)
		}
	})
}

// TestPruneStoppedHalfWay: a prune whose context ends after its first
// batch (of one booking) leaves each booking erased and marked, or
// untouched — never half — and the next prune finishes the work.
func TestPruneStoppedHalfWay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := seed(t, db)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, err := retention.Run(ctx, db, w.cfg, w.now, retention.Options{Batch: 1, Progress: func(ledger.Pruned) { cancel() }})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		var rows []struct {
			ID      string  `db:"integrator_id"`
			Request string  `db:"request"`
			Pruned  *string `db:"pruned"`
		}
		q := `SELECT integrator_id, request, CAST(pruned_at AS TEXT) AS pruned FROM bookings WHERE integrator_id LIKE 'p:old-%' ORDER BY integrator_id`
		if err := db.SelectContext(context.Background(), &rows, q); err != nil {
			t.Fatal(err)
		}
		pruned := 0
		for _, r := range rows {
			if (r.Pruned != nil) == strings.Contains(r.Request, oldName) {
				t.Errorf("%s: pruned_at %v but request %s", r.ID, r.Pruned, r.Request)
			}
			if r.Pruned != nil {
				pruned++
			}
		}
		if pruned != 1 {
			t.Errorf("%d bookings pruned before the stop, want 1 (one batch)", pruned)
		}
		rep, err := retention.Prune(context.Background(), db, w.cfg, w.now, false)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Bookings != 2 || rep.WebhookBodies != 1 || rep.LedgerFiles != 2 {
			t.Errorf("the next prune: %+v; want the 2 bookings left, the body and both files", rep)
		}
		if text := dbText(t, db); strings.Contains(text, oldName) || strings.Contains(text, oldPhone) {
			t.Error("patient data survived the resumed prune")
		}
	})
}
