package webhook_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/reconcile"
	"github.com/flabsync/flabsync/reconcile/rules"
	"github.com/flabsync/flabsync/reconcile/webhook"
)

// labEvent is event() naming labID.
func labEvent(t *testing.T, labID, typ, integratorID, billID string, at time.Time) []byte {
	t.Helper()
	var ev flabs.Event
	if err := json.Unmarshal(event(typ, integratorID, billID, at), &ev); err != nil {
		t.Fatal(err)
	}
	ev.LabID = labID
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// With flabs.lab_id set, an event of another lab is stored and counted,
// never folded: a bill.deleted (and a second bill) from another lab that
// happens to carry one of our integrator IDs raises neither bill_deleted
// nor duplicate_bill for ours, and its walk-in bills are not ours either.
// An event with no labID is ours (the older docs' payloads).
func TestOtherLabEventsStoredNeverFolded(t *testing.T) {
	const ours, theirs = "6530a4a6f1d2c8b7e9a12345", "77777777777777777777aaaa"
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		addBookings(t, db, "sunrise:SR-1")
		srv := startReceiver(t, db, tokenConfig(), webhook.Options{LabID: ours})
		for _, b := range [][]byte{
			labEvent(t, ours, flabs.EventBillCreated, "sunrise:SR-1", "bill-ours", t0),
			labEvent(t, theirs, flabs.EventBillCreated, "sunrise:SR-1", "bill-theirs", t0.Add(time.Minute)),
			labEvent(t, theirs, flabs.EventBillDeleted, "sunrise:SR-1", "bill-theirs", t0.Add(time.Hour)),
			labEvent(t, theirs, flabs.EventBillCreated, "their-system:9", "bill-9", t0),
			labEvent(t, theirs, flabs.EventBillCreated, "", "walk-in-theirs", t0),
			labEvent(t, "", flabs.EventBillCompleted, "sunrise:SR-1", "bill-ours", t0.Add(2*time.Hour)),
		} {
			if a := post(t, srv.URL, b); a.Code != 200 || a.Status != "stored" {
				t.Fatalf("%s: %d %q %q", b, a.Code, a.Status, a.Error)
			}
		}
		st := states(t, db)
		if got := st["sunrise:SR-1"]; got.State != "completed" || got.BillsSeen != 1 || got.BillID != "bill-ours" {
			t.Errorf("our booking = %+v; want completed by our bill alone", got)
		}
		if _, ok := st["their-system:9"]; ok {
			t.Errorf("another lab's booking was folded: %+v", st["their-system:9"])
		}
		var other, orphans int
		db.GetContext(ctx, &other, db.Rebind(`SELECT COUNT(*) FROM webhook_events WHERE other_lab = ?`), true)
		db.GetContext(ctx, &orphans, db.Rebind(`SELECT COUNT(*) FROM webhook_events WHERE orphan = ?`), true)
		if other != 4 || orphans != 0 {
			t.Errorf("events stored: %d of another lab, %d orphans; want 4 and 0", other, orphans)
		}
		if s := srv.Stats(); s.OtherLab != 4 || s.Stored != 6 || s.Orphans != 0 {
			t.Errorf("Stats: other lab %d, stored %d, orphans %d; want 4, 6, 0", s.OtherLab, s.Stored, s.Orphans)
		}
		at := t0.Add(3 * time.Hour)
		res, err := rules.Run(ctx, db, rules.Config{BillCreatedWithin: 6 * time.Hour, BillCompletedWithin: 72 * time.Hour,
			RejectsFor: 7 * 24 * time.Hour, ListWalkInBills: true}, mapping.NewIndex(nil, nil), at)
		if err != nil {
			t.Fatal(err)
		}
		rules.Each(ctx, db, at, func(e reconcile.Exception) error {
			if e.Open() {
				t.Errorf("exception %s (%s) raised by another lab's events", e.ID, e.Detail)
			}
			return nil
		})
		if res.WalkInBills != 0 {
			t.Errorf("%d walk-in bills counted; the only one is another lab's", res.WalkInBills)
		}
	})
}

// Without flabs.lab_id, every lab's events are ours, as before.
func TestNoLabIDEveryEventIsOurs(t *testing.T) {
	db := storetest.OpenSQLite(t)
	addBookings(t, db, "sunrise:SR-1")
	srv := startReceiver(t, db, tokenConfig(), webhook.Options{})
	for _, b := range [][]byte{
		labEvent(t, "a", flabs.EventBillCreated, "sunrise:SR-1", "bill-a", t0),
		labEvent(t, "b", flabs.EventBillCreated, "sunrise:SR-1", "bill-b", t0),
	} {
		if a := post(t, srv.URL, b); a.Code != 200 || a.Status != "stored" {
			t.Fatalf("%d %q %q", a.Code, a.Status, a.Error)
		}
	}
	if got := states(t, db)["sunrise:SR-1"]; got.BillsSeen != 2 {
		t.Errorf("booking = %+v; want both bills folded", got)
	}
	if s := srv.Stats(); s.OtherLab != 0 {
		t.Errorf("Stats.OtherLab = %d, want 0", s.OtherLab)
	}
}
