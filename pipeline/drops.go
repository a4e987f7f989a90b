package pipeline

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/flabsync/flabsync/internal/store"
)

// CategoryMissingDrop is the exception category of a partner that did not
// send its file by the time it normally does.
const CategoryMissingDrop = "missing_drop"

// MissingDrop is a partner past its expected time today with no file.
type MissingDrop struct {
	Partner  string
	Day      string // YYYY-MM-DD in the schedule's zone
	ExpectBy string
}

// CheckDrops looks, for each partner with an expected time (partner →
// "HH:MM"), whether a file of theirs arrived today (in loc) once that
// time has passed. Each missing one is recorded as an open exception (one
// per partner and day, so repeated checks only refresh it); one that
// arrived late resolves its exception.
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
		var n int
		q := db.Rebind(`SELECT COUNT(*) FROM files WHERE partner = ? AND created_at >= ?`)
		if err := db.GetContext(ctx, &n, q, p, store.T(midnight)); err != nil {
			return missing, fmt.Errorf("count today's files of %s: %w", p, err)
		}
		id := "drop:" + p + ":" + day
		if n > 0 {
			q := db.Rebind(`UPDATE exceptions SET status = 'resolved', resolved_at = ?, last_seen = ? WHERE id = ? AND status <> 'resolved'`)
			if _, err := db.ExecContext(ctx, q, store.T(now), store.T(now), id); err != nil {
				return missing, fmt.Errorf("resolve %s: %w", id, err)
			}
			continue
		}
		missing = append(missing, MissingDrop{Partner: p, Day: day, ExpectBy: expect[p]})
		q = db.Rebind(`INSERT INTO exceptions (id, category, partner, detail, suggested_action, status, first_seen, last_seen)
VALUES (?, ?, ?, ?, ?, 'open', ?, ?)
ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen`)
		detail := fmt.Sprintf("no file from %s on %s by %s (it normally sends by then)", p, day, expect[p])
		action := fmt.Sprintf("ask %s whether they sent today's bookings, and where", p)
		if _, err := db.ExecContext(ctx, q, id, CategoryMissingDrop, p, detail, action, store.T(now), store.T(now)); err != nil {
			return missing, fmt.Errorf("record %s: %w", id, err)
		}
	}
	return missing, nil
}
