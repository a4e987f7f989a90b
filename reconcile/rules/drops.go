package rules

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/reconcile"
)

// MissingDrop is a partner past its expected time today with no file.
type MissingDrop struct {
	Partner  string
	Day      string // YYYY-MM-DD in the schedule's zone
	ExpectBy string
}

// CheckDrops looks, for each partner with an expected time (partner →
// "HH:MM"), whether a file of theirs arrived today (in loc) once that
// time has passed. Each missing one is recorded as an open exception (one
// per partner and day, so repeated checks only refresh it). Any file from
// the partner resolves every missing drop of theirs recorded before it
// came: a late file, or the next day's file after a day with none.
func CheckDrops(ctx context.Context, db *store.DB, expect map[string]string, now time.Time, loc *time.Location) ([]MissingDrop, error) {
	local := now.In(loc)
	midnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	day := local.Format("2006-01-02")
	partners := make([]string, 0, len(expect))
	for p := range expect {
		partners = append(partners, p)
	}
	sort.Strings(partners)
	var missing []MissingDrop
	for _, p := range partners {
		by, err := time.ParseInLocation("15:04", expect[p], loc)
		if err != nil {
			return missing, fmt.Errorf("partners.%s.expect_by %q: %w", p, expect[p], err)
		}
		deadline := midnight.Add(time.Duration(by.Hour())*time.Hour + time.Duration(by.Minute())*time.Minute)
		if local.Before(deadline) {
			continue
		}
		last, err := ledger.New(db).LastFileAt(ctx, p)
		if err != nil {
			return missing, err
		}
		if !last.IsZero() {
			// A file resolves what was missing before it came.
			q := db.Rebind(`UPDATE exceptions SET status = ?, resolved_at = ?, last_seen = ?
WHERE category = ? AND partner = ? AND status <> ? AND first_seen <= ?`)
			if _, err := db.ExecContext(ctx, q, reconcile.StatusResolved, store.T(now), store.T(now), reconcile.CategoryMissingDrop, p,
				reconcile.StatusResolved, store.T(last)); err != nil {
				return missing, fmt.Errorf("resolve missing drops of %s: %w", p, err)
			}
		}
		if !last.Before(midnight) {
			continue
		}
		missing = append(missing, MissingDrop{Partner: p, Day: day, ExpectBy: expect[p]})
		id := "drop:" + p + ":" + day
		q := db.Rebind(`INSERT INTO exceptions (id, category, partner, detail, suggested_action, status, first_seen, last_seen, occurred_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen`)
		detail := fmt.Sprintf("no file from %s on %s by %s (it normally sends by then)", p, day, expect[p])
		action := fmt.Sprintf("ask %s whether they sent today's bookings, and where", p)
		if _, err := db.ExecContext(ctx, q, id, reconcile.CategoryMissingDrop, p, detail, action, reconcile.StatusOpen, store.T(now), store.T(now), store.T(deadline)); err != nil {
			return missing, fmt.Errorf("record %s: %w", id, err)
		}
	}
	return missing, nil
}
