package store_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
)

// TestMigration12RewritesExceptionIDs: exceptions recorded before
// migration 00012 named a refused file by its database number and a
// rejected row by its sheet's name; after it, by the file's content (or
// name and day) and the sheet's position, as the rules now build them.
// Of two refused exceptions that now name the same content, the later
// file's stays.
func TestMigration12RewritesExceptionIDs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.MigrateTo(ctx, 11); err != nil {
			t.Fatal(err)
		}
		t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
		file := func(partner, name, sha, status string, at time.Time) int64 {
			t.Helper()
			var id int64
			q := db.Rebind(`INSERT INTO files (partner, name, sha256, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`)
			if err := db.QueryRowxContext(ctx, q, partner, name, sha, status, store.T(at), store.T(at)).Scan(&id); err != nil {
				t.Fatal(err)
			}
			return id
		}
		exc := func(id, category string, fileID int64, row int) {
			t.Helper()
			q := db.Rebind(`INSERT INTO exceptions (id, category, partner, file_id, row_num, status, first_seen, last_seen) VALUES (?, ?, 'p', ?, ?, 'open', ?, ?)`)
			if _, err := db.ExecContext(ctx, q, id, category, fileID, row, store.T(t0), store.T(t0)); err != nil {
				t.Fatal(err)
			}
		}
		sid := func(id int64) string { return "file_refused:" + itoa(id) }
		a := file("p", "p_1.csv", "aaaaaaaaaaaaaaaa0000", "failed", t0)
		b := file("p", "p_1 (1).csv", "aaaaaaaaaaaaaaaa0000", "failed", t0.Add(time.Hour)) // the same content again
		c := file("p", "scan.pdf", "", "refused", t0)
		d := file("p", "p_2.xlsx", "bbbbbbbbbbbbbbbb1111", "done", t0)
		exc(sid(a), "file_refused", a, 0)
		exc(sid(b), "file_refused", b, 0)
		exc(sid(c), "file_refused", c, 0)
		for _, sheet := range []string{"Zed Patient", "Asha Patient"} {
			q := db.Rebind(`INSERT INTO sheet_rows (file_id, sheet, row_num, status) VALUES (?, ?, 7, 'rejected')`)
			if _, err := db.ExecContext(ctx, q, d, sheet); err != nil {
				t.Fatal(err)
			}
			exc("rejected_row:p:bbbbbbbbbbbbbbbb:"+sheet+":7", "rejected_row", d, 7)
		}
		exc("no_bill:p:x", "no_bill", 0, 0)

		if err := db.MigrateTo(ctx, 12); err != nil {
			t.Fatal(err)
		}
		var got []struct {
			ID     string `db:"id"`
			FileID *int64 `db:"file_id"`
		}
		if err := db.SelectContext(ctx, &got, `SELECT id, file_id FROM exceptions ORDER BY id`); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, g := range got {
			ids = append(ids, g.ID)
			if g.ID == "file_refused:p:aaaaaaaaaaaaaaaa" && (g.FileID == nil || *g.FileID != b) {
				t.Errorf("%s kept file %v, want the later file %d", g.ID, g.FileID, b)
			}
		}
		want := []string{"file_refused:p:aaaaaaaaaaaaaaaa", "file_refused:p:scan.pdf:2026-11-20", "no_bill:p:x",
			"rejected_row:p:bbbbbbbbbbbbbbbb:1:7", "rejected_row:p:bbbbbbbbbbbbbbbb:2:7"}
		if !slices.Equal(ids, want) {
			t.Errorf("IDs after 00012:\n%q\nwant\n%q", ids, want)
		}
	})
}

func itoa(n int64) string {
	return string(strconv.AppendInt(nil, n, 10))
}
