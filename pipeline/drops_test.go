package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/pipeline"
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
		got, err := pipeline.CheckDrops(ctx, db, expect, at("10:00"), ist)
		if err != nil || len(got) != 0 {
			t.Fatalf("before any deadline: %v, %v", got, err)
		}
		got, _ = pipeline.CheckDrops(ctx, db, expect, at("11:00"), ist)
		if len(got) != 1 || got[0].Partner != "sunrise" || got[0].Day != "2026-11-25" {
			t.Fatalf("after sunrise's deadline: %+v", got)
		}
		pipeline.CheckDrops(ctx, db, expect, at("12:00"), ist) // a second look refreshes, not duplicates
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
		got, _ = pipeline.CheckDrops(ctx, db, expect, at("13:00"), ist)
		if len(got) != 0 {
			t.Errorf("still missing after the file came: %+v", got)
		}
		var status string
		db.Get(&status, `SELECT status FROM exceptions WHERE id = 'drop:sunrise:2026-11-25'`)
		if status != "resolved" {
			t.Errorf("exception status %q, want resolved", status)
		}
		// Metro's deadline passes with no file.
		got, _ = pipeline.CheckDrops(ctx, db, expect, at("18:30"), ist)
		if len(got) != 1 || got[0].Partner != "metro" {
			t.Errorf("at 18:30: %+v", got)
		}
	})
}
