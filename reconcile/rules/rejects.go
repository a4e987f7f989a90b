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
	"github.com/jmoiron/sqlx"
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

// correction finds, for the rejected row of an exception (e), the first
// accepted row with its booking reference in a later file of its partner
// up to the run's time: "file.csv row 7".
// Its parameters are correctionArgs.
const correction = `SELECT g.name || ' row ' || CAST(c.row_num AS TEXT)
FROM sheet_rows r JOIN files f ON f.id = r.file_id
	JOIN sheet_rows c ON c.ref = r.ref JOIN files g ON g.id = c.file_id
WHERE r.file_id = exceptions.file_id AND r.row_num = exceptions.row_num AND r.status = ? AND ` + correctedBy + `
ORDER BY g.created_at, c.row_num LIMIT 1`

// correctionArgs are correction's parameters as of at.
func correctionArgs(at time.Time) []any {
	return append([]any{ledger.RowRejected}, correctedByArgs(at)...)
}

// noteCorrections says, in the detail of each rejected row this run
// resolved because a later file corrected it, which file and row did.
func noteCorrections(ctx context.Context, tx *sqlx.Tx, at time.Time) error {
	now := store.T(at)
	q := tx.Rebind(`UPDATE exceptions SET detail = detail || '; corrected by ' || (` + correction + `)
WHERE category = ? AND status = ? AND resolved_at = ? AND EXISTS (` + correction + `)`)
	args := append(correctionArgs(at), reconcile.CategoryRejectedRow, reconcile.StatusResolved, now)
	if _, err := tx.ExecContext(ctx, q, append(args, correctionArgs(at)...)...); err != nil {
		return fmt.Errorf("note corrected rows: %w", err)
	}
	return nil
}
