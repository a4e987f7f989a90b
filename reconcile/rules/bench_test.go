package rules_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/reconcile/report"
	"github.com/flabsync/flabsync/reconcile/rules"
)

// benchSize is the number of submitted bookings (BENCH_BOOKINGS to change).
func benchSize() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_BOOKINGS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// fill writes n submitted bookings with one test each, and the state 3n
// webhook events would have folded into: 90% completed, 4% created and
// overdue, 1% deleted, 1% completed one report short, 4% never billed.
func fill(tb testing.TB, db *store.DB, n int, submitted time.Time) {
	tb.Helper()
	ctx := context.Background()
	seq := `WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)`
	ts := store.T(submitted)
	created := store.T(submitted.Add(time.Hour))
	exec := func(q string, args ...any) {
		tb.Helper()
		if _, err := db.ExecContext(ctx, db.Rebind(q), args...); err != nil {
			tb.Fatalf("%s: %v", q[:min(60, len(q))], err)
		}
	}
	tsCast := "?"
	if db.Dialect() == store.Postgres {
		tsCast = "CAST(? AS TIMESTAMPTZ)"
	}
	exec(`INSERT INTO files (partner, name, sha256, created_at, updated_at) VALUES ('p', 'big.csv', 'x', ?, ?)`, ts, ts)
	exec(seq+` INSERT INTO bookings (integrator_id, partner, file_id, first_row, status, request, pre_booking_id, created_at, updated_at, submitted_at)
SELECT 'p:' || CAST(i AS TEXT), 'p', 1, i + 1, 'submitted', '{}', 'pb' || CAST(i AS TEXT), `+tsCast+`, `+tsCast+`, `+tsCast+` FROM seq`, n, ts, ts, ts)
	exec(seq+` INSERT INTO booking_tests (integrator_id, position, kind, name, target, target_key, match_how)
SELECT 'p:' || CAST(i AS TEXT), 0, 'test', 'CBC', '1', 'id', 'catalogue' FROM seq`, n)
	exec(seq+` INSERT INTO booking_state (integrator_id, state, bill_id, bills_seen, reports_completed, created_at, completed_at, deleted_at, last_event_at, updated_at)
SELECT 'p:' || CAST(i AS TEXT),
	CASE WHEN i % 100 < 90 THEN 'completed' WHEN i % 100 < 94 THEN 'created' WHEN i % 100 < 95 THEN 'deleted' ELSE 'completed' END,
	'bill' || CAST(i AS TEXT), 1, CASE WHEN i % 100 = 95 THEN 0 ELSE 1 END, `+tsCast+`, NULL,
	CASE WHEN i % 100 = 94 THEN `+tsCast+` ELSE NULL END, `+tsCast+`, `+tsCast+`
FROM seq WHERE i % 100 < 96`, n, created, created, created, created)
	exec(seq+` INSERT INTO booking_bills (integrator_id, bill_id, first_seen) SELECT 'p:' || CAST(i AS TEXT), 'bill' || CAST(i AS TEXT), `+tsCast+` FROM seq WHERE i % 100 < 96`, n, created)
	exec(`ANALYZE`)
}

func peakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, _ := strconv.Atoi(strings.Fields(l)[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

// BenchmarkNightly: rules over n bookings (state from 3n events) and the
// workbook streamed from the exceptions they found.
func BenchmarkNightly(b *testing.B) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			n := benchSize()
			db := be.Open(b)
			submitted := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
			t0 := time.Now()
			fill(b, db, n, submitted)
			b.Logf("filled %d bookings in %s", n, time.Since(t0).Round(time.Millisecond))
			at := submitted.Add(100 * time.Hour)
			for i := range b.N {
				b.StartTimer()
				start := time.Now()
				res, err := rules.Run(context.Background(), db, cfg, nil, at.Add(time.Duration(i)*time.Minute))
				if err != nil {
					b.Fatal(err)
				}
				ruleTime := time.Since(start)
				path := filepath.Join(b.TempDir(), "exceptions.xlsx")
				it := rules.Exceptions(context.Background(), db, res.At)
				if _, err := report.WriteWorkbook(path, &report.Data{At: res.At, Counts: res.Counts, New: res.New, Open: res.Open,
					Resolved: res.Resolved, Exceptions: it}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				total := time.Since(start)
				b.ReportMetric(ruleTime.Seconds(), "rules-s")
				b.ReportMetric(total.Seconds(), "total-s")
				b.ReportMetric(float64(res.New+res.Open), "exceptions")
			}
			runtime.GC()
			b.ReportMetric(peakRSSMB(), "peak-RSS-MB")
		})
	}
}
