package reconcile_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/reconcile"
)

var t0 = time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

func ev(typ, bill string, min int, tests ...flabs.TestStatus) reconcile.Event {
	return reconcile.Event{Type: typ, IntegratorID: "sunrise:SR-1", BillID: bill, Time: at(min), Tests: tests}
}

func done(id string) flabs.TestStatus    { return flabs.TestStatus{ID: id, Status: "completed"} }
func pending(id string) flabs.TestStatus { return flabs.TestStatus{ID: id, Status: "pending"} }

// What the fold makes of a booking's events, whatever order they came in.
func TestApply(t *testing.T) {
	tests := []struct {
		name    string
		events  []reconcile.Event
		state   reconcile.State
		bill    string
		reports int
		bills   int
	}{
		{"nothing", nil, reconcile.StateNone, "", 0, 0},
		{"created", []reconcile.Event{ev(flabs.EventBillCreated, "b1", 0, pending("t1"))}, reconcile.StateCreated, "b1", 0, 1},
		{"a report proves the bill", []reconcile.Event{ev(flabs.EventReportCompleted, "b1", 20, done("t1"), pending("t2"))},
			reconcile.StateCreated, "b1", 1, 1},
		{"completed before created", []reconcile.Event{ev(flabs.EventBillCompleted, "b1", 60, done("t1")), ev(flabs.EventBillCreated, "b1", 0)},
			reconcile.StateCompleted, "b1", 1, 1},
		{"deleted wins over a later completed", []reconcile.Event{ev(flabs.EventBillDeleted, "b1", 30), ev(flabs.EventBillCompleted, "b1", 60)},
			reconcile.StateDeleted, "b1", 0, 1},
		{"reports counted per test, not per event", []reconcile.Event{
			ev(flabs.EventReportCompleted, "b1", 20, done("t1"), pending("t2")),
			ev(flabs.EventReportCompleted, "b1", 40, done("t1"), done("t2")),
			ev(flabs.EventReportCompleted, "b1", 40, done("t1"), done("t2")),
		}, reconcile.StateCreated, "b1", 2, 1},
		{"a single-test report.completed with another status still counts", []reconcile.Event{
			ev(flabs.EventReportCompleted, "b1", 20, flabs.TestStatus{ID: "t9", Status: "approved"})}, reconcile.StateCreated, "b1", 1, 1},
		{"two bills: the further one decides", []reconcile.Event{
			ev(flabs.EventBillCreated, "b1", 0), ev(flabs.EventBillCreated, "b2", 5), ev(flabs.EventBillCompleted, "b2", 90)},
			reconcile.StateCompleted, "b2", 0, 2},
		{"two bills, same state: the earlier one decides", []reconcile.Event{
			ev(flabs.EventBillCreated, "b2", 5), ev(flabs.EventBillCreated, "b1", 0)}, reconcile.StateCreated, "b1", 0, 2},
		{"lead.created touches no bill", []reconcile.Event{ev(flabs.EventLeadCreated, "b1", 0)}, reconcile.StateNone, "", 0, 0},
		{"no bill ID, no fold", []reconcile.Event{ev(flabs.EventBillCreated, "", 0)}, reconcile.StateNone, "", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := reconcile.NewBooking("sunrise:SR-1")
			for _, e := range tt.events {
				b.Apply(e)
			}
			bill := ""
			if x := b.Bill(); x != nil {
				bill = x.ID
			}
			if b.State() != tt.state || bill != tt.bill || len(b.Reports) != tt.reports || len(b.Bills) != tt.bills {
				t.Errorf("state %s bill %q reports %d bills %d; want %s %q %d %d",
					b.State(), bill, len(b.Reports), len(b.Bills), tt.state, tt.bill, tt.reports, tt.bills)
			}
		})
	}
}

func TestApplyIgnoresOtherBookings(t *testing.T) {
	b := reconcile.NewBooking("sunrise:SR-2")
	if b.Apply(ev(flabs.EventBillCreated, "b1", 0)) || len(b.Bills) != 0 {
		t.Error("an event of another integrator ID changed the booking")
	}
}

// The fold does not depend on arrival order or repeats: every shuffle of
// a timeline, with random repeats, gives the same booking as the timeline
// in order.
func TestFoldIsOrderFree(t *testing.T) {
	timeline := []reconcile.Event{
		ev(flabs.EventBillCreated, "b1", 2, pending("t1"), pending("t2"), pending("t3")),
		ev(flabs.EventReportCompleted, "b1", 22, done("t1"), pending("t2"), pending("t3")),
		ev(flabs.EventReportCompleted, "b1", 42, done("t1"), done("t2"), pending("t3")),
		ev(flabs.EventReportCompleted, "b1", 62, done("t1"), done("t2"), done("t3")),
		ev(flabs.EventBillCompleted, "b1", 67, done("t1"), done("t2"), done("t3")),
		ev(flabs.EventBillCreated, "b2", 3, pending("u1")), // booked twice by Flabs
		ev(flabs.EventBillDeleted, "b2", 33, pending("u1")),
	}
	want := reconcile.NewBooking("sunrise:SR-1")
	for _, e := range timeline {
		want.Apply(e)
	}
	if want.State() != reconcile.StateDeleted || len(want.Reports) != 3 || want.CompletedAt != at(67) || want.LastEventAt != at(67) {
		t.Fatalf("in-order fold = state %s, %d reports, completed %v, last %v", want.State(), len(want.Reports), want.CompletedAt, want.LastEventAt)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		evs := append([]reconcile.Event(nil), timeline...)
		for range rng.IntN(4) { // repeats
			evs = append(evs, timeline[rng.IntN(len(timeline))])
		}
		rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
		got := reconcile.NewBooking("sunrise:SR-1")
		for _, e := range evs {
			got.Apply(e)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("shuffle %d gives another booking (-in order +shuffled):\n%s", i, d)
		}
	}
}

// Apply reports a change exactly when the booking changed, so the store
// writes only what moved.
func TestApplyReportsChange(t *testing.T) {
	b := reconcile.NewBooking("sunrise:SR-1")
	e := ev(flabs.EventReportCompleted, "b1", 20, done("t1"))
	if !b.Apply(e) {
		t.Error("first event: no change reported")
	}
	before := b.Clone()
	if b.Apply(e) {
		t.Error("the same event again reported a change")
	}
	if d := cmp.Diff(before, b); d != "" {
		t.Errorf("a repeat changed the booking:\n%s", d)
	}
	if !b.Apply(ev(flabs.EventReportCompleted, "b1", 10, done("t1"))) || b.Reports[reconcile.ReportKey("b1", "t1")] != at(10) {
		t.Error("an earlier completion of the same report did not move its time back")
	}
}

func TestStateRank(t *testing.T) {
	order := []reconcile.State{reconcile.StateNone, reconcile.StateCreated, reconcile.StateCompleted, reconcile.StateDeleted}
	for i := 1; i < len(order); i++ {
		if order[i].Rank() <= order[i-1].Rank() {
			t.Errorf("%s does not dominate %s", order[i], order[i-1])
		}
	}
}
