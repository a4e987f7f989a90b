package rules

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
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
	return Apply(ctx, db, decisions(ids, reconcile.Decision{Action: reconcile.ActionClose, Note: note}), by, now)
}

// Snooze hides the exceptions until until; then they are open again. All
// or nothing.
func Snooze(ctx context.Context, db *store.DB, ids []string, until time.Time, by, note string, now time.Time) error {
	return Apply(ctx, db, decisions(ids, reconcile.Decision{Action: reconcile.ActionSnooze, Until: until, Note: note}), by, now)
}

// Reopen undoes a close or a snooze: the exceptions are open again (the
// note is kept). All or nothing.
func Reopen(ctx context.Context, db *store.DB, ids []string) error {
	return Apply(ctx, db, decisions(ids, reconcile.Decision{Action: reconcile.ActionReopen}), "", time.Now())
}

func decisions(ids []string, d reconcile.Decision) []reconcile.Decision {
	out := make([]reconcile.Decision, len(ids))
	for i, id := range ids {
		out[i] = d
		out[i].ID = id
	}
	return out
}

// Apply carries out a person's decisions in one transaction: all or
// nothing. Every problem is found before anything changes, and the error
// names each by its Where: an unknown ID (ErrNoException), a close or
// snooze without a note, a snooze not in the future, a decision on facts
// that changed since the person saw them (Decision.Fingerprint).
func Apply(ctx context.Context, db *store.DB, ds []reconcile.Decision, by string, now time.Time) error {
	if len(ds) == 0 {
		return errors.New("name at least one exception ID")
	}
	return db.InTx(ctx, func(tx *sqlx.Tx) error {
		var problems []error
		for _, d := range ds {
			if err := check(ctx, tx, d, now); err != nil {
				problems = append(problems, err)
			}
		}
		if len(problems) > 0 {
			return fmt.Errorf("%w (nothing was changed)", errors.Join(problems...))
		}
		for _, d := range ds {
			if err := applyDecision(ctx, tx, d, by, now); err != nil {
				return fmt.Errorf("%sexception %q: %w", where(d), d.ID, err)
			}
		}
		return nil
	})
}

func where(d reconcile.Decision) string {
	if d.Where == "" {
		return ""
	}
	return d.Where + ": "
}

// check finds what would make d wrong to apply.
func check(ctx context.Context, tx *sqlx.Tx, d reconcile.Decision, now time.Time) error {
	var cur struct {
		Category reconcile.Category `db:"category"`
		Status   reconcile.Status   `db:"status"`
		Detail   string             `db:"detail"`
		First    store.Time         `db:"first_seen"`
	}
	err := tx.GetContext(ctx, &cur, tx.Rebind(`SELECT category, status, detail, first_seen FROM exceptions WHERE id = ?`), d.ID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%sexception %q: %w", where(d), d.ID, ErrNoException)
	case err != nil:
		return fmt.Errorf("%sexception %q: %w", where(d), d.ID, err)
	case d.Action != reconcile.ActionReopen && strings.TrimSpace(d.Note) == "":
		return fmt.Errorf("%s%s %q needs a note saying why", where(d), d.Action, d.ID)
	case d.Action == reconcile.ActionSnooze && !d.Until.After(now):
		return fmt.Errorf("%ssnooze %q until %s: that is not in the future", where(d), d.ID, d.Until.Format(time.DateOnly))
	case d.Fingerprint != "" && d.Fingerprint != reconcile.Fingerprint(d.ID, reconcile.ShownDetail(cur.Category, cur.Detail), cur.First.Time):
		return fmt.Errorf("%sexception %q has changed since this was written (now: %s; first seen %s); decide on the latest workbook",
			where(d), d.ID, reconcile.ShownDetail(cur.Category, cur.Detail), cur.First.UTC().Format(time.RFC3339))
	}
	return nil
}

func applyDecision(ctx context.Context, tx *sqlx.Tx, d reconcile.Decision, by string, now time.Time) error {
	var q string
	var args []any
	switch d.Action {
	case reconcile.ActionClose:
		q = `UPDATE exceptions SET status = ?, closed_by = ?, closed_at = ?, note = ?, closed_detail = detail, snoozed_until = NULL WHERE id = ?`
		args = []any{reconcile.StatusClosed, by, store.T(now), d.Note, d.ID}
	case reconcile.ActionSnooze:
		q = `UPDATE exceptions SET status = ?, snoozed_until = ?, closed_by = ?, closed_at = ?, note = ? WHERE id = ?`
		args = []any{reconcile.StatusSnoozed, store.T(d.Until), by, store.T(now), d.Note, d.ID}
	case reconcile.ActionReopen:
		q = `UPDATE exceptions SET status = ?, snoozed_until = NULL, closed_detail = '' WHERE id = ?`
		args = []any{reconcile.StatusOpen, d.ID}
	default:
		return fmt.Errorf("unknown action %q", d.Action)
	}
	_, err := tx.ExecContext(ctx, tx.Rebind(q), args...)
	return err
}

// Listed is an exception as `flabsync exceptions list` shows it.
type Listed struct {
	reconcile.Exception
	ClosedBy     string     `json:"closed_by,omitempty"`
	ClosedAt     *time.Time `json:"closed_at,omitempty"`
	SnoozedUntil *time.Time `json:"snoozed_until,omitempty"`
}

// ListAll is List's status for every exception, whatever its status.
const ListAll reconcile.Status = "all"

// List returns the exceptions of status (StatusOpen means new or open;
// or StatusClosed, StatusSnoozed, StatusResolved, ListAll) and category
// ("" for all), by category and ID.
func List(ctx context.Context, db *store.DB, status reconcile.Status, category reconcile.Category) ([]Listed, error) {
	where, args := "1 = 1", []any{}
	switch status {
	case ListAll:
	case reconcile.StatusOpen:
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
