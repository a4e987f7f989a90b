package retention_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/reconcile/nightly"
	"github.com/flabsync/flabsync/schedules/retention"
)

// yearSize is the number of bookings in the benchmark's year
// (BENCH_BOOKINGS to change; the target is 2,000,000).
func yearSize() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_BOOKINGS")); err == nil && n > 0 {
		return n
	}
	return 2_000_000
}

// fillYear writes a year of data with set-based SQL: one file a day for
// 365 days, n submitted bookings spread evenly over them (each with its
// patient in the stored request, one test, one sheet row and a rejected
// row every 50), and three webhook events per booking with their raw
// bodies (bill.created, report.completed, bill.completed) folded into
// the state: 90% completed, the rest created and overdue.
func fillYear(tb testing.TB, db *store.DB, n int, start time.Time) {
	tb.Helper()
	ctx := context.Background()
	exec := func(q string, args ...any) {
		tb.Helper()
		if _, err := db.ExecContext(ctx, db.Rebind(q), args...); err != nil {
			tb.Fatalf("%s: %v", q[:min(80, len(q))], err)
		}
	}
	pg := db.Dialect() == store.Postgres
	// seq is a FROM clause yielding i = 1..m.
	seq := func(m int) string {
		if pg {
			return fmt.Sprintf("generate_series(1, %d) AS s(i)", m)
		}
		return fmt.Sprintf("(WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < %d) SELECT i FROM seq)", m)
	}
	step := float64(365*24*3600) / float64(n) // seconds between bookings
	// ts is the timestamp secs seconds after start.
	ts := func(secs string) string {
		if pg {
			return fmt.Sprintf("to_timestamp(%d + (%s))", start.Unix(), secs)
		}
		return fmt.Sprintf("strftime('%%Y-%%m-%%dT%%H:%%M:%%S.000000Z', %d + (%s), 'unixepoch')", start.Unix(), secs)
	}
	at := func(i string) string { return ts(fmt.Sprintf("CAST((%s) * %f AS INTEGER)", i, step)) }
	day := func(i string) string { return fmt.Sprintf("(CAST((%s - 1) * %f AS INTEGER) / 86400 + 1)", i, step) }
	id := "'p:' || CAST(i AS TEXT)"

	exec(`INSERT INTO files (id, partner, name, sha256, status, created_at, updated_at, finished_at)
SELECT i, 'p', 'p_' || CAST(i AS TEXT) || '.csv', CAST(i AS TEXT), 'done', ` + ts("(i - 1) * 86400") + `, ` + ts("(i - 1) * 86400") + `, ` + ts("(i - 1) * 86400") + ` FROM ` + seq(365))
	exec(`INSERT INTO bookings (integrator_id, partner, file_id, first_row, status, request, pre_booking_id, created_at, updated_at, submitted_at)
SELECT ` + id + `, 'p', ` + day("i") + `, i, 'submitted',
	'{"labID":"lab1","patient_details":{"first_name":"Zeb","last_name":"Patient' || CAST(i AS TEXT) || '","gender":"Male","age":40,"age_type":"year"},"integrator_id":"p:' || CAST(i AS TEXT) || '","lead_source":"Sunrise","mapped_tests":[{"id":"t1"}],"barCode":"BC' || CAST(i AS TEXT) || '"}',
	'pb' || CAST(i AS TEXT), ` + at("i") + `, ` + at("i") + `, ` + at("i") + ` FROM ` + seq(n))
	exec(`INSERT INTO booking_tests (integrator_id, position, kind, name, target, target_key, match_how)
SELECT ` + id + `, 0, 'test', 'CBC', 't1', 'id', 'catalogue' FROM ` + seq(n))
	exec(`INSERT INTO sheet_rows (file_id, sheet, row_num, status, integrator_id, ref)
SELECT ` + day("i") + `, '', i, 'accepted', ` + id + `, 'R' || CAST(i AS TEXT) FROM ` + seq(n))
	exec(`INSERT INTO sheet_rows (file_id, sheet, row_num, status, code, message, ref)
SELECT ` + day("i * 50") + `, '', -i, 'rejected', 'age', 'age "98765' || CAST(i AS TEXT) || '" is not a number', 'X' || CAST(i AS TEXT) FROM ` + seq(n/50))
	body := `'{"labID":"lab1","eventType":"' || CASE i % 3 WHEN 1 THEN 'bill.created' WHEN 2 THEN 'report.completed' ELSE 'bill.completed' END ||
	'","eventTime":1,"data":{"billID":"bill' || CAST((i + 2) / 3 AS TEXT) || '","integratorID":"p:' || CAST((i + 2) / 3 AS TEXT) ||
	'","billData":{"status":"created","patientName":"Zeb Patient' || CAST((i + 2) / 3 AS TEXT) || '","mobile":"98765' || CAST(i AS TEXT) || '","testData":[{"_id":"t1","status":"pending"}]}}}'`
	if pg {
		body = "convert_to(" + body + ", 'UTF8')"
	}
	ev := "((i + 2) / 3)"
	exec(`INSERT INTO webhook_raw (id, received_at, remote, body, dedupe_key, status)
SELECT i, ` + at(ev) + `, '127.0.0.1', ` + body + `, 'k' || CAST(i AS TEXT), 'stored' FROM ` + seq(3*n))
	exec(`INSERT INTO webhook_events (raw_id, dedupe_key, event, integrator_id, bill_id, test_key, event_time, received_at)
SELECT i, 'k' || CAST(i AS TEXT), CASE i % 3 WHEN 1 THEN 'bill.created' WHEN 2 THEN 'report.completed' ELSE 'bill.completed' END,
	'p:' || CAST(` + ev + ` AS TEXT), 'bill' || CAST(` + ev + ` AS TEXT), CASE i % 3 WHEN 2 THEN 't1' ELSE '' END, ` + at(ev) + `, ` + at(ev) + ` FROM ` + seq(3*n))
	exec(`INSERT INTO booking_state (integrator_id, state, bill_id, bills_seen, reports_completed, created_at, completed_at, last_event_at, updated_at)
SELECT ` + id + `, CASE WHEN i % 10 = 0 THEN 'created' ELSE 'completed' END, 'bill' || CAST(i AS TEXT), 1,
	CASE WHEN i % 10 = 0 THEN 0 ELSE 1 END, ` + at("i") + `, ` + at("i") + `, ` + at("i") + `, ` + at("i") + ` FROM ` + seq(n))
	exec(`INSERT INTO booking_bills (integrator_id, bill_id, first_seen, state, tests) SELECT ` + id + `, 'bill' || CAST(i AS TEXT), ` + at("i") + `, 'completed', 1 FROM ` + seq(n))
	if pg {
		exec(`SELECT setval(pg_get_serial_sequence('files', 'id'), 365)`)
		exec(`SELECT setval(pg_get_serial_sequence('webhook_raw', 'id'), ?)`, 3*n)
		exec(`VACUUM ANALYZE`)
	} else {
		exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
		exec(`ANALYZE`)
	}
}

// dbBytes is the database's size: the SQLite file and its WAL, or the
// PostgreSQL schema's tables with their indexes and TOAST.
func dbBytes(tb testing.TB, db *store.DB) int64 {
	tb.Helper()
	if db.Dialect() == store.Postgres {
		var n int64
		if err := db.GetContext(context.Background(), &n, `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c
JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = current_schema() AND c.relkind = 'r'`); err != nil {
			tb.Fatal(err)
		}
		return n
	}
	var path string
	if err := db.GetContext(context.Background(), &path, `SELECT file FROM pragma_database_list WHERE name = 'main'`); err != nil {
		tb.Fatal(err)
	}
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// BenchmarkYear: a year of data (BENCH_BOOKINGS bookings, 2M by default,
// with three events each and 365 daily files): the nightly reconciliation
// as of the year's end, then the prune of the oldest 90 days' worth
// (retention set to 275 days), with the database's size before and after.
// make bench runs it; go test never does.
func BenchmarkYear(b *testing.B) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			n := yearSize()
			db := be.Open(b)
			start := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)
			t0 := time.Now()
			fillYear(b, db, n, start)
			b.Logf("filled %d bookings, %d events, 365 files in %s", n, 3*n, time.Since(t0).Round(time.Millisecond))
			cfg := config.Default()
			dir := b.TempDir()
			cfg.Report.Dir, cfg.Inbox.ArchiveDir, cfg.Inbox.ErrorDir = filepath.Join(dir, "r"), filepath.Join(dir, "a"), filepath.Join(dir, "e")
			cfg.Timezone = "UTC"
			cfg.Retention.PatientDataDays = 365 - 90
			at := start.Add(365 * 24 * time.Hour)
			for range b.N {
				before := dbBytes(b, db)
				t1 := time.Now()
				out, err := nightly.Run(context.Background(), &cfg, db, at, nightly.Options{})
				if err != nil {
					b.Fatal(err)
				}
				night := time.Since(t1)
				t2 := time.Now()
				rep, err := retention.Prune(context.Background(), db, &cfg, at, false)
				if err != nil {
					b.Fatal(err)
				}
				prune := time.Since(t2)
				after := dbBytes(b, db)
				b.Logf("nightly %s (%d exceptions); prune %s: %d bookings, %d rows, %d bodies; database %d MB before, %d MB after",
					night.Round(time.Millisecond), out.Result.New+out.Result.Open, prune.Round(time.Millisecond),
					rep.Bookings, rep.SheetRows, rep.WebhookBodies, before>>20, after>>20)
				b.ReportMetric(night.Seconds(), "nightly-s")
				b.ReportMetric(prune.Seconds(), "prune-s")
				b.ReportMetric(float64(rep.Bookings), "pruned-bookings")
				b.ReportMetric(float64(before>>20), "db-MB-before")
				b.ReportMetric(float64(after>>20), "db-MB-after")
			}
		})
	}
}
