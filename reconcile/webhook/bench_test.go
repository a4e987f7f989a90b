package webhook_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/reconcile/webhook"
)

// benchSenders is how many deliveries are in flight at once.
const benchSenders = 32

// BenchmarkReceiver: 32 concurrent senders POST b.N deliveries over real
// loopback HTTP to a receiver on SQLite and on PostgreSQL (when
// FLABSYNC_TEST_POSTGRES is set). Bookings have 3 tests, so each has
// bill.created, 3 report.completed and bill.completed; one delivery in 20
// repeats an earlier one. It reports sustained events/s and the p50/p99
// latency of a delivery (request to answer, which comes only after the
// commit), and fails unless every delivery was answered 200 and the
// database counts them all (deliveries = events stored + duplicates).
//
//	go test -run '^$' -bench Receiver -benchtime 20000x ./reconcile/webhook
func BenchmarkReceiver(b *testing.B) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) { benchReceiver(b, be.Open(b)) })
	}
}

var benchRound atomic.Int64

func benchReceiver(b *testing.B, db *store.DB) {
	round := benchRound.Add(1)
	const perBooking = 5
	bookings := b.N/perBooking + 1
	ids := make([]string, bookings)
	for i := range ids {
		ids[i] = idf("bench:%d-%06d", round, i)
	}
	addBookingsFast(b, db, ids)
	body := func(i int) []byte {
		if i%20 == 19 { // a repeat of an earlier delivery
			i -= 7
		}
		id, step := ids[i/perBooking], i%perBooking
		bill := "bill-" + id
		tests := []flabs.TestStatus{ts(id+"-1", "pending"), ts(id+"-2", "pending"), ts(id+"-3", "pending")}
		for j := range min(step, 3) {
			tests[j].Status = "completed"
		}
		at := t0.Add(time.Duration(i/16) * time.Second) // a stream: times rise, many events a second
		switch step {
		case 0:
			return event(flabs.EventBillCreated, id, bill, at, tests...)
		case 4:
			return event(flabs.EventBillCompleted, id, bill, at, tests...)
		}
		return event(flabs.EventReportCompleted, id, bill, at, tests...)
	}
	srv := startReceiver(b, db, tokenConfig(), webhook.Options{})
	client := &http.Client{Transport: newTransport(benchSenders), Timeout: time.Minute}
	defer client.CloseIdleConnections()

	var next atomic.Int64
	var failures atomic.Int64
	lat := make([][]time.Duration, benchSenders)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for s := range benchSenders {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body(i)))
				req.Header.Set("Authorization", "Bearer "+testToken)
				t := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failures.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[s] = append(lat[s], time.Since(t))
				if resp.StatusCode != http.StatusOK {
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()

	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(float64(len(all))*p))]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(0, "ns/op")
	if n := failures.Load(); n > 0 {
		b.Fatalf("%d of %d deliveries not answered 200", n, b.N)
	}
	_, events, deliveries := counts(b, db)
	st := srv.Stats()
	if deliveries != b.N || int64(events) != st.Stored || st.Stored+st.Duplicates != int64(b.N) {
		b.Fatalf("lost deliveries: sent %d; database has %d events carrying %d deliveries; stats %d stored + %d duplicates",
			b.N, events, deliveries, st.Stored, st.Duplicates)
	}
}

// addBookingsFast records many integrator IDs as sent, in one transaction.
func addBookingsFast(tb testing.TB, db *store.DB, ids []string) {
	tb.Helper()
	ctx := context.Background()
	now := store.T(time.Now())
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	q := tx.Rebind(`INSERT INTO bookings (integrator_id, partner, status, created_at, updated_at) VALUES (?, 'bench', 'submitted', ?, ?)`)
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, q, id, now, now); err != nil {
			tx.Rollback()
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}
