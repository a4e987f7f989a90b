package webhook

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/reconcile"
)

// Raw statuses in webhook_raw.
const (
	rawStored  = "stored"  // parsed, and its event stored
	rawInvalid = "invalid" // not a Flabs event; kept as received, for replay after a fix
)

// The statements of a batch. "%s" is the list of VALUES groups or of
// placeholders.
const (
	insertRawSQL = `INSERT INTO webhook_raw (received_at, remote, body, dedupe_key, status, error) VALUES %s RETURNING id, dedupe_key`

	// The orphan mark is worked out in the same statement: the event is
	// our lab's and its integrator ID is not in the bookings ledger (or
	// there is none). A repeat of a stored event only counts its delivery.
	insertEventsSQL = `INSERT INTO webhook_events
	(raw_id, dedupe_key, event, integrator_id, bill_id, test_key, event_time, received_at, deliveries, last_received_at, other_lab, orphan)
VALUES %s
ON CONFLICT (dedupe_key) DO UPDATE SET deliveries = webhook_events.deliveries + excluded.deliveries,
	last_received_at = excluded.last_received_at
RETURNING raw_id, dedupe_key, orphan`
	eventRow = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NOT ? AND NOT EXISTS (SELECT 1 FROM bookings WHERE integrator_id = ?))"

	dropRawSQL = `DELETE FROM webhook_raw WHERE id IN (%s)`

	// PostgreSQL only: make sure each booking has a row to lock.
	ensureStateSQL = `INSERT INTO booking_state (integrator_id, state, updated_at) VALUES %s ON CONFLICT (integrator_id) DO NOTHING`

	readStateSQL = `SELECT integrator_id, created_at, completed_at, deleted_at, last_event_at, orphan
FROM booking_state WHERE integrator_id IN (%s) ORDER BY integrator_id`

	readPartsSQL = `SELECT integrator_id, 'bill' AS kind, bill_id AS k, first_seen AS at, state, tests FROM booking_bills WHERE integrator_id IN (%s)
UNION ALL
SELECT integrator_id, 'report', test_key, completed_at, '', 0 FROM booking_reports WHERE integrator_id IN (%s)`

	writeStateSQL = `INSERT INTO booking_state
	(integrator_id, state, bill_id, bills_seen, reports_completed, created_at, completed_at, deleted_at, last_event_at, updated_at, orphan)
VALUES %s
ON CONFLICT (integrator_id) DO UPDATE SET state = excluded.state, bill_id = excluded.bill_id, bills_seen = excluded.bills_seen,
	reports_completed = excluded.reports_completed, created_at = excluded.created_at, completed_at = excluded.completed_at,
	deleted_at = excluded.deleted_at, last_event_at = excluded.last_event_at, updated_at = excluded.updated_at, orphan = excluded.orphan`

	writeBillsSQL = `INSERT INTO booking_bills (integrator_id, bill_id, first_seen, state, tests) VALUES %s
ON CONFLICT (integrator_id, bill_id) DO UPDATE SET first_seen = excluded.first_seen, state = excluded.state, tests = excluded.tests`

	writeReportsSQL = `INSERT INTO booking_reports (integrator_id, test_key, completed_at) VALUES %s
ON CONFLICT (integrator_id, test_key) DO UPDATE SET completed_at = excluded.completed_at`
)

// writeBatch stores a batch of deliveries and sets each one's status, in
// three stages of p's transaction:
//
//  1. the raw bodies;
//  2. the events (a repeat of a stored event is counted on it), and the
//     booking rows their fold may touch — created if missing and locked,
//     on PostgreSQL, so receivers folding events of one booking take
//     turns;
//  3. left queued for p.commit: the raw bodies of repeats dropped, and the
//     new events folded into booking_state, booking_bills and
//     booking_reports.
//
// Events are written in key order and bookings locked in integrator-ID
// order, so concurrent writers on PostgreSQL do not deadlock.
func writeBatch(ctx context.Context, p pipe, batch []*delivery, now time.Time) error {
	d := p.dialect()
	firsts := map[string]*delivery{}
	var valid, invalid []*delivery
	for _, dl := range batch {
		dl.status, dl.orphan, dl.repeats = "", false, 0
		switch {
		case dl.ev == nil:
			dl.status = StatusInvalid
			if dl.keep {
				invalid = append(invalid, dl)
			}
		case firsts[dl.ev.Key] != nil:
			dl.status = StatusDuplicate
			firsts[dl.ev.Key].repeats++
		default:
			firsts[dl.ev.Key] = dl
			valid = append(valid, dl)
		}
	}
	slices.SortFunc(valid, func(a, b *delivery) int { return strings.Compare(a.ev.Key, b.ev.Key) })

	// 1. raw bodies
	rows := make([][]any, 0, len(invalid)+len(valid))
	for _, dl := range invalid {
		rows = append(rows, []any{arg(d, dl.received), dl.remote, dl.body, "", rawInvalid, dl.reason})
	}
	for _, dl := range valid {
		rows = append(rows, []any{arg(d, dl.received), dl.remote, dl.body, dl.ev.Key, rawStored, ""})
	}
	rawIDs := make(map[string]int64, len(valid))
	queueRows(p, insertRawSQL, row(6), rows, func(r scanner) error {
		var id int64
		var key string
		if err := r.Scan(&id, &key); err != nil {
			return err
		}
		if key != "" {
			rawIDs[key] = id
		}
		return nil
	})
	if err := p.run(ctx); err != nil {
		return fmt.Errorf("store raw bodies: %w", err)
	}

	// 2. events, and the bookings to fold into
	rows = rows[:0]
	byKey := make(map[string]*delivery, len(valid))
	var ids []string
	for _, dl := range valid {
		e := dl.ev
		byKey[e.Key] = dl
		rows = append(rows, []any{rawIDs[e.Key], e.Key, e.EventType, e.Data.IntegratorID, e.Data.BillID,
			strings.Join(e.Fold().CompletedTests(), ","), arg(d, e.Time()), arg(d, dl.received), 1 + dl.repeats,
			arg(d, dl.received), dl.otherLab, dl.otherLab, e.Data.IntegratorID})
		if foldable(dl) {
			ids = append(ids, e.Data.IntegratorID)
		}
	}
	var stored []*delivery
	var losers []int64
	queueRows(p, insertEventsSQL, eventRow, rows, func(r scanner) error {
		var rawID int64
		var key string
		var orphan bool
		if err := r.Scan(&rawID, &key, &orphan); err != nil {
			return err
		}
		dl := byKey[key]
		if dl == nil {
			return fmt.Errorf("event %s returned but not sent", key)
		}
		dl.orphan = orphan
		if rawID == rawIDs[key] {
			dl.status = StatusStored
			stored = append(stored, dl)
		} else { // stored before, or meanwhile by another writer
			dl.status = StatusDuplicate
			losers = append(losers, rawIDs[key])
		}
		return nil
	})
	slices.Sort(ids)
	ids = slices.Compact(ids)
	bookings := queueReadBookings(p, ids, now)
	if err := p.run(ctx); err != nil {
		return fmt.Errorf("store events: %w", err)
	}
	for _, dl := range valid {
		if dl.status == "" {
			return fmt.Errorf("store events: event %s: no row returned", dl.ev.Key)
		}
	}

	// 3. queued for the commit
	for len(losers) > 0 {
		n := min(len(losers), maxChunk)
		p.queue(bound(d, dropRawSQL, "?", n), anys(losers[:n]), nil)
		losers = losers[n:]
	}
	queueFold(p, bookings(), stored, now)
	return nil
}

// foldable reports whether dl's event changes one of our bookings' state:
// a bill event of our lab naming an integrator and a bill ID.
func foldable(dl *delivery) bool {
	e := dl.ev
	_, ok := reconcile.StateOf(e.EventType)
	return ok && !dl.otherLab && e.Data.IntegratorID != "" && e.Data.BillID != ""
}

// stateRow is the part of booking_state the fold reads back.
type stateRow struct {
	IntegratorID string
	CreatedAt    store.Time
	CompletedAt  store.Time
	DeletedAt    store.Time
	LastEventAt  store.Time
	Orphan       bool
}

// queueReadBookings queues the reads (and, on PostgreSQL, the creation
// and locking) of the bookings ids, and returns a function that, after the
// stage has run, gives them as the state machine holds them.
func queueReadBookings(p pipe, ids []string, now time.Time) func() map[string]*reconcile.Booking {
	out := make(map[string]*reconcile.Booking, len(ids))
	for _, id := range ids {
		out[id] = reconcile.NewBooking(id)
	}
	get := func() map[string]*reconcile.Booking { return out }
	if len(ids) == 0 {
		return get
	}
	d := p.dialect()
	read := readStateSQL
	if d == store.Postgres {
		rows := make([][]any, len(ids))
		for i, id := range ids {
			rows[i] = []any{id, string(reconcile.StateNone), arg(d, now)}
		}
		queueRows(p, ensureStateSQL, row(3), rows, nil)
		read += " FOR UPDATE"
	}
	queueIn(p, read, ids, func(r scanner) error {
		var s stateRow
		if err := r.Scan(&s.IntegratorID, &s.CreatedAt, &s.CompletedAt, &s.DeletedAt, &s.LastEventAt, &s.Orphan); err != nil {
			return err
		}
		if b := out[s.IntegratorID]; b != nil {
			b.CreatedAt, b.CompletedAt, b.DeletedAt, b.LastEventAt, b.Orphan = s.CreatedAt.Time, s.CompletedAt.Time, s.DeletedAt.Time, s.LastEventAt.Time, s.Orphan
		}
		return nil
	})
	queueIn(p, readPartsSQL, ids, func(r scanner) error {
		var id, kind, key, state string
		var at store.Time
		var tests int
		if err := r.Scan(&id, &kind, &key, &at, &state, &tests); err != nil {
			return err
		}
		switch b := out[id]; {
		case b == nil:
		case kind == "bill":
			b.Bills[key] = &reconcile.Bill{ID: key, State: reconcile.State(state), FirstSeen: at.Time, Tests: tests}
		default:
			b.Reports[key] = at.Time
		}
		return nil
	})
	return get
}

// queueFold applies the newly stored events to their bookings and queues
// the writes of what changed.
func queueFold(p pipe, bookings map[string]*reconcile.Booking, stored []*delivery, now time.Time) {
	d := p.dialect()
	events := map[string][]reconcile.Event{}
	orphan := map[string]bool{}
	for _, dl := range stored {
		if foldable(dl) {
			id := dl.ev.Data.IntegratorID
			events[id] = append(events[id], dl.ev.Fold())
			orphan[id] = dl.orphan
		}
	}
	var stateRows, billRows, reportRows [][]any
	for _, id := range sortedKeys(events) {
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
			arg(d, b.CreatedAt), arg(d, b.CompletedAt), arg(d, b.DeletedAt), arg(d, b.LastEventAt), arg(d, now), b.Orphan})
		for _, billID := range sortedKeys(b.Bills) {
			bill, old := b.Bills[billID], before.Bills[billID]
			if old == nil || *old != *bill {
				billRows = append(billRows, []any{id, bill.ID, arg(d, bill.FirstSeen), string(bill.State), bill.Tests})
			}
		}
		for _, k := range sortedKeys(b.Reports) {
			if old, ok := before.Reports[k]; !ok || !old.Equal(b.Reports[k]) {
				reportRows = append(reportRows, []any{id, k, arg(d, b.Reports[k])})
			}
		}
	}
	queueRows(p, writeStateSQL, row(11), stateRows, nil)
	queueRows(p, writeBillsSQL, row(5), billRows, nil)
	queueRows(p, writeReportsSQL, row(3), reportRows, nil)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
