// Package reconcile is the leaf of reconciliation. It holds the types the
// rules, the report and the CLI all speak — Exception, the categories and
// statuses, age buckets, RejectFile — and what flabsync knows about each
// booking after it was sent: the state machine fed by Flabs' webhook
// events. It is pure — no I/O — so the rules can be tested alone;
// reconcile/webhook stores the events and persists the folded state,
// reconcile/rules turns problems into exceptions, reconcile/report writes
// them, and reconcile/nightly runs the whole night.
//
// Flabs promises nothing about delivery (flabs-api.md §4.2): events come
// late, twice, out of order, or never. So the state of a booking is a
// fold that does not depend on arrival order: each bill's state only
// climbs (created → completed → deleted), times are the earliest (or, for
// the last event, latest) seen, and completed reports are a set keyed by
// bill and test ID. Applying the same events in any order, any number of
// times, gives the same Booking.
package reconcile

import (
	"cmp"
	"strings"
	"time"

	"github.com/flabsync/flabsync/internal/flabs"
)

// State is where a booking's bill stands, as told by webhooks.
type State string

// The states, in the order they dominate one another: deleted ≻ completed
// ≻ created ≻ none. A bill once deleted stays deleted whatever arrives
// after; a bill.completed arriving before its bill.created is completed.
const (
	StateNone      State = "none"      // no bill event seen
	StateCreated   State = "created"   // bill.created, or a report.completed (the bill exists)
	StateCompleted State = "completed" // bill.completed: every report done
	StateDeleted   State = "deleted"   // bill.deleted
)

// Rank orders states; an unknown state ranks below StateNone.
func (s State) Rank() int {
	switch s {
	case StateNone, "":
		return 0
	case StateCreated:
		return 1
	case StateCompleted:
		return 2
	case StateDeleted:
		return 3
	}
	return -1
}

// StateOf is the state an event of type eventType proves, and false for
// events that do not touch a bill (lead.created, booking.created, unknown).
func StateOf(eventType string) (State, bool) {
	switch eventType {
	case flabs.EventBillCreated, flabs.EventReportCompleted:
		return StateCreated, true
	case flabs.EventBillCompleted:
		return StateCompleted, true
	case flabs.EventBillDeleted:
		return StateDeleted, true
	}
	return StateNone, false
}

// StatusCompleted is the only test/bill status the docs show.
const StatusCompleted = "completed"

// Event is one webhook event as the state machine needs it.
type Event struct {
	Type         string // flabs.Event* constant
	IntegratorID string
	BillID       string
	Time         time.Time // eventTime
	Tests        []flabs.TestStatus
}

// CompletedTests returns the IDs of the tests (reports) ev shows
// completed: every testData entry whose status is "completed", and for a
// report.completed naming a single test with another status, that test
// (the event says a report completed; the docs do not say whether
// testData holds that report alone or the whole bill).
func (ev Event) CompletedTests() []string {
	var ids []string
	for _, t := range ev.Tests {
		if t.ID != "" && strings.EqualFold(t.Status, StatusCompleted) {
			ids = append(ids, t.ID)
		}
	}
	if len(ids) == 0 && ev.Type == flabs.EventReportCompleted && len(ev.Tests) == 1 && ev.Tests[0].ID != "" {
		ids = append(ids, ev.Tests[0].ID)
	}
	return ids
}

// ReportKey is the key of one completed report: bill and test ID, since
// the docs do not say whether a test ID is unique across bills.
func ReportKey(billID, testID string) string { return billID + "/" + testID }

// Bill is one Flabs bill of a booking. A booking normally has one; two
// mean Flabs booked it twice.
type Bill struct {
	ID        string
	State     State
	FirstSeen time.Time // earliest eventTime naming it
	Tests     int       // most testData entries any of its events listed
}

// Booking is the folded state of one integrator ID.
type Booking struct {
	IntegratorID string
	Bills        map[string]*Bill     // by bill ID
	Reports      map[string]time.Time // ReportKey → earliest eventTime showing it completed
	CreatedAt    time.Time            // earliest bill.created
	CompletedAt  time.Time            // earliest bill.completed
	DeletedAt    time.Time            // earliest bill.deleted
	LastEventAt  time.Time            // latest eventTime of any bill event
	// Orphan: flabsync never sent this integrator ID. Set by the caller,
	// who knows what was sent.
	Orphan bool
}

// NewBooking returns the empty state of integratorID.
func NewBooking(integratorID string) *Booking {
	return &Booking{IntegratorID: integratorID, Bills: map[string]*Bill{}, Reports: map[string]time.Time{}}
}

// Apply folds ev into b and reports whether anything changed. Events of
// other integrator IDs, without a bill ID, or that touch no bill are
// ignored.
func (b *Booking) Apply(ev Event) bool {
	st, ok := StateOf(ev.Type)
	if !ok || ev.BillID == "" || ev.IntegratorID != b.IntegratorID {
		return false
	}
	changed := false
	bill := b.Bills[ev.BillID]
	if bill == nil {
		bill = &Bill{ID: ev.BillID, State: StateNone}
		b.Bills[ev.BillID] = bill
		changed = true
	}
	if st.Rank() > bill.State.Rank() {
		bill.State = st
		changed = true
	}
	changed = earliest(&bill.FirstSeen, ev.Time) || changed
	if n := len(ev.Tests); n > bill.Tests {
		bill.Tests = n
		changed = true
	}
	switch ev.Type {
	case flabs.EventBillCreated:
		changed = earliest(&b.CreatedAt, ev.Time) || changed
	case flabs.EventBillCompleted:
		changed = earliest(&b.CompletedAt, ev.Time) || changed
	case flabs.EventBillDeleted:
		changed = earliest(&b.DeletedAt, ev.Time) || changed
	}
	if ev.Time.After(b.LastEventAt) {
		b.LastEventAt = ev.Time
		changed = true
	}
	for _, id := range ev.CompletedTests() {
		k := ReportKey(ev.BillID, id)
		at, seen := b.Reports[k]
		if !seen || ev.Time.Before(at) {
			b.Reports[k] = ev.Time
			changed = true
		}
	}
	return changed
}

// earliest lowers *at to t when t is earlier or *at unset.
func earliest(at *time.Time, t time.Time) bool {
	if t.IsZero() || (!at.IsZero() && !t.Before(*at)) {
		return false
	}
	*at = t
	return true
}

// State is the booking's state: the highest of its bills'.
func (b *Booking) State() State {
	if bill := b.Bill(); bill != nil {
		return bill.State
	}
	return StateNone
}

// Bill returns the bill that decides the booking's state: the highest
// state, then the earliest seen, then the smallest ID — so the answer does
// not depend on the order events came in. Nil when no bill is known.
func (b *Booking) Bill() *Bill {
	var best *Bill
	for _, bill := range b.Bills {
		if best == nil || decides(bill, best) {
			best = bill
		}
	}
	return best
}

func decides(a, b *Bill) bool {
	if r := cmp.Compare(a.State.Rank(), b.State.Rank()); r != 0 {
		return r > 0
	}
	if !a.FirstSeen.Equal(b.FirstSeen) {
		return a.FirstSeen.Before(b.FirstSeen)
	}
	return a.ID < b.ID
}

// Clone returns a deep copy of b.
func (b *Booking) Clone() *Booking {
	c := *b
	c.Bills = make(map[string]*Bill, len(b.Bills))
	for id, bill := range b.Bills {
		cp := *bill
		c.Bills[id] = &cp
	}
	c.Reports = make(map[string]time.Time, len(b.Reports))
	for k, v := range b.Reports {
		c.Reports[k] = v
	}
	return &c
}
