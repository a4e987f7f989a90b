package webhook_test

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/reconcile/webhook"
)

// timeline is one booking's events in the order Flabs makes them.
func timeline(id string, tests int) [][]byte {
	bill := "bill-" + id
	status := make([]flabs.TestStatus, tests)
	for i := range status {
		status[i] = ts(idf("%s-t%d", id, i), "pending")
	}
	out := [][]byte{event(flabs.EventBillCreated, id, bill, t0, status...)}
	for i := range tests {
		status[i].Status = "completed"
		out = append(out, event(flabs.EventReportCompleted, id, bill, t0.Add(time.Duration(i+1)*20*time.Minute), status...))
	}
	return append(out, event(flabs.EventBillCompleted, id, bill, t0.Add(3*time.Hour), status...))
}

// 32 senders deliver every event of 12 bookings twice, all shuffled: each
// delivery is answered 200, each event stored once with both deliveries
// counted, and every booking ends completed with all its reports — also
// when the events of one booking are folded by concurrent transactions
// (8 writers).
func TestConcurrentDelivery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		const bookings, tests, senders = 12, 8, 32
		var ids []string
		var bodies [][]byte
		for i := range bookings {
			id := idf("sunrise:C-%03d", i)
			ids = append(ids, id)
			tl := timeline(id, tests)
			bodies = append(bodies, tl...)
			bodies = append(bodies, tl...)
		}
		addBookings(t, db, ids...)
		rand.New(rand.NewPCG(3, 4)).Shuffle(len(bodies), func(i, j int) { bodies[i], bodies[j] = bodies[j], bodies[i] })
		srv := startReceiver(t, db, tokenConfig(), webhook.Options{Writers: 8})

		work := make(chan []byte)
		var mu sync.Mutex
		answers := map[string]int{}
		var wg sync.WaitGroup
		for range senders {
			wg.Go(func() {
				for b := range work {
					a := post(t, srv.URL, b)
					mu.Lock()
					answers[idf("%d %s", a.Code, a.Status)]++
					mu.Unlock()
				}
			})
		}
		for _, b := range bodies {
			work <- b
		}
		close(work)
		wg.Wait()

		events := bookings * (tests + 2)
		if answers["200 stored"] != events || answers["200 duplicate"] != events || len(answers) != 2 {
			t.Errorf("answers %v; want %d stored and %d duplicate", answers, events, events)
		}
		raw, stored, deliveries := counts(t, db)
		if raw != events || stored != events || deliveries != 2*events {
			t.Errorf("raw %d, events %d, deliveries %d; want %d, %d, %d", raw, stored, deliveries, events, events, 2*events)
		}
		all := states(t, db)
		for _, id := range ids {
			if s := all[id]; s.State != "completed" || s.ReportsCompleted != tests || s.BillsSeen != 1 || s.Orphan {
				t.Errorf("%s: %+v; want completed with %d reports", id, s, tests)
			}
		}
		s := srv.Stats()
		if s.Received != int64(len(bodies)) || s.Stored+s.Duplicates != s.Received || s.Failed != 0 {
			t.Errorf("Stats %+v do not add up to %d deliveries", s, len(bodies))
		}
	})
}

// A restart between deliveries loses nothing: what was answered before is
// in the database after, a repeat across the restart is still a
// duplicate, and the fold carries on from the stored state.
func TestRestartBetweenDeliveries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flabsync.db")
	open := func() *store.DB {
		db, err := store.Open(context.Background(), "sqlite:"+path)
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	db := open()
	addBookings(t, db, "sunrise:SR-1001")
	srv := startReceiver(t, db, tokenConfig(), webhook.Options{})
	for _, name := range []string{"bill_created.json", "report_completed_1.json"} {
		if a := post(t, srv.URL, fixture(t, name)); a.Status != "stored" {
			t.Fatalf("%s before restart: %+v", name, a)
		}
	}
	srv.stop()
	db.Close()

	db = open()
	defer db.Close()
	srv = startReceiver(t, db, tokenConfig(), webhook.Options{})
	for name, want := range map[string]string{"report_completed_1.json": "duplicate"} {
		if a := post(t, srv.URL, fixture(t, name)); a.Status != want {
			t.Errorf("%s after restart: %+v, want %s", name, a, want)
		}
	}
	for _, name := range []string{"report_completed_2.json", "bill_completed.json"} {
		if a := post(t, srv.URL, fixture(t, name)); a.Status != "stored" {
			t.Errorf("%s after restart: %+v", name, a)
		}
	}
	raw, events, deliveries := counts(t, db)
	if raw != 4 || events != 4 || deliveries != 5 {
		t.Errorf("raw %d events %d deliveries %d; want 4, 4, 5", raw, events, deliveries)
	}
	if s := states(t, db)["sunrise:SR-1001"]; s.State != "completed" || s.ReportsCompleted != 2 || s.CreatedAt.Unix() != 1795939200 {
		t.Errorf("state across the restart: %+v", s)
	}
}

// The same on PostgreSQL: one receiver stops, another (as after a
// restart, or on a second machine) takes over the same database.
func TestReceiverHandOverPostgres(t *testing.T) {
	db := storetest.OpenPostgres(t)
	addBookings(t, db, "sunrise:SR-1001")
	a := startReceiver(t, db, tokenConfig(), webhook.Options{})
	post(t, a.URL, fixture(t, "bill_created.json"))
	post(t, a.URL, fixture(t, "report_completed_1.json"))
	a.stop()
	b := startReceiver(t, db, tokenConfig(), webhook.Options{})
	if ans := post(t, b.URL, fixture(t, "report_completed_1.json")); ans.Status != "duplicate" {
		t.Errorf("repeat after hand-over: %+v", ans)
	}
	post(t, b.URL, fixture(t, "bill_completed.json"))
	if s := states(t, db)["sunrise:SR-1001"]; s.State != "completed" || s.ReportsCompleted != 2 {
		t.Errorf("state after hand-over: %+v", s)
	}
}
