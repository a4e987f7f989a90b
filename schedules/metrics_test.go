package schedules

// An internal test: the collectors are unexported, and what is checked
// is the registry and handler exactly as Service.Run builds them.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/pipeline/submit"
	"github.com/flabsync/flabsync/reconcile"
	"github.com/flabsync/flabsync/reconcile/webhook"
)

// gather scrapes reg into name{label="value",…} → value.
func gather(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := mf.GetName()
			if len(ls) > 0 {
				key += "{" + strings.Join(ls, ",") + "}"
			}
			switch {
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			default:
				out[key] = 0
			}
		}
	}
	return out
}

// addRun records one finished run of job (status "running": not finished).
func addRun(t testing.TB, db *store.DB, job, status string, start, end time.Time) {
	t.Helper()
	ctx := t.Context()
	id, err := db.StartJobRun(ctx, job, "test:1", start)
	if err != nil {
		t.Fatal(err)
	}
	if status == store.JobRunning {
		return
	}
	if err := db.FinishJobRun(ctx, id, status, "", "", end); err != nil {
		t.Fatal(err)
	}
}

func dbStatsRegistry(db *store.DB) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newDBStats(db, nil))
	return reg
}

// checkValues compares the series of got named in want.
func checkValues(t *testing.T, got, want map[string]float64) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("%s: missing", k)
		case g != w:
			t.Errorf("%s = %v, want %v", k, g, w)
		}
	}
}

func TestMetricsJobRuns(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		sec := func(d time.Duration) float64 { return float64(at.Add(d).Unix()) }
		// import: older failures, an ok run, a failed one, and one still
		// running.
		for i := range 3 {
			addRun(t, db, JobImport, store.JobFailed, at.Add(-time.Duration(100-i)*time.Minute), at.Add(-time.Duration(100-i)*time.Minute))
		}
		addRun(t, db, JobImport, store.JobOK, at.Add(-3*time.Minute), at.Add(-170*time.Second))
		addRun(t, db, JobImport, store.JobFailed, at.Add(-2*time.Minute), at.Add(-110*time.Second))
		addRun(t, db, JobImport, store.JobRunning, at.Add(-time.Minute), time.Time{})
		// reconcile: only a partial run, which is neither.
		addRun(t, db, JobReconcile, store.JobPartial, at.Add(-8*time.Hour), at.Add(-8*time.Hour+time.Minute))

		reg := dbStatsRegistry(db)
		want := map[string]float64{
			"flabsync_database_up": 1,
			`flabsync_job_last_run_timestamp_seconds{job_name="import"}`:        sec(-time.Minute),
			`flabsync_job_last_success_timestamp_seconds{job_name="import"}`:    sec(-170 * time.Second),
			`flabsync_job_last_failure_timestamp_seconds{job_name="import"}`:    sec(-110 * time.Second),
			`flabsync_job_last_run_timestamp_seconds{job_name="reconcile"}`:     sec(-8 * time.Hour),
			`flabsync_job_last_success_timestamp_seconds{job_name="reconcile"}`: 0,
			`flabsync_job_last_failure_timestamp_seconds{job_name="reconcile"}`: 0,
		}
		checkValues(t, gather(t, reg), want)

		// Runs between scrapes, by this process or another one: the next
		// scrape reads only the newest run, and keeps what it knew.
		addRun(t, db, JobReconcile, store.JobOK, at.Add(time.Hour), at.Add(time.Hour+time.Minute))
		addRun(t, db, JobImport, store.JobOK, at.Add(time.Minute), at.Add(time.Minute+5*time.Second))
		want[`flabsync_job_last_run_timestamp_seconds{job_name="reconcile"}`] = sec(time.Hour)
		want[`flabsync_job_last_success_timestamp_seconds{job_name="reconcile"}`] = sec(time.Hour + time.Minute)
		want[`flabsync_job_last_run_timestamp_seconds{job_name="import"}`] = sec(time.Minute)
		want[`flabsync_job_last_success_timestamp_seconds{job_name="import"}`] = sec(time.Minute + 5*time.Second)
		checkValues(t, gather(t, reg), want)

		// A restart reads the same from the database, but for the last
		// failure: the newest run succeeded, so none is looked for.
		want[`flabsync_job_last_failure_timestamp_seconds{job_name="import"}`] = 0
		checkValues(t, gather(t, dbStatsRegistry(db)), want)
	})
}

func TestMetricsOpenExceptions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		now := store.T(time.Now())
		q := db.Rebind(`INSERT INTO exceptions (id, category, status, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)`)
		for i, e := range []struct {
			cat    reconcile.Category
			status reconcile.Status
		}{
			{reconcile.CategoryNotSent, reconcile.StatusNew},
			{reconcile.CategoryNotSent, reconcile.StatusOpen},
			{reconcile.CategoryNoBill, reconcile.StatusOpen},
			{reconcile.CategoryNoBill, reconcile.StatusResolved},
			{"brand_new_category", reconcile.StatusNew},
		} {
			if _, err := db.ExecContext(t.Context(), q, fmt.Sprint("e", i), e.cat, e.status, now, now); err != nil {
				t.Fatal(err)
			}
		}
		got := gather(t, dbStatsRegistry(db))
		for _, cat := range reconcile.Categories {
			want := 0.0
			switch cat {
			case reconcile.CategoryNotSent:
				want = 2
			case reconcile.CategoryNoBill:
				want = 1
			}
			checkValues(t, got, map[string]float64{fmt.Sprintf("flabsync_open_exceptions{category=%q}", cat): want})
		}
		checkValues(t, got, map[string]float64{`flabsync_open_exceptions{category="brand_new_category"}`: 1})
	})
}

// TestMetricsDatabaseDown: a scrape whose reads fail says so, and the
// job and exception series keep the last values read, so alerts on them
// keep working (a job that cannot record its runs grows stale).
func TestMetricsDatabaseDown(t *testing.T) {
	db := storetest.OpenSQLite(t)
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	addRun(t, db, JobImport, store.JobOK, at, at.Add(time.Second))
	reg := prometheus.NewRegistry()
	c := newDBStats(db, nil)
	c.timeout = 200 * time.Millisecond
	reg.MustRegister(c)
	before := gather(t, reg)
	if before["flabsync_database_up"] != 1 {
		t.Fatalf("database_up = %v before, want 1", before["flabsync_database_up"])
	}
	db.Close()
	after := gather(t, reg)
	if after["flabsync_database_up"] != 0 {
		t.Errorf("database_up = %v with the database closed, want 0", after["flabsync_database_up"])
	}
	delete(before, "flabsync_database_up")
	delete(after, "flabsync_database_up")
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("series changed when the reads failed:\nbefore %v\nafter  %v", before, after)
	}
}

// TestMetricsHandler scrapes /metrics of the admin mux built as
// Service.Run builds it, and checks every series the service exports is
// there from the first scrape (counters at 0) and typed as documented.
func TestMetricsHandler(t *testing.T) {
	db := storetest.OpenSQLite(t)
	addRun(t, db, JobImport, store.JobOK, time.Now().Add(-time.Minute), time.Now())
	m := newMetrics()
	lim := submit.NewLimiter(10, 1)
	m.watch(lim, submit.New(nil, nil, lim, submit.Options{}), New(db, time.UTC, "test:1", nil), []string{"sunrise"})
	recv := webhook.New(db, config.Webhook{AuthToken: "t"}, nil)
	t.Cleanup(func() { recv.Close() })
	m.watchWebhooks(recv)
	srv := httptest.NewServer(adminMux(db, m))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	types := map[string]string{}
	for line := range strings.Lines(string(body)) {
		if f := strings.Fields(line); len(f) == 4 && f[1] == "TYPE" {
			types[f[2]] = f[3]
		}
	}
	want := map[string]string{
		"flabsync_rows_total": "counter", "flabsync_files_total": "counter",
		"flabsync_flabs_429_total": "counter", "flabsync_flabs_rate_per_second": "gauge",
		"flabsync_submit_queue_depth": "gauge", "flabsync_submit_active": "gauge",
		"flabsync_webhook_deliveries_total": "counter", "flabsync_webhook_orphan_events_total": "counter",
		"flabsync_webhook_other_lab_events_total": "counter",
		"flabsync_database_up":                    "gauge", "flabsync_open_exceptions": "gauge",
		"flabsync_job_last_run_timestamp_seconds": "gauge", "flabsync_job_last_success_timestamp_seconds": "gauge",
		"flabsync_job_last_failure_timestamp_seconds": "gauge",
		"flabsync_partner_backlog":                    "gauge", "flabsync_partner_oldest_waiting_seconds": "gauge",
	}
	var names []string
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if types[n] != want[n] {
			t.Errorf("%s: type %q, want %q", n, types[n], want[n])
		}
	}
	for _, s := range []string{`flabsync_job_last_success_timestamp_seconds{job_name="import"}`,
		`flabsync_open_exceptions{category="not_sent"} 0`, `flabsync_webhook_deliveries_total{result="stored"} 0`,
		`flabsync_database_up 1`, `flabsync_partner_backlog{partner="sunrise"} 0`, `flabsync_partner_oldest_waiting_seconds{partner="sunrise"} 0`} {
		if !strings.Contains(string(body), s) {
			t.Errorf("/metrics lacks %s", s)
		}
	}
}

// BenchmarkMetricsScrape is one scrape's database reads with a year of
// minutely import runs in job_runs (SQLite): the first after a start
// while import is failing (it reads back to find the last success), and
// the ones after.
func BenchmarkMetricsScrape(b *testing.B) {
	db := storetest.OpenSQLite(b)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 525600)
INSERT INTO job_runs (job, holder, status, started_at, finished_at)
SELECT 'import', 'bench:1', CASE WHEN i % 7 = 0 THEN 'failed' ELSE 'ok' END,
	strftime('%Y-%m-%dT%H:%M:%f', '2025-01-01', '+' || i || ' minutes') || '000Z',
	strftime('%Y-%m-%dT%H:%M:%f', '2025-01-01', '+' || i || ' minutes', '+2 seconds') || '000Z' FROM n`); err != nil {
		b.Fatal(err)
	}
	for _, job := range []string{JobReconcile, JobMappingSync, JobExpectedDrops} {
		addRun(b, db, job, store.JobOK, time.Now(), time.Now())
	}
	addRun(b, db, JobImport, store.JobFailed, time.Now(), time.Now())
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			c := newDBStats(db, nil)
			if err := c.read(ctx); err != nil {
				b.Fatal(err)
			}
			if c.jobs[JobImport].ok.IsZero() {
				b.Fatal("the last success was not found")
			}
		}
	})
	b.Run("next", func(b *testing.B) {
		c := newDBStats(db, nil)
		if err := c.read(ctx); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if err := c.read(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestMetricsPartnerBacklog: each partner's bookings waiting to be sent
// and the age of its oldest; once all are sent the partner's series stay,
// at 0, so an alert on them resolves rather than goes stale.
func TestMetricsPartnerBacklog(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		arrived := time.Now().Add(-20 * time.Minute)
		led := ledger.New(db).WithClock(func() time.Time { return arrived })
		f, _, err := led.StartFile(ctx, ledger.File{Partner: "sunrise", Name: "sunrise.csv", SHA256: "x"})
		if err != nil {
			t.Fatal(err)
		}
		var bs []ledger.Booking
		var rows []ledger.Row
		for i, id := range []string{"sunrise:1", "sunrise:2", "sunrise:3"} {
			bs = append(bs, ledger.Booking{IntegratorID: id, Partner: "sunrise", FirstRow: i + 2, Rows: []int{i + 2},
				Request: &flabs.BillingRequest{IntegratorID: id}})
			rows = append(rows, ledger.Row{Num: i + 2, Status: ledger.RowAccepted, IntegratorID: id})
		}
		if _, err := led.Admit(ctx, f, bs, rows); err != nil {
			t.Fatal(err)
		}
		stats := newDBStats(db, nil)
		reg := prometheus.NewRegistry()
		reg.MustRegister(stats)
		got := gather(t, reg)
		checkValues(t, got, map[string]float64{`flabsync_partner_backlog{partner="sunrise"}`: 3})
		if age := got[`flabsync_partner_oldest_waiting_seconds{partner="sunrise"}`]; age < 20*60 || age > 21*60 {
			t.Errorf("oldest waiting %.0f s, want about 1200", age)
		}
		for _, b := range bs {
			if _, err := led.Sending(ctx, b.IntegratorID, "test"); err != nil {
				t.Fatal(err)
			}
			if err := led.Settle(ctx, ledger.Result{IntegratorID: b.IntegratorID, State: ledger.Submitted, PreBookingID: "pb"}); err != nil {
				t.Fatal(err)
			}
		}
		checkValues(t, gather(t, reg), map[string]float64{`flabsync_partner_backlog{partner="sunrise"}`: 0,
			`flabsync_partner_oldest_waiting_seconds{partner="sunrise"}`: 0})
	})
}
