package rules

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/reconcile"
)

// recordRun keeps res's open exceptions per category under its time, for
// the trend (a run repeated as of the same time replaces its figures).
func recordRun(ctx context.Context, db *store.DB, res *Result) error {
	return db.InTx(ctx, func(tx *sqlx.Tx) error {
		q := tx.Rebind(`INSERT INTO reconcile_runs (at, category, open) VALUES (?, ?, ?)
ON CONFLICT (at, category) DO UPDATE SET open = excluded.open`)
		for _, c := range reconcile.Categories {
			if _, err := tx.ExecContext(ctx, q, store.T(res.At), c, res.Total(c)); err != nil {
				return fmt.Errorf("reconcile: record the run's counts: %w", err)
			}
		}
		return nil
	})
}

// Trend returns the open exceptions per category of the last n runs up
// to at, oldest first.
func Trend(ctx context.Context, db *store.DB, at time.Time, n int) ([]reconcile.TrendPoint, error) {
	var rows []struct {
		At       store.Time         `db:"at"`
		Category reconcile.Category `db:"category"`
		Open     int                `db:"open"`
	}
	q := db.Rebind(`SELECT r.at, r.category, r.open FROM reconcile_runs r
WHERE r.at IN (SELECT DISTINCT at FROM reconcile_runs WHERE at <= ? ORDER BY at DESC LIMIT ?)
ORDER BY r.at, r.category`)
	if err := db.SelectContext(ctx, &rows, q, store.T(at.UTC().Truncate(time.Microsecond)), n); err != nil {
		return nil, fmt.Errorf("reconcile: read the trend: %w", err)
	}
	var out []reconcile.TrendPoint
	for _, r := range rows {
		if len(out) == 0 || !out[len(out)-1].At.Equal(r.At.Time) {
			out = append(out, reconcile.TrendPoint{At: r.At.Time, Open: map[reconcile.Category]int{}})
		}
		out[len(out)-1].Open[r.Category] = r.Open
	}
	return out, nil
}

// Oldest returns up to n open exceptions (new or open), the oldest first:
// by when what they are about happened (Exception.Since).
func Oldest(ctx context.Context, db *store.DB, at time.Time, n int) ([]reconcile.Exception, error) {
	return oldestOpen(ctx, db, at, n)
}

func oldestOpen(ctx context.Context, db querier, at time.Time, n int) ([]reconcile.Exception, error) {
	var out []reconcile.Exception
	err := scan(ctx, db, `e.status IN (?, ?)`, []any{reconcile.StatusNew, reconcile.StatusOpen}, fmt.Sprintf("COALESCE(e.occurred_at, e.first_seen), e.id LIMIT %d", n), at,
		func(l Listed) error { out = append(out, l.Exception); return nil })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PreviousRun is the time of the last run before at (ok false: none).
func PreviousRun(ctx context.Context, db *store.DB, at time.Time) (prev time.Time, ok bool, err error) {
	var t store.Time
	q := db.Rebind(`SELECT MAX(at) FROM reconcile_runs WHERE at < ?`)
	if err := db.GetContext(ctx, &t, q, store.T(at.UTC().Truncate(time.Microsecond))); err != nil {
		return time.Time{}, false, fmt.Errorf("reconcile: the previous run: %w", err)
	}
	return t.Time, !t.IsZero(), nil
}
