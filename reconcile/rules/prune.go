package rules

import (
	"context"
	"fmt"
	"time"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/reconcile"
)

// erasedDetail is what a pruned exception's detail becomes: its code (a
// rejected row's "missing_age: …" keeps "missing_age") and a word on why.
const erasedDetail = ` (detail erased: past retention.patient_data_days)`

// prunable are the exceptions whose detail may quote a partner's sheet
// (a rejected row's message, a refused file's reason), resolved before a
// cutoff — nothing decides on them any more — and rejected rows first
// seen before it, whatever their status: a row past the retention is past
// its rejects_for window too, so no run finds it again, and its detail
// quotes the patient's cells.
const prunable = `((category IN (?, ?) AND status = ? AND resolved_at < ?) OR (category = ? AND first_seen < ?)) AND detail NOT LIKE ?`

// PruneDetails erases, from the prunable exceptions, the part of their
// detail that may quote a sheet's cells; IDs, categories, dates,
// notes and who closed what stay. A dry run only counts. It returns how
// many exceptions it erased (or would).
func PruneDetails(ctx context.Context, db *store.DB, before time.Time, dryRun bool) (int64, error) {
	cut := store.T(before.UTC().Truncate(time.Microsecond))
	args := []any{reconcile.CategoryRejectedRow, reconcile.CategoryFileRefused, reconcile.StatusResolved, cut,
		reconcile.CategoryRejectedRow, cut, "%" + erasedDetail}
	if dryRun {
		var n int64
		if err := db.GetContext(ctx, &n, db.Rebind(`SELECT COUNT(*) FROM exceptions WHERE `+prunable), args...); err != nil {
			return 0, fmt.Errorf("reconcile: count exception details to erase: %w", err)
		}
		return n, nil
	}
	// A rejected row's detail is "code: message": the code stays.
	colon := "INSTR(detail, ':')"
	if db.Dialect() == store.Postgres {
		colon = "STRPOS(detail, ':')"
	}
	q := db.Rebind(`UPDATE exceptions SET closed_detail = '',
	detail = CASE WHEN category = ? AND ` + colon + ` > 0 THEN SUBSTR(detail, 1, ` + colon + ` - 1) ELSE '' END || '` + erasedDetail + `'
WHERE ` + prunable)
	res, err := db.ExecContext(ctx, q, append([]any{reconcile.CategoryRejectedRow}, args...)...)
	if err != nil {
		return 0, fmt.Errorf("reconcile: erase exception details: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
