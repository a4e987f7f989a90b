package webhook

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/reconcile"
)

// Raw statuses in webhook_raw.
const (
	rawStored  = "stored"  // parsed, and its event stored
	rawInvalid = "invalid" // not a Flabs event; kept as received, for replay after a fix
)

// writeBatch stores a batch of deliveries in tx and sets each one's
// status: the raw bodies, then the events (a repeat of a stored event is
// counted on it and its raw body not kept), then the fold of the new
// events into booking state. Rows are written in key order and booking
// rows locked in integrator-ID order, so concurrent writers on
// PostgreSQL cannot deadlock one another.
func writeBatch(ctx context.Context, tx *sqlx.Tx, dialect store.Dialect, batch []*delivery, now time.Time) error {
	firsts := map[string]*delivery{}
	var valid, invalid []*delivery
	for _, d := range batch {
		d.status, d.orphan, d.repeats = "", false, 0
		switch {
		case d.ev == nil:
			d.status = StatusInvalid
			if d.keep {
				invalid = append(invalid, d)
			}
		case firsts[d.ev.Key] != nil:
			d.status = StatusDuplicate
			firsts[d.ev.Key].repeats++
		default:
			firsts[d.ev.Key] = d
			valid = append(valid, d)
		}
	}
	slices.SortFunc(valid, func(a, b *delivery) int { return strings.Compare(a.ev.Key, b.ev.Key) })

	tv := timeArg(dialect)
	rawIDs, err := insertRaw(ctx, tx, invalid, valid, tv)
	if err != nil {
		return err
	}
	stored, losers, err := insertEvents(ctx, tx, valid, rawIDs, tv)
	if err != nil {
		return err
	}
	if len(losers) > 0 { // stored meanwhile by another writer: keep one copy
		if _, err := tx.ExecContext(ctx, inQuery(tx, `DELETE FROM webhook_raw WHERE id IN (%s)`, len(losers)), anys(losers)...); err != nil {
			return fmt.Errorf("drop repeated raw bodies: %w", err)
		}
	}
	return fold(ctx, tx, dialect, stored, tv, tv(now))
}

// timeArg returns how times are passed to dialect: store.Time's fixed
// text on SQLite; time.Time on PostgreSQL, which pgx encodes natively
// (rather than parsing text back); NULL for the zero time on both.
func timeArg(dialect store.Dialect) func(time.Time) any {
	if dialect == store.Postgres {
		return func(t time.Time) any {
			if t.IsZero() {
				return nil
			}
			return t.UTC().Truncate(time.Microsecond)
		}
	}
	return func(t time.Time) any { return store.T(t) }
}

// insertRaw stores the bodies — invalid ones with their reason — and
// returns the new raw IDs of the valid ones by dedupe key.
func insertRaw(ctx context.Context, tx *sqlx.Tx, invalid, valid []*delivery, tv func(time.Time) any) (map[string]int64, error) {
	rows := make([][]any, 0, len(invalid)+len(valid))
	for _, d := range invalid {
		rows = append(rows, []any{tv(d.received), d.remote, d.body, "", rawInvalid, d.reason})
	}
	for _, d := range valid {
		rows = append(rows, []any{tv(d.received), d.remote, d.body, d.ev.Key, rawStored, ""})
	}
	ids := make(map[string]int64, len(valid))
	err := insertRows(ctx, tx, `INSERT INTO webhook_raw (received_at, remote, body, dedupe_key, status, error) VALUES %s RETURNING id, dedupe_key`,
		row(6), rows, func(r *sqlx.Rows) error {
			var id int64
			var key string
			if err := r.Scan(&id, &key); err != nil {
				return err
			}
			if key != "" {
				ids[key] = id
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("store raw bodies: %w", err)
	}
	return ids, nil
}

// eventRow is one event's VALUES group. orphan is worked out by the
// database in the same statement: the integrator ID is not in the
// bookings ledger (or there is none).
const eventRow = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NOT EXISTS (SELECT 1 FROM bookings WHERE integrator_id = ?))"

// insertEvents stores the events, or counts a delivery on the event
// already stored under the same key. It sets each delivery's status and
// orphan mark and returns the new events and the raw IDs of bodies that
// turned out to be repeats.
func insertEvents(ctx context.Context, tx *sqlx.Tx, valid []*delivery, rawIDs map[string]int64, tv func(time.Time) any) (stored []*delivery, losers []int64, err error) {
	rows := make([][]any, 0, len(valid))
	byKey := make(map[string]*delivery, len(valid))
	for _, d := range valid {
		e := d.ev
		byKey[e.Key] = d
		rows = append(rows, []any{rawIDs[e.Key], e.Key, e.EventType, e.Data.IntegratorID, e.Data.BillID,
			strings.Join(e.Fold().CompletedTests(), ","), tv(e.Time()), tv(d.received), 1 + d.repeats, tv(d.received),
			e.Data.IntegratorID})
	}
	err = insertRows(ctx, tx, `INSERT INTO webhook_events
	(raw_id, dedupe_key, event, integrator_id, bill_id, test_key, event_time, received_at, deliveries, last_received_at, orphan)
VALUES %s
ON CONFLICT (dedupe_key) DO UPDATE SET deliveries = webhook_events.deliveries + excluded.deliveries,
	last_received_at = excluded.last_received_at
RETURNING raw_id, dedupe_key, orphan`, eventRow, rows, func(r *sqlx.Rows) error {
		var rawID int64
		var key string
		var orphan bool
		if err := r.Scan(&rawID, &key, &orphan); err != nil {
			return err
		}
		d := byKey[key]
		if d == nil {
			return fmt.Errorf("event %s returned but not sent", key)
		}
		d.orphan = orphan
		if rawID == rawIDs[key] {
			d.status = StatusStored
			stored = append(stored, d)
		} else {
			d.status = StatusDuplicate
			losers = append(losers, rawIDs[key])
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("store events: %w", err)
	}
	for _, d := range valid {
		if d.status == "" {
			return nil, nil, fmt.Errorf("event %s: no row returned", d.ev.Key)
		}
	}
	return stored, losers, nil
}

// stateRow is the part of booking_state the fold reads back.
type stateRow struct {
	IntegratorID string     `db:"integrator_id"`
	CreatedAt    store.Time `db:"created_at"`
	CompletedAt  store.Time `db:"completed_at"`
	DeletedAt    store.Time `db:"deleted_at"`
	LastEventAt  store.Time `db:"last_event_at"`
	Orphan       bool       `db:"orphan"`
}

// partRow is a bill or a completed report of a booking, read back in one
// query: Kind "bill" (Key = bill ID) or "report" (Key = ReportKey).
type partRow struct {
	IntegratorID string     `db:"integrator_id"`
	Kind         string     `db:"kind"`
	Key          string     `db:"k"`
	At           store.Time `db:"at"`
	State        string     `db:"state"`
	Tests        int        `db:"tests"`
}

// fold applies newly stored events to booking_state, booking_bills and
// booking_reports. On PostgreSQL the booking rows are created if missing
// and locked (in integrator-ID order) before they are read, so two
// receivers folding events of one booking take turns.
func fold(ctx context.Context, tx *sqlx.Tx, dialect store.Dialect, stored []*delivery, tv func(time.Time) any, now any) error {
	events := map[string][]reconcile.Event{}
	orphan := map[string]bool{}
	for _, d := range stored {
		ev := d.ev.Fold()
		if _, ok := reconcile.StateOf(ev.Type); !ok || ev.IntegratorID == "" || ev.BillID == "" {
			continue
		}
		events[ev.IntegratorID] = append(events[ev.IntegratorID], ev)
		orphan[ev.IntegratorID] = d.orphan
	}
	if len(events) == 0 {
		return nil
	}
	ids := sortedKeys(events)

	lock := ""
	if dialect == store.Postgres {
		rows := make([][]any, len(ids))
		for i, id := range ids {
			rows[i] = []any{id, string(reconcile.StateNone), now}
		}
		if err := insertRows(ctx, tx, `INSERT INTO booking_state (integrator_id, state, updated_at) VALUES %s
ON CONFLICT (integrator_id) DO NOTHING`, row(3), rows, nil); err != nil {
			return fmt.Errorf("fold: create booking states: %w", err)
		}
		lock = " ORDER BY integrator_id FOR UPDATE"
	}
	var states []stateRow
	if err := selectIn(ctx, tx, `SELECT integrator_id, created_at, completed_at, deleted_at, last_event_at, orphan
FROM booking_state WHERE integrator_id IN (%s)`+lock, ids, &states); err != nil {
		return fmt.Errorf("fold: read booking states: %w", err)
	}
	var parts []partRow
	for rest := ids; len(rest) > 0; {
		n := min(len(rest), maxChunk)
		q := expand(tx, `SELECT integrator_id, 'bill' AS kind, bill_id AS k, first_seen AS at, state, tests FROM booking_bills WHERE integrator_id IN (%[1]s)
UNION ALL
SELECT integrator_id, 'report', test_key, completed_at, '', 0 FROM booking_reports WHERE integrator_id IN (%[1]s)`, "?", n)
		args := anys(rest[:n])
		if err := tx.SelectContext(ctx, &parts, q, append(args, args...)...); err != nil {
			return fmt.Errorf("fold: read bills and reports: %w", err)
		}
		rest = rest[n:]
	}

	bookings := make(map[string]*reconcile.Booking, len(ids))
	for _, id := range ids {
		bookings[id] = reconcile.NewBooking(id)
	}
	for _, s := range states {
		if b := bookings[s.IntegratorID]; b != nil {
			b.CreatedAt, b.CompletedAt, b.DeletedAt, b.LastEventAt, b.Orphan = s.CreatedAt.Time, s.CompletedAt.Time, s.DeletedAt.Time, s.LastEventAt.Time, s.Orphan
		}
	}
	for _, p := range parts {
		b := bookings[p.IntegratorID]
		switch {
		case b == nil:
		case p.Kind == "bill":
			b.Bills[p.Key] = &reconcile.Bill{ID: p.Key, State: reconcile.State(p.State), FirstSeen: p.At.Time, Tests: p.Tests}
		default:
			b.Reports[p.Key] = p.At.Time
		}
	}

	var stateRows, billRows, reportRows [][]any
	for _, id := range ids {
		b := bookings[id]
		before := b.Clone()
		changed := b.Orphan != orphan[id]
		b.Orphan = orphan[id]
		for _, ev := range events[id] {
			changed = b.Apply(ev) || changed
		}
		if !changed {
			continue
		}
		billID := ""
		if bill := b.Bill(); bill != nil {
			billID = bill.ID
		}
		stateRows = append(stateRows, []any{id, string(b.State()), billID, len(b.Bills), len(b.Reports),
			tv(b.CreatedAt), tv(b.CompletedAt), tv(b.DeletedAt), tv(b.LastEventAt), now, b.Orphan})
		for _, billID := range sortedKeys(b.Bills) {
			bill, old := b.Bills[billID], before.Bills[billID]
			if old == nil || *old != *bill {
				billRows = append(billRows, []any{id, bill.ID, tv(bill.FirstSeen), string(bill.State), bill.Tests})
			}
		}
		for _, k := range sortedKeys(b.Reports) {
			if old, ok := before.Reports[k]; !ok || !old.Equal(b.Reports[k]) {
				reportRows = append(reportRows, []any{id, k, tv(b.Reports[k])})
			}
		}
	}
	if err := insertRows(ctx, tx, `INSERT INTO booking_state
	(integrator_id, state, bill_id, bills_seen, reports_completed, created_at, completed_at, deleted_at, last_event_at, updated_at, orphan)
VALUES %s
ON CONFLICT (integrator_id) DO UPDATE SET state = excluded.state, bill_id = excluded.bill_id, bills_seen = excluded.bills_seen,
	reports_completed = excluded.reports_completed, created_at = excluded.created_at, completed_at = excluded.completed_at,
	deleted_at = excluded.deleted_at, last_event_at = excluded.last_event_at, updated_at = excluded.updated_at, orphan = excluded.orphan`,
		row(11), stateRows, nil); err != nil {
		return fmt.Errorf("fold: write booking states: %w", err)
	}
	if err := insertRows(ctx, tx, `INSERT INTO booking_bills (integrator_id, bill_id, first_seen, state, tests) VALUES %s
ON CONFLICT (integrator_id, bill_id) DO UPDATE SET first_seen = excluded.first_seen, state = excluded.state, tests = excluded.tests`,
		row(5), billRows, nil); err != nil {
		return fmt.Errorf("fold: write bills: %w", err)
	}
	if err := insertRows(ctx, tx, `INSERT INTO booking_reports (integrator_id, test_key, completed_at) VALUES %s
ON CONFLICT (integrator_id, test_key) DO UPDATE SET completed_at = excluded.completed_at`, row(3), reportRows, nil); err != nil {
		return fmt.Errorf("fold: write reports: %w", err)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
