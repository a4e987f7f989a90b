package webhook_test

import (
	"context"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/reconcile"
	"github.com/flabsync/flabsync/reconcile/webhook"
)

// End to end with the simulator's own webhook emitter: bookings created
// at the simulated Flabs, their bills' timelines delivered over HTTP
// with 10% dropped, 25% duplicated and 30% held back past later ones,
// plus deleted, stalled and short bills and a bill made by lab staff.
// Every delivery is answered 200, every event that arrived is stored
// once, and each booking's state is what its delivered events say.
func TestSimulatorDeliveries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		srv := startReceiver(t, db, tokenConfig(), webhook.Options{})
		sim := flabstest.NewTestServer(t, flabstest.Options{Seed: 11, Webhooks: flabstest.WebhookOptions{
			Manual: true, URL: srv.URL, AuthToken: testToken,
			DropRate: 0.1, DuplicateRate: 0.25, ReorderRate: 0.3,
			DeleteRate: 0.1, StallRate: 0.1, MissingReportRate: 0.1, NoBillRate: 0.05,
		}})
		client, err := flabs.NewClient(flabs.Config{BaseURL: sim.URL(), ClientID: "demo", ClientSecret: "demo"})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		var ids []string
		for i := range 60 {
			id := idf("sunrise:SIM-%03d", i)
			ids = append(ids, id)
			addBookings(t, db, id)
			req := &flabs.BillingRequest{
				PatientDetails: flabs.PatientDetails{FirstName: "Test", Gender: flabs.GenderFemale, Age: 30, AgeType: flabs.AgeYear},
				IntegratorID:   id, LeadSource: "api",
				MappedTests:   []flabs.MappedTest{{FlabsID: "CBC"}, {ID: "64f000000000000000000004"}},
				UnmappedTests: []string{"Vitamin D3"},
			}
			if _, err := client.CreateBilling(ctx, req); err != nil {
				t.Fatalf("create %s: %v", id, err)
			}
		}
		staff := flabs.Event{LabID: "6530a4a6f1d2c8b7e9a12345", EventType: flabs.EventBillCreated, EventTime: sim.SimNow().Add(time.Hour).Unix(),
			Data: flabs.EventData{BillID: "staff-bill-1", BillData: flabs.BillData{Status: "created"}}}
		sim.InjectEvent(staff)

		if n := sim.Advance(ctx, 72*time.Hour); n == 0 || sim.Pending() != 0 {
			t.Fatalf("Advance delivered %d, %d still pending", n, sim.Pending())
		}
		ds := sim.Deliveries()
		want := map[string]*reconcile.Booking{}
		keys := map[string]bool{}
		var dups, late int
		var last time.Time
		for _, d := range ds {
			if d.Status != 200 || d.Err != "" {
				t.Errorf("delivery of %s %s answered %d %s", d.Event.EventType, d.Event.Data.IntegratorID, d.Status, d.Err)
			}
			ev, err := webhook.Parse(d.Body)
			if err != nil {
				t.Fatalf("the simulator's body does not parse: %v", err)
			}
			keys[ev.Key] = true
			if d.Duplicate {
				dups++
			}
			if ev.Time().Before(last) {
				late++
			}
			last = ev.Time()
			id := ev.Data.IntegratorID
			if id == "" {
				continue
			}
			if want[id] == nil {
				want[id] = reconcile.NewBooking(id)
			}
			want[id].Apply(ev.Fold())
		}
		if dups == 0 || late == 0 || len(sim.DroppedEvents()) == 0 {
			t.Fatalf("the faults did not happen (duplicates %d, late %d, dropped %d): pick another seed", dups, late, len(sim.DroppedEvents()))
		}

		raw, events, deliveries := counts(t, db)
		if events != len(keys) || raw != len(keys) || deliveries != len(ds) {
			t.Errorf("stored %d events (%d raw, %d deliveries counted); the simulator delivered %d distinct events in %d deliveries",
				events, raw, deliveries, len(keys), len(ds))
		}
		got := states(t, db)
		for _, id := range ids {
			w, g := want[id], got[id]
			if w == nil {
				if g.State != "" {
					t.Errorf("%s: no event delivered, yet state %+v", id, g)
				}
				continue
			}
			billID := w.Bill().ID
			if g.State != string(w.State()) || g.BillID != billID || g.ReportsCompleted != len(w.Reports) || g.BillsSeen != len(w.Bills) || g.Orphan {
				t.Errorf("%s: stored %+v; its delivered events say %s, bill %s, %d reports", id, g, w.State(), billID, len(w.Reports))
			}
		}
		var orphanEvents int
		if err := db.GetContext(ctx, &orphanEvents, db.Rebind(`SELECT COUNT(*) FROM webhook_events WHERE bill_id = 'staff-bill-1' AND orphan = ?`), true); err != nil {
			t.Fatal(err)
		}
		if orphanEvents == 0 && !dropped(sim, "staff-bill-1") {
			t.Error("the lab staff's bill was delivered but not kept as an orphan")
		}
	})
}

func dropped(sim *flabstest.Server, bill string) bool {
	for _, e := range sim.DroppedEvents() {
		if e.Data.BillID == bill {
			return true
		}
	}
	return false
}
