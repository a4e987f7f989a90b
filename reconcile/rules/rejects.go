package rules

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/flabsync/flabsync/internal/sheet"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/reconcile"
)

// Rejects reads back the rows rejected in files received in the window
// (RejectsFor before at), from the files themselves (archived or in
// errors/), so the partner gets their own columns with a reason beside.
// options gives the reading options of a partner (its sheet and header
// aliases).
func Rejects(ctx context.Context, db *store.DB, cfg Config, at time.Time, options func(partner string) sheet.Options) ([]reconcile.RejectFile, error) {
	if cfg.RejectsFor <= 0 {
		cfg.RejectsFor = 7 * 24 * time.Hour
	}
	rows, err := ledger.New(db).RejectedRows(ctx, at.Add(-cfg.RejectsFor), at)
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	var out []reconcile.RejectFile
	for i := 0; i < len(rows); {
		j := i
		for j < len(rows) && rows[j].FileID == rows[i].FileID {
			j++
		}
		f := reconcile.RejectFile{Partner: rows[i].Partner, File: rows[i].Name, Path: rows[i].Path}
		want := map[int]int{}
		for _, r := range rows[i:j] {
			want[r.Row] = len(f.Rows)
			f.Rows = append(f.Rows, reconcile.RejectRow{Row: r.Row, Reason: r.Code + ": " + r.Message})
		}
		if _, err := os.Stat(f.Path); err == nil {
			opts := options(f.Partner)
			opts.KeepRaw = true
			sum, _ := sheet.Read(ctx, f.Path, opts, func(rec *sheet.Record) error {
				if k, ok := want[rec.Row]; ok {
					f.Rows[k].Cells = rec.Raw
				}
				return nil
			})
			f.Header = sum.Headers
		}
		out = append(out, f)
		i = j
	}
	return out, nil
}
