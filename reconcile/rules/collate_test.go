package rules_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/reconcile/rules"
)

// TestSheetPositionIgnoresCollation: a rejected row's ID names its
// sheet's position in byte order ("Zed" before "alpha"), and prune
// renames sheets to the same positions, whatever the database's
// collation: on PostgreSQL the column is given an en-US collation (a
// server's locale), which sorts "alpha" first.
func TestSheetPositionIgnoresCollation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if db.Dialect() == store.Postgres {
			if _, err := db.ExecContext(ctx, `ALTER TABLE sheet_rows ALTER COLUMN sheet TYPE TEXT COLLATE "en-US-x-icu"`); err != nil {
				t.Skipf("no ICU en-US collation: %v", err)
			}
		}
		t0 := time.Now().UTC().Add(-time.Hour)
		var f int64
		q := db.Rebind(`INSERT INTO files (partner, name, sha256, status, created_at, updated_at) VALUES ('p', 'p.xlsx', 'bbbbbbbbbbbbbbbb1111', 'done', ?, ?) RETURNING id`)
		if err := db.QueryRowxContext(ctx, q, store.T(t0), store.T(t0)).Scan(&f); err != nil {
			t.Fatal(err)
		}
		for row, sheet := range map[int]string{7: "Zed", 8: "alpha"} {
			q := db.Rebind(`INSERT INTO sheet_rows (file_id, sheet, row_num, status, code, message) VALUES (?, ?, ?, 'rejected', 'bad', ?)`)
			if _, err := db.ExecContext(ctx, q, f, sheet, row, "on "+sheet); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := rules.Run(ctx, db, cfg, mapping.NewIndex(nil, nil), time.Now()); err != nil {
			t.Fatal(err)
		}
		var got []string
		if err := db.SelectContext(ctx, &got, `SELECT id || ' ' || detail FROM exceptions WHERE category = 'rejected_row' ORDER BY id`); err != nil {
			t.Fatal(err)
		}
		want := []string{"rejected_row:p:bbbbbbbbbbbbbbbb:1:7 bad: on Zed", "rejected_row:p:bbbbbbbbbbbbbbbb:2:8 bad: on alpha"}
		if !slices.Equal(got, want) {
			t.Errorf("rejected rows:\n%q\nwant\n%q", got, want)
		}
		if _, err := ledger.New(db).Prune(ctx, time.Now().Add(time.Hour), ledger.PruneOptions{}); err != nil {
			t.Fatal(err)
		}
		var sheets []string
		if err := db.SelectContext(ctx, &sheets, `SELECT sheet FROM sheet_rows ORDER BY row_num`); err != nil {
			t.Fatal(err)
		}
		if want := []string{"#1", "#2"}; !slices.Equal(sheets, want) {
			t.Errorf("sheets of rows 7 (Zed) and 8 (alpha) after prune: %q, want %q", sheets, want)
		}
	})
}
