package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
)

// TestMigration12SheetNamedAsAPosition: clinics name tabs "1"…"31".
// Sheets "Bookings", "2" and "3", all rejected at row 7: "2" becomes
// position 1, "3" position 2 and "Bookings" 3, IDs the old rows of sheets
// "2" and "3" still hold while the rewrite runs. It must not stop on a
// UNIQUE constraint (the service would not start).
func TestMigration12SheetNamedAsAPosition(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.MigrateTo(ctx, 11); err != nil {
			t.Fatal(err)
		}
		t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
		var d int64
		q := db.Rebind(`INSERT INTO files (partner, name, sha256, status, created_at, updated_at) VALUES ('p', 'x.xlsx', 'bbbbbbbbbbbbbbbb1111', 'done', ?, ?) RETURNING id`)
		if err := db.QueryRowxContext(ctx, q, store.T(t0), store.T(t0)).Scan(&d); err != nil {
			t.Fatal(err)
		}
		for _, sheet := range []string{"Bookings", "2", "3"} {
			if _, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO sheet_rows (file_id, sheet, row_num, status) VALUES (?, ?, 7, 'rejected')`), d, sheet); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO exceptions (id, category, partner, file_id, row_num, detail, status, first_seen, last_seen) VALUES (?, 'rejected_row', 'p', ?, 7, ?, 'open', ?, ?)`),
				"rejected_row:p:bbbbbbbbbbbbbbbb:"+sheet+":7", d, "sheet "+sheet, store.T(t0), store.T(t0)); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.MigrateTo(ctx, 12); err != nil {
			t.Fatal(err)
		}
		var got []struct {
			ID     string `db:"id"`
			Detail string `db:"detail"`
		}
		if err := db.SelectContext(ctx, &got, `SELECT id, detail FROM exceptions ORDER BY id`); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, g := range got {
			ids = append(ids, g.ID+" "+g.Detail)
		}
		want := []string{"rejected_row:p:bbbbbbbbbbbbbbbb:1:7 sheet 2", "rejected_row:p:bbbbbbbbbbbbbbbb:2:7 sheet 3", "rejected_row:p:bbbbbbbbbbbbbbbb:3:7 sheet Bookings"}
		if !slices.Equal(ids, want) {
			t.Errorf("after 00012:\n%q\nwant\n%q", ids, want)
		}
	})
}

// TestMigration12KeepsDecisionOfDroppedDuplicate: of two refused-file
// exceptions that now name the same content, the later file's is kept;
// when only the earlier one was closed (or snoozed) by a person, that
// decision and its note pass to the one kept.
func TestMigration12KeepsDecisionOfDroppedDuplicate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.MigrateTo(ctx, 11); err != nil {
			t.Fatal(err)
		}
		t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
		file := func(sha string, at time.Time) int64 {
			t.Helper()
			var id int64
			q := db.Rebind(`INSERT INTO files (partner, name, sha256, status, created_at, updated_at) VALUES ('p', 'p_1.csv', ?, 'failed', ?, ?) RETURNING id`)
			if err := db.QueryRowxContext(ctx, q, sha, store.T(at), store.T(at)).Scan(&id); err != nil {
				t.Fatal(err)
			}
			return id
		}
		exc := func(fileID int64, status, note string, closedAt, snoozed any) {
			t.Helper()
			q := db.Rebind(`INSERT INTO exceptions (id, category, partner, file_id, detail, status, note, closed_by, closed_at, closed_detail, snoozed_until, first_seen, last_seen)
VALUES (?, 'file_refused', 'p', ?, 'refused', ?, ?, ?, ?, ?, ?, ?, ?)`)
			by, cd := "", ""
			if status == "closed" {
				by, cd = "asha", "refused"
			}
			if _, err := db.ExecContext(ctx, q, "file_refused:"+itoa(fileID), fileID, status, note, by, closedAt, cd, snoozed, store.T(t0), store.T(t0)); err != nil {
				t.Fatal(err)
			}
		}
		// Content a: the earlier closed, the later open. Content c: the
		// earlier snoozed, the later open. Content e: both decided, the
		// later's decision stays.
		a1, a2 := file("aaaaaaaaaaaaaaaa0000", t0), file("aaaaaaaaaaaaaaaa0000", t0.Add(time.Hour))
		c1, c2 := file("cccccccccccccccc0000", t0), file("cccccccccccccccc0000", t0.Add(time.Hour))
		e1, e2 := file("eeeeeeeeeeeeeeee0000", t0), file("eeeeeeeeeeeeeeee0000", t0.Add(time.Hour))
		closedAt := store.T(t0.Add(30 * time.Minute))
		until := store.T(t0.Add(30 * 24 * time.Hour))
		exc(a1, "closed", "known: the lab sent it twice", closedAt, nil)
		exc(a2, "open", "", nil, nil)
		exc(c1, "snoozed", "waiting for the clinic", nil, until)
		exc(c2, "open", "", nil, nil)
		exc(e1, "closed", "old note", closedAt, nil)
		exc(e2, "snoozed", "newer note", nil, until)

		if err := db.MigrateTo(ctx, 12); err != nil {
			t.Fatal(err)
		}
		var got []struct {
			ID       string      `db:"id"`
			FileID   int64       `db:"file_id"`
			Status   string      `db:"status"`
			Note     string      `db:"note"`
			By       string      `db:"closed_by"`
			Detail   string      `db:"closed_detail"`
			ClosedAt *store.Time `db:"closed_at"`
			Snoozed  *store.Time `db:"snoozed_until"`
		}
		if err := db.SelectContext(ctx, &got, `SELECT id, file_id, status, note, closed_by, closed_detail, closed_at, snoozed_until FROM exceptions ORDER BY id`); err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Fatalf("got %d exceptions, want 3: %+v", len(got), got)
		}
		a, c, e := got[0], got[1], got[2]
		if a.FileID != a2 || a.Status != "closed" || a.Note != "known: the lab sent it twice" || a.By != "asha" || a.Detail != "refused" ||
			a.ClosedAt == nil || !a.ClosedAt.Time.Equal(t0.Add(30*time.Minute)) {
			t.Errorf("content a: %+v, want the later file %d closed by asha with the earlier's note", a, a2)
		}
		if c.FileID != c2 || c.Status != "snoozed" || c.Note != "waiting for the clinic" || c.Snoozed == nil || !c.Snoozed.Time.Equal(t0.Add(30*24*time.Hour)) {
			t.Errorf("content c: %+v, want the later file %d snoozed with the earlier's note", c, c2)
		}
		if e.FileID != e2 || e.Status != "snoozed" || e.Note != "newer note" {
			t.Errorf("content e: %+v, want the later file's own decision", e)
		}
	})
}
