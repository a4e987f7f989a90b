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

// TestDecisionOnEarlierOccurrenceRefused: a refused file's exception,
// resolved when a corrected file came, is back with the same ID and the
// same detail when the same content is dropped again. A close written in
// the workbook of the first occurrence does not settle the second: the
// fingerprint names the occurrence (first_seen), not only the facts.
func TestDecisionOnEarlierOccurrenceRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := ledger.New(db)
		refuse := func() {
			t.Helper()
			id, _, err := l.StartFile(ctx, ledger.File{Partner: "metro", Name: "metro_1.csv", SHA256: "c677787e3f1607eeffff"})
			if err != nil {
				t.Fatal(err)
			}
			l.FailFile(ctx, id, errors.New("no usable header row"))
		}
		run := func(at time.Time) []rules.Listed {
			t.Helper()
			if _, err := rules.Run(ctx, db, cfg, mapping.NewIndex(nil, nil), at); err != nil {
				t.Fatal(err)
			}
			open, err := rules.List(ctx, db, "open", reconcile.CategoryFileRefused)
			if err != nil {
				t.Fatal(err)
			}
			return open
		}
		now := time.Now()
		refuse()
		first := run(now.Add(time.Minute))
		if len(first) != 1 {
			t.Fatalf("first drop: %d open file_refused, want 1", len(first))
		}
		e1 := first[0]
		print1 := reconcile.Fingerprint(e1.ID, reconcile.ShownDetail(e1.Category, e1.Detail), e1.FirstSeen)

		// A corrected file resolves it; the same content again brings it back.
		id, _, err := l.StartFile(ctx, ledger.File{Partner: "metro", Name: "metro_1 (1).csv", SHA256: "0123456789abcdef0000"})
		if err != nil {
			t.Fatal(err)
		}
		q := db.Rebind(`INSERT INTO sheet_rows (file_id, row_num, status) VALUES (?, 2, ?)`)
		if _, err := db.ExecContext(ctx, q, id, ledger.RowAccepted); err != nil {
			t.Fatal(err)
		}
		l.FinishFile(ctx, id, 1)
		if open := run(now.Add(2 * time.Minute)); len(open) != 0 {
			t.Fatalf("after the correction: %d open, want 0", len(open))
		}
		refuse()
		second := run(now.Add(3 * time.Minute))
		if len(second) != 1 || second[0].ID != e1.ID || second[0].Detail != e1.Detail {
			t.Fatalf("second drop: %+v, want %s back with detail %q", second, e1.ID, e1.Detail)
		}
		d := reconcile.Decision{ID: e1.ID, Action: reconcile.ActionClose, Note: "the lab knows", Where: `sheet "File refused" row 2`, Fingerprint: print1}
		err = rules.Apply(ctx, db, []reconcile.Decision{d}, "asha", now.Add(4*time.Minute))
		if err == nil || !strings.Contains(err.Error(), "has changed") {
			t.Errorf("a close from the first occurrence's workbook: err = %v, want it refused", err)
		}
	})
}
