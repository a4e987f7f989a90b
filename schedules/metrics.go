package schedules

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flabsync/flabsync/internal/logging"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/pipeline/submit"
	"github.com/flabsync/flabsync/reconcile"
	"github.com/flabsync/flabsync/reconcile/rules"
	"github.com/flabsync/flabsync/reconcile/webhook"
)

// metrics are what the service exports on /metrics.
type metrics struct {
	reg   *prometheus.Registry
	rows  *prometheus.CounterVec // by outcome
	files *prometheus.CounterVec // by result
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flabsync_rows_total",
			Help: "Sheet rows by outcome: submitted, rejected, rejected_flabs, duplicate, failed, held, skipped, unconfirmed, unfinished."}, []string{"outcome"}),
		files: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flabsync_files_total",
			Help: "Inbox files by result: archived, refused (moved to errors/), duplicate (same content as before)."}, []string{"result"}),
	}
	m.reg.MustRegister(m.rows, m.files, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, o := range []string{"submitted", "rejected", "rejected_flabs", "duplicate", "failed", "held", "skipped", "unconfirmed", "unfinished"} {
		m.rows.WithLabelValues(o)
	}
	for _, r := range []string{"archived", "refused", "duplicate"} {
		m.files.WithLabelValues(r)
	}
	return m
}

func (m *metrics) count(c ledger.Counts) {
	for o, n := range map[string]int{"submitted": c.Submitted, "rejected": c.Rejected, "rejected_flabs": c.RejectedFlabs,
		"duplicate": c.Duplicate, "failed": c.Failed, "held": c.Held, "skipped": c.Skipped, "unconfirmed": c.Unconfirmed, "unfinished": c.Unfinished} {
		m.rows.WithLabelValues(o).Add(float64(n))
	}
}

// watch exports live values read when scraped: the submitter's, and what
// the database says of the jobs, the open exceptions and the partners'
// backlogs (dbStats; the partners named have a series from the start).
func (m *metrics) watch(lim *submit.Limiter, sub *submit.Submitter, sched *Scheduler, partners []string) {
	stats := newDBStats(sched.db, sched.log)
	for _, p := range partners {
		stats.waiting[p] = ledger.PartnerBacklog{Partner: p}
	}
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "flabsync_flabs_429_total", Help: "429 answers from Flabs."},
			func() float64 { return float64(lim.Throttles()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "flabsync_flabs_rate_per_second",
			Help: "The current Flabs rate limit: flabs.rate_per_second until Flabs answers 429, then what it adapts to. On PostgreSQL the lab's, shared by its processes."},
			lim.Rate),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "flabsync_submit_queue_depth", Help: "Bookings waiting for a worker."},
			func() float64 { return float64(sub.Queued()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "flabsync_bookings_settled_total",
			Help: "Bookings that left the submitter: answered, given up, or stopped by a refused login."},
			func() float64 { return float64(sub.Settled()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "flabsync_submit_active", Help: "Bookings queued, in flight or waiting to retry; it falls only as bookings leave the submitter (settled)."},
			func() float64 { return float64(sub.Active()) }),
		stats,
	)
}

// watchWebhooks exports the receiver's counters.
func (m *metrics) watchWebhooks(r *webhook.Receiver) {
	m.reg.MustRegister(&webhookStats{r: r, desc: prometheus.NewDesc("flabsync_webhook_deliveries_total",
		"Webhook deliveries by result: stored, duplicate, failed, or rejected_<reason>.", []string{"result"}, nil),
		orphans: prometheus.NewDesc("flabsync_webhook_orphan_events_total", "Stored events naming an integrator ID flabsync never sent.", nil, nil),
		otherLab: prometheus.NewDesc("flabsync_webhook_other_lab_events_total",
			"Stored events naming another labID than flabs.lab_id: kept, never folded into bookings.", nil, nil)})
}

type webhookStats struct {
	r                       *webhook.Receiver
	desc, orphans, otherLab *prometheus.Desc
}

func (c *webhookStats) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.desc
	ch <- c.orphans
	ch <- c.otherLab
}

func (c *webhookStats) Collect(ch chan<- prometheus.Metric) {
	st := c.r.Stats()
	for k, v := range map[string]int64{"stored": st.Stored, "duplicate": st.Duplicates, "failed": st.Failed} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(v), k)
	}
	for reason, v := range st.Rejected {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(v), "rejected_"+reason)
	}
	ch <- prometheus.MustNewConstMetric(c.orphans, prometheus.CounterValue, float64(st.Orphans))
	ch <- prometheus.MustNewConstMetric(c.otherLab, prometheus.CounterValue, float64(st.OtherLab))
}

// adminMux serves /healthz (the process answers), /readyz (the database
// answers) and /metrics.
func adminMux(db *store.DB, m *metrics) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := db.PingContext(ctx); err != nil {
			http.Error(w, "database: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return mux
}

// metricsDBTimeout bounds the database reads of one scrape of /metrics:
// a slow database answers the scrape with the last values read (and
// flabsync_database_up 0) rather than holding it.
const metricsDBTimeout = 2 * time.Second

// jobRunsLookBack is how many of a job's runs are read, once per process,
// to find its last success when its newest run is not one.
const jobRunsLookBack = 1000

// dbStats exports what the database knows and the process cannot: the
// jobs' runs in job_runs, by whichever process ran them, before or after
// a restart; the exceptions still open, by category; and each partner's
// bookings waiting to be sent, with the age of the oldest. Each scrape
// reads the newest run of each job and the open exceptions within a
// timeout, and keeps the latest success and failure it has seen; when a
// read fails, the series keep the last values read and
// flabsync_database_up says 0.
type dbStats struct {
	db      *store.DB
	log     *slog.Logger
	timeout time.Duration

	up, lastRun, lastOK, lastFailed, open *prometheus.Desc
	backlog, oldest                       *prometheus.Desc

	mu       sync.Mutex // one scrape reads at a time; guards what follows
	jobs     map[string]*jobTimes
	lookedAt map[string]bool                  // jobs whose earlier runs were read back
	opens    map[reconcile.Category]int       // open exceptions by category, as last read; nil before the first read
	waiting  map[string]ledger.PartnerBacklog // by partner, as last read; a partner once seen stays, at 0
	down     bool                             // the last read failed
}

// jobTimes is what the reads so far found of one job.
type jobTimes struct {
	run, ok, failed time.Time // start of its newest run; end of its newest ok and failed runs
}

// newDBStats reads db, logging to log when its reads start or stop failing.
func newDBStats(db *store.DB, log *slog.Logger) *dbStats {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	job := []string{"job_name"} // not "job": Prometheus keeps that label for the scrape job
	return &dbStats{db: db, log: log, timeout: metricsDBTimeout,
		up: prometheus.NewDesc("flabsync_database_up",
			"1 if the database answered this scrape's reads (job runs, open exceptions) in time; 0 if not, and those series show the last values read.", nil, nil),
		lastRun: prometheus.NewDesc("flabsync_job_last_run_timestamp_seconds",
			"When the newest run of each job started, on any process (Unix time; job_runs).", job, nil),
		lastOK: prometheus.NewDesc("flabsync_job_last_success_timestamp_seconds",
			"When each job last finished ok, on any process (Unix time). 0: none found (the newest run was not ok, and none was among the 1000 before it or reading them timed out). A partial run is not a success.", job, nil),
		lastFailed: prometheus.NewDesc("flabsync_job_last_failure_timestamp_seconds",
			"When each job last finished failed, on any process (Unix time). 0: none seen (runs before the newest are read only when it was not ok). A partial run is not a failure.", job, nil),
		open: prometheus.NewDesc("flabsync_open_exceptions",
			"Exceptions still needing a person (new or open), by category, as the database holds them now.", []string{"category"}, nil),
		backlog: prometheus.NewDesc("flabsync_partner_backlog",
			"Bookings waiting to be sent (pending, in flight or waiting to retry), by partner, on any process. A partner seen once stays, at 0.", []string{"partner"}, nil),
		oldest: prometheus.NewDesc("flabsync_partner_oldest_waiting_seconds",
			"How long each partner's longest-waiting booking has waited, since its file came in; 0 when nothing waits.", []string{"partner"}, nil),
		jobs: map[string]*jobTimes{}, lookedAt: map[string]bool{}, waiting: map[string]ledger.PartnerBacklog{}}
}

func (c *dbStats) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.lastRun, c.lastOK, c.lastFailed, c.open, c.backlog, c.oldest} {
		ch <- d
	}
}

func (c *dbStats) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	err := c.read(ctx)
	switch {
	case err != nil && !c.down:
		c.log.Warn("metrics: database reads fail; job and exception series show the last values read", logging.Err(err))
	case err == nil && c.down:
		c.log.Info("metrics: database reads work again")
	}
	c.down = err != nil
	up := 1.0
	if c.down {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
	for job, t := range c.jobs {
		ch <- prometheus.MustNewConstMetric(c.lastRun, prometheus.GaugeValue, unixSeconds(t.run), job)
		ch <- prometheus.MustNewConstMetric(c.lastOK, prometheus.GaugeValue, unixSeconds(t.ok), job)
		ch <- prometheus.MustNewConstMetric(c.lastFailed, prometheus.GaugeValue, unixSeconds(t.failed), job)
	}
	for cat, n := range c.opens {
		ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(n), string(cat))
	}
	now := time.Now()
	for p, b := range c.waiting {
		age := 0.0
		if b.Waiting > 0 {
			age = max(0, now.Sub(b.Oldest).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, float64(b.Waiting), p)
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age, p)
	}
}

// read brings the values up to date: the newest run of each job (runs in
// between two scrapes are not seen; the thresholds that matter are
// hours), the open exceptions, and, once per job, its earlier runs if
// its last success is not known yet.
func (c *dbStats) read(ctx context.Context) error {
	runs, err := c.db.LastJobRuns(ctx)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	for _, r := range runs {
		c.times(r.Job).saw(r)
	}
	open, err := rules.OpenByCategory(ctx, c.db)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	for _, cat := range reconcile.Categories {
		if _, ok := open[cat]; !ok {
			open[cat] = 0 // a series per category, so a sum or a comparison never meets a gap
		}
	}
	c.opens = open
	backlog, err := ledger.New(c.db).Backlog(ctx)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	for p := range c.waiting {
		c.waiting[p] = ledger.PartnerBacklog{Partner: p} // nothing waits, unless read below
	}
	for _, b := range backlog {
		c.waiting[b.Partner] = b
	}
	for job, t := range c.jobs {
		if !t.ok.IsZero() || c.lookedAt[job] {
			continue
		}
		// Best effort, once: a failure here leaves the success at 0.
		c.lookedAt[job] = true
		back, err := c.db.JobRuns(ctx, job, jobRunsLookBack)
		if err != nil {
			c.log.Debug("metrics: read earlier job runs", logging.KeyJob, job, logging.Err(err))
			continue
		}
		for _, r := range back {
			t.saw(r)
		}
	}
	return nil
}

func (c *dbStats) times(job string) *jobTimes {
	t, ok := c.jobs[job]
	if !ok {
		t = &jobTimes{}
		c.jobs[job] = t
	}
	return t
}

// saw takes in one run.
func (t *jobTimes) saw(r store.JobRun) {
	if r.StartedAt.After(t.run) {
		t.run = r.StartedAt.Time
	}
	switch r.Status {
	case store.JobOK:
		if r.FinishedAt.After(t.ok) {
			t.ok = r.FinishedAt.Time
		}
	case store.JobFailed:
		if r.FinishedAt.After(t.failed) {
			t.failed = r.FinishedAt.Time
		}
	}
}

// unixSeconds is t in Unix seconds, and the zero time 0.
func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixMicro()) / 1e6
}
