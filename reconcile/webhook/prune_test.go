package webhook_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/reconcile/webhook"
)

// TestPruneBodies: bodies received before the cutoff are emptied and
// marked, once; their events and the folded state stay; newer bodies are
// untouched; and replaying a pruned event's body afterwards is a repeat,
// counted and dropped, never a crash nor a second copy of the data.
func TestPruneBodies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := webhook.New(db, config.Default().Webhook, nil)
		defer r.Close()
		old := `{"labID":"l","eventType":"bill.created","eventTime":1700000000,"data":{"billID":"b1","integratorID":"p:1",` +
			`"billData":{"status":"created","mobile":"9876543210","testData":[{"_id":"t1","status":"pending"}]}}}`
		fresh := `{"labID":"l","eventType":"bill.created","eventTime":1700000000,"data":{"billID":"b2","integratorID":"p:2",` +
			`"billData":{"status":"created","mobile":"9123456780","testData":[]}}}`
		for _, b := range []string{old, fresh} {
			if res, err := r.Ingest(ctx, []byte(b), "test"); err != nil || res.Status != webhook.StatusStored {
				t.Fatalf("ingest: %+v, %v", res, err)
			}
		}
		cutoff := time.Now().Add(-24 * time.Hour)
		if _, err := db.ExecContext(ctx, db.Rebind(`UPDATE webhook_raw SET received_at = ? WHERE id = (SELECT raw_id FROM webhook_events WHERE bill_id = 'b1')`),
			store.T(cutoff.Add(-time.Hour))); err != nil {
			t.Fatal(err)
		}
		count, err := webhook.CountPrunableBodies(ctx, db, cutoff)
		if err != nil || count.Bodies != 1 || count.Bytes != int64(len(old)) {
			t.Fatalf("count = %+v, %v; want 1 body of %d bytes", count, err, len(old))
		}
		got, err := webhook.PruneBodies(ctx, db, cutoff, 1)
		if err != nil || got != count {
			t.Fatalf("prune = %+v, %v; want %+v", got, err, count)
		}
		if again, err := webhook.PruneBodies(ctx, db, cutoff, 1); err != nil || again.Bodies != 0 {
			t.Errorf("second prune = %+v, %v; want nothing", again, err)
		}
		var sizes []int64
		if err := db.SelectContext(ctx, &sizes, `SELECT LENGTH(body) FROM webhook_raw ORDER BY id`); err != nil {
			t.Fatal(err)
		}
		if len(sizes) != 2 || sizes[0] != 0 || sizes[1] != int64(len(fresh)) {
			t.Errorf("body sizes %v, want [0 %d]", sizes, len(fresh))
		}
		var events, states int
		db.GetContext(ctx, &events, `SELECT COUNT(*) FROM webhook_events`)
		db.GetContext(ctx, &states, `SELECT COUNT(*) FROM booking_state WHERE state = 'created'`)
		if events != 2 || states != 2 {
			t.Errorf("%d events, %d states after the prune; want 2 and 2", events, states)
		}

		file := filepath.Join(t.TempDir(), "old.json")
		if err := os.WriteFile(file, []byte(old), 0o600); err != nil {
			t.Fatal(err)
		}
		rep, err := r.Replay(ctx, []string{file})
		if err != nil || rep.Count[webhook.StatusDuplicate] != 1 {
			t.Fatalf("replay of a pruned event: %+v, %v; want one repeat", rep, err)
		}
		var raws int
		db.GetContext(ctx, &raws, `SELECT COUNT(*) FROM webhook_raw`)
		if raws != 2 {
			t.Errorf("%d raw bodies after the replay, want 2 (the repeat's dropped)", raws)
		}
	})
}
