package rules_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/reconcile"
	"github.com/flabsync/flabsync/reconcile/rules"
)

// TestRefusedFileIDIsStable: a refused file's exception ID is the same
// in a database where other files came first (a rebuild, another
// install) and when the same file is dropped and refused again: built
// from the partner and the content, never from a database number.
func TestRefusedFileIDIsStable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		at := time.Now().Add(time.Hour)
		ids := func(db *store.DB, before int, redrops int) []string {
			t.Helper()
			l := ledger.New(db)
			for i := range before { // files of another partner, taking database numbers
				id, _, _ := l.StartFile(ctx, ledger.File{Partner: "other", Name: "o.csv", SHA256: strings.Repeat("9", 10) + string(rune('a'+i))})
				l.FinishFile(ctx, id, 0)
			}
			for range redrops {
				id, _, err := l.StartFile(ctx, ledger.File{Partner: "metro", Name: "metro_1.csv", SHA256: "c677787e3f1607eeffff"})
				if err != nil {
					t.Fatal(err)
				}
				l.FailFile(ctx, id, errors.New("no usable header row"))
			}
			if _, err := rules.Run(ctx, db, cfg, mapping.NewIndex(nil, nil), at); err != nil {
				t.Fatal(err)
			}
			l2, err := rules.List(ctx, db, "open", reconcile.CategoryFileRefused)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, e := range l2 {
				out = append(out, e.ID)
			}
			return out
		}
		first := ids(db, 0, 2)
		other := ids(storetest.OpenSQLite(t), 5, 1)
		want := "file_refused:metro:c677787e3f1607ee"
		if len(first) != 1 || first[0] != want || len(other) != 1 || other[0] != want {
			t.Errorf("refused file IDs: dropped twice %q, in another database %q; want %q once each", first, other, want)
		}
	})
}

// TestNotCompletedAdviceMatchesTheCounts: a bill with every report done
// but not marked completed is not sent to ask about pending reports.
func TestNotCompletedAdviceMatchesTheCounts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		scenario(t, db)
		advice := func() string {
			t.Helper()
			if _, err := rules.Run(ctx, db, cfg, mapping.NewIndex(nil, nil), time.Now().Add(7*time.Hour)); err != nil {
				t.Fatal(err)
			}
			l, _ := rules.List(ctx, db, "open", reconcile.CategoryNotCompleted)
			if len(l) != 1 {
				t.Fatalf("not completed: %+v", l)
			}
			return l[0].Detail + " → " + l[0].SuggestedAction
		}
		if got := advice(); !strings.Contains(got, "1 of 2 reports done → ask the lab about the pending reports") {
			t.Errorf("one of two reports done: %q", got)
		}
		db.Exec(db.Rebind(`UPDATE booking_state SET reports_completed = 2 WHERE integrator_id = ?`), "sunrise:billed-late")
		if got := advice(); strings.Contains(got, "pending") || !strings.Contains(got, "2 of 2 reports done → every report is in") {
			t.Errorf("two of two reports done: %q", got)
		}
	})
}
