package rules

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/reconcile"
)

// ErrNoException is returned for an exception ID the store does not hold.
var ErrNoException = errors.New("no such exception")

// Close records that a person settled the exceptions: they stay closed
// while their facts (detail) stay the same, and come back as new, with
// the note, when they change. All or nothing: an unknown ID changes none.
func Close(ctx context.Context, db *store.DB, ids []string, by, note string, now time.Time) error {
	return settle(ctx, db, ids, func(tx *sqlx.Tx, id string) error {
		q := tx.Rebind(`UPDATE exceptions SET status = ?, closed_by = ?, closed_at = ?, note = ?, closed_detail = detail,
	snoozed_until = NULL WHERE id = ?`)
		_, err := tx.ExecContext(ctx, q, reconcile.StatusClosed, by, store.T(now), note, id)
		return err
	})
}

// Snooze hides the exceptions until until; then they are open again. All
// or nothing.
func Snooze(ctx context.Context, db *store.DB, ids []string, until time.Time, by, note string, now time.Time) error {
	if !until.After(now) {
		return fmt.Errorf("snooze until %s: that is not in the future", until.Format(time.DateOnly))
	}
	return settle(ctx, db, ids, func(tx *sqlx.Tx, id string) error {
		q := tx.Rebind(`UPDATE exceptions SET status = ?, snoozed_until = ?, closed_by = ?, closed_at = ?, note = ? WHERE id = ?`)
		_, err := tx.ExecContext(ctx, q, reconcile.StatusSnoozed, store.T(until), by, store.T(now), note, id)
		return err
	})
}

// Reopen undoes a close or a snooze: the exceptions are open again (the
// note is kept). All or nothing.
func Reopen(ctx context.Context, db *store.DB, ids []string) error {
	return settle(ctx, db, ids, func(tx *sqlx.Tx, id string) error {
		q := tx.Rebind(`UPDATE exceptions SET status = ?, snoozed_until = NULL, closed_detail = '' WHERE id = ?`)
		_, err := tx.ExecContext(ctx, q, reconcile.StatusOpen, id)
		return err
	})
}

func settle(ctx context.Context, db *store.DB, ids []string, fn func(*sqlx.Tx, string) error) error {
	if len(ids) == 0 {
		return errors.New("name at least one exception ID")
	}
	return db.InTx(ctx, func(tx *sqlx.Tx) error {
		for _, id := range ids {
			var status string
			err := tx.GetContext(ctx, &status, tx.Rebind(`SELECT status FROM exceptions WHERE id = ?`), id)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("exception %q: %w (nothing was changed)", id, ErrNoException)
			}
			if err != nil {
				return fmt.Errorf("exception %q: %w", id, err)
			}
			if err := fn(tx, id); err != nil {
				return fmt.Errorf("exception %q: %w", id, err)
			}
		}
		return nil
	})
}

// Listed is an exception as `flabsync exceptions list` shows it.
type Listed struct {
	reconcile.Exception
	ClosedBy     string     `json:"closed_by,omitempty"`
	ClosedAt     *time.Time `json:"closed_at,omitempty"`
	SnoozedUntil *time.Time `json:"snoozed_until,omitempty"`
}

// List returns the exceptions of status ("open" means new or open, or
// "closed", "snoozed", "resolved", "all") and category ("" for all), by
// category and ID.
func List(ctx context.Context, db *store.DB, status, category string) ([]Listed, error) {
	where, args := "1 = 1", []any{}
	switch status {
	case "all":
	case "open":
		where, args = "e.status IN (?, ?)", append(args, reconcile.StatusNew, reconcile.StatusOpen)
	case reconcile.StatusClosed, reconcile.StatusSnoozed, reconcile.StatusResolved:
		where, args = "e.status = ?", append(args, status)
	default:
		return nil, fmt.Errorf("status %q: want open, closed, snoozed, resolved or all", status)
	}
	if category != "" {
		where, args = where+" AND e.category = ?", append(args, category)
	}
	out := []Listed{}
	err := scan(ctx, db, where, args, "e.category, e.id", time.Now(), func(l Listed) error {
		out = append(out, l)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: list exceptions: %w", err)
	}
	return out, nil
}
