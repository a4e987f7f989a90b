package rules

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/reconcile"
)

// rule is one category's query: it selects, per problem, the columns
// id, integrator_id, partner, file_id, row_num, detail, suggested_action
// and occurred_at (when the thing happened; NULL if unknown); the
// category is the rule's, bound by apply. The database does the work
// (INSERT … SELECT), so a million bookings never pass through memory.
type rule struct {
	category reconcile.Category
	sql      string
	args     []any
}

// apply upserts what r selects into exceptions: new problems as new,
// known ones refreshed (last_seen) and, if they had been resolved, new
// again with a fresh first_seen. Every status is a bound parameter.
func apply(ctx context.Context, tx *sqlx.Tx, dialect store.Dialect, r rule, at time.Time) (int64, error) {
	ts := timeParam(dialect)
	q := `INSERT INTO exceptions (id, category, integrator_id, partner, file_id, row_num, detail, suggested_action, occurred_at, status, first_seen, last_seen)
SELECT q.id, ?, q.integrator_id, q.partner, q.file_id, q.row_num, q.detail, q.suggested_action, q.occurred_at, ?, ` + ts + `, ` + ts + `
FROM (` + r.sql + `) q WHERE true
ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, detail = excluded.detail,
	suggested_action = excluded.suggested_action, occurred_at = excluded.occurred_at, file_id = excluded.file_id,
	status = CASE WHEN exceptions.status = ? AND exceptions.closed_detail = excluded.detail THEN exceptions.status
	              WHEN exceptions.status = ? AND exceptions.snoozed_until > ` + ts + ` THEN exceptions.status
	              WHEN exceptions.status IN (?, ?) THEN ?
	              WHEN exceptions.status = ? THEN ?
	              WHEN exceptions.first_seen = excluded.first_seen THEN exceptions.status
	              ELSE ? END,
	first_seen = CASE WHEN exceptions.status = ? OR (exceptions.status = ? AND exceptions.closed_detail <> excluded.detail)
	                  THEN excluded.first_seen ELSE exceptions.first_seen END,
	resolved_at = NULL`
	// The parameters in the order of the text: the category, status and
	// time stamps of the insert, the rule's own, then the update's.
	now := store.T(at)
	args := append([]any{r.category, reconcile.StatusNew, now, now}, r.args...)
	args = append(args,
		reconcile.StatusClosed,
		reconcile.StatusSnoozed, now,
		reconcile.StatusResolved, reconcile.StatusClosed, reconcile.StatusNew,
		reconcile.StatusSnoozed, reconcile.StatusOpen,
		reconcile.StatusOpen,
		reconcile.StatusResolved, reconcile.StatusClosed)
	res, err := tx.ExecContext(ctx, tx.Rebind(q), args...)
	if err != nil {
		return 0, fmt.Errorf("rule %s: %w", r.category, err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// timeParam is a bound time as a query's value (PostgreSQL must be told
// its type where it cannot infer it).
func timeParam(d store.Dialect) string {
	if d == store.Postgres {
		return "CAST(? AS TIMESTAMPTZ)"
	}
	return "?"
}
