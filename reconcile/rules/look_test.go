package rules_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/reconcile/rules"
)

// TestLookChangesNothing: a look ten days ahead finds what a run then
// would (the same figures and exceptions) and leaves the exceptions
// table and the trend exactly as they were. On SQLite and PostgreSQL.
func TestLookChangesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		scenario(t, db)
		ix := mapping.NewIndex(nil, nil)
		now := time.Now()
		if _, err := rules.Run(ctx, db, cfg, ix, now); err != nil {
			t.Fatal(err)
		}
		snapshot := func() (rows []string) {
			t.Helper()
			if err := db.SelectContext(ctx, &rows, `SELECT id || '|' || status || '|' || detail || '|' || CAST(first_seen AS TEXT) || '|' || CAST(last_seen AS TEXT) FROM exceptions ORDER BY id`); err != nil {
				t.Fatal(err)
			}
			var trend []string
			if err := db.SelectContext(ctx, &trend, `SELECT CAST(at AS TEXT) || category FROM reconcile_runs ORDER BY at, category`); err != nil {
				t.Fatal(err)
			}
			return append(rows, trend...)
		}
		before := snapshot()
		ahead := now.Add(10 * 24 * time.Hour)
		look, err := rules.Look(ctx, db, cfg, ix, ahead, 5)
		if err != nil {
			t.Fatal(err)
		}
		if after := snapshot(); strings.Join(after, "\n") != strings.Join(before, "\n") {
			t.Fatalf("a look changed the store:\nbefore %v\nafter  %v", before, after)
		}
		if look.Result.Resolved == 0 || len(look.Exceptions) == 0 || len(look.Oldest) == 0 {
			t.Fatalf("the look found %+v, %d exceptions, %d oldest; want some resolved (rejected rows age out)", look.Result, len(look.Exceptions), len(look.Oldest))
		}
		// What it found is what a run then finds.
		run, err := rules.Run(ctx, db, cfg, ix, ahead)
		if err != nil {
			t.Fatal(err)
		}
		if run.New != look.Result.New || run.Open != look.Result.Open || run.Resolved != look.Result.Resolved {
			t.Errorf("look %d/%d/%d, run %d/%d/%d (new/open/resolved)", look.Result.New, look.Result.Open, look.Result.Resolved, run.New, run.Open, run.Resolved)
		}
	})
}
