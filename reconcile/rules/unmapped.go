package rules

import (
	"context"
	"fmt"
	"github.com/flabsync/flabsync/internal/redact"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/reconcile"
)

// Unmapped is a name that was sent to Flabs unmapped, with how often.
type Unmapped struct {
	Partner string `db:"partner"`
	Kind    string `db:"kind"`
	Name    string `db:"name"`
	Count   int    `db:"n"`
	// Since is when the first of those bookings was admitted.
	Since store.Time `db:"since"`
}

// unmappedNames groups the names sent unmapped by bookings admitted in
// the window (a few distinct names, however many bookings).
func unmappedNames(ctx context.Context, q sqlx.QueryerContext, rebind func(string) string, since, at time.Time) ([]Unmapped, error) {
	var out []Unmapped
	err := sqlx.SelectContext(ctx, q, &out, rebind(`SELECT b.partner, t.kind, t.name, COUNT(DISTINCT b.integrator_id) AS n, MIN(b.created_at) AS since
FROM booking_tests t JOIN bookings b ON b.integrator_id = t.integrator_id
WHERE t.match_how = ? AND b.status IN (?, ?, ?, ?) AND b.created_at >= ? AND b.created_at <= ?
GROUP BY b.partner, t.kind, t.name ORDER BY b.partner, t.kind, t.name`), mapping.MatchNone,
		ledger.Submitted, ledger.Pending, ledger.InFlight, ledger.Retry, store.T(since), store.T(at))
	if err != nil {
		return nil, fmt.Errorf("rule unmapped_test: %w", err)
	}
	return out, nil
}

// unmappedRule records each name still unmapped today (a name that maps
// now, because someone added an alias, is no longer an exception).
func unmappedRule(ctx context.Context, tx *sqlx.Tx, dialect store.Dialect, ix *mapping.Index, cfg Config, at time.Time) error {
	names, err := unmappedNames(ctx, tx, tx.Rebind, at.Add(-cfg.RejectsFor), at)
	if err != nil {
		return err
	}
	for _, u := range names {
		if ix != nil && ix.Lookup(u.Partner, mapping.Kind(u.Kind), u.Name).Mapped() {
			continue
		}
		r := rule{reconcile.CategoryUnmappedTest, `SELECT ? AS id, '' AS integrator_id, ? AS partner,
	CAST(NULL AS INTEGER) AS file_id, 0 AS row_num, ? AS detail, ? AS suggested_action, ` + timeParam(dialect) + ` AS occurred_at`,
			[]any{"unmapped_test:" + u.Partner + ":" + u.Kind + ":" + mapping.Key(u.Name), u.Partner,
				fmt.Sprintf("%s %s sent unmapped in %d booking(s); Flabs staff map it by hand", u.Kind, redact.Term(u.Name), u.Count),
				"fill in its Flabs ID on the Unmapped sheet and run 'flabsync mapping import --review' on the workbook", u.Since}}
		if _, err := apply(ctx, tx, dialect, r, at); err != nil {
			return err
		}
	}
	return nil
}

// UnmappedNames returns the names still unmapped (for the review sheet).
func UnmappedNames(ctx context.Context, db *store.DB, ix *mapping.Index, cfg Config, at time.Time) ([]mapping.Unmapped, error) {
	if cfg.RejectsFor <= 0 {
		cfg.RejectsFor = 7 * 24 * time.Hour
	}
	names, err := unmappedNames(ctx, db, db.Rebind, at.Add(-cfg.RejectsFor), at)
	if err != nil {
		return nil, err
	}
	var out []mapping.Unmapped
	for _, u := range names {
		if ix != nil && ix.Lookup(u.Partner, mapping.Kind(u.Kind), u.Name).Mapped() {
			continue
		}
		out = append(out, mapping.Unmapped{Partner: u.Partner, Kind: mapping.Kind(u.Kind), Name: u.Name, Count: u.Count})
	}
	return out, nil
}
