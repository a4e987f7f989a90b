package rules_test

import (
	"context"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/reconcile/rules"
)

func TestCheckDrops(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ist, _ := time.LoadLocation("Asia/Kolkata")
		expect := map[string]string{"sunrise": "10:30", "metro": "18:00"}
		at := func(hhmm string) time.Time {
			d, _ := time.ParseInLocation("2006-01-02 15:04", "2026-11-25 "+hhmm, ist)
			return d
		}
		got, err := rules.CheckDrops(ctx, db, expect, at("10:00"), ist)
		if err != nil || len(got) != 0 {
			t.Fatalf("before any deadline: %v, %v", got, err)
		}
		got, _ = rules.CheckDrops(ctx, db, expect, at("11:00"), ist)
		if len(got) != 1 || got[0].Partner != "sunrise" || got[0].Day != "2026-11-25" {
			t.Fatalf("after sunrise's deadline: %+v", got)
		}
		rules.CheckDrops(ctx, db, expect, at("12:00"), ist) // a second look refreshes, not duplicates
		var n int
		db.Get(&n, `SELECT COUNT(*) FROM exceptions WHERE category = 'missing_drop' AND status = 'open'`)
		if n != 1 {
			t.Fatalf("%d open exceptions, want 1", n)
		}
		// The file arrives late, at 12:30: the exception resolves.
		q := db.Rebind(`INSERT INTO files (partner, name, sha256, created_at, updated_at) VALUES ('sunrise', 'late.csv', 'x', ?, ?)`)
		if _, err := db.Exec(q, store.T(at("12:30")), store.T(at("12:30"))); err != nil {
			t.Fatal(err)
		}
		got, _ = rules.CheckDrops(ctx, db, expect, at("13:00"), ist)
		if len(got) != 0 {
			t.Errorf("still missing after the file came: %+v", got)
		}
		var status string
		db.Get(&status, `SELECT status FROM exceptions WHERE id = 'drop:sunrise:2026-11-25'`)
		if status != "resolved" {
			t.Errorf("exception status %q, want resolved", status)
		}
		// Metro's deadline passes with no file.
		got, _ = rules.CheckDrops(ctx, db, expect, at("18:30"), ist)
		if len(got) != 1 || got[0].Partner != "metro" {
			t.Errorf("at 18:30: %+v", got)
		}
	})
}

// TestMissingDropResolvesOnALaterDay: a partner that sent nothing on one
// day and a file the next has nothing missing any more; the day with no
// file does not stay open for ever.
func TestMissingDropResolvesOnALaterDay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ist, _ := time.LoadLocation("Asia/Kolkata")
		expect := map[string]string{"sunrise": "10:30"}
		at := func(day, hhmm string) time.Time {
			d, _ := time.ParseInLocation("2006-01-02 15:04", day+" "+hhmm, ist)
			return d
		}
		if got, _ := rules.CheckDrops(ctx, db, expect, at("2026-11-25", "11:00"), ist); len(got) != 1 {
			t.Fatalf("day 1 with no file: %+v, want sunrise missing", got)
		}
		// Nothing on the 25th at all; the 26th's file comes at 09:00.
		q := db.Rebind(`INSERT INTO files (partner, name, sha256, created_at, updated_at) VALUES ('sunrise', 'd2.csv', 'y', ?, ?)`)
		if _, err := db.Exec(q, store.T(at("2026-11-26", "09:00")), store.T(at("2026-11-26", "09:00"))); err != nil {
			t.Fatal(err)
		}
		if got, _ := rules.CheckDrops(ctx, db, expect, at("2026-11-26", "11:00"), ist); len(got) != 0 {
			t.Fatalf("day 2 with a file: %+v, want none missing", got)
		}
		var open int
		db.Get(&open, `SELECT COUNT(*) FROM exceptions WHERE category = 'missing_drop' AND status <> 'resolved'`)
		if open != 0 {
			t.Errorf("%d missing drops still open after a later file came, want 0", open)
		}
		// A day with no file after it stays open.
		if got, _ := rules.CheckDrops(ctx, db, expect, at("2026-11-27", "11:00"), ist); len(got) != 1 {
			t.Fatalf("day 3 with no file: %+v", got)
		}
		db.Get(&open, `SELECT COUNT(*) FROM exceptions WHERE category = 'missing_drop' AND status <> 'resolved'`)
		if open != 1 {
			t.Errorf("%d missing drops open on day 3, want 1 (the 27th)", open)
		}
	})
}
