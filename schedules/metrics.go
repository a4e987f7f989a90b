package schedules

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/pipeline/submit"
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

// watch exports live values read when scraped.
func (m *metrics) watch(lim *submit.Limiter, sub *submit.Submitter, sched *Scheduler) {
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "flabsync_flabs_429_total", Help: "429 answers from Flabs."},
			func() float64 { return float64(lim.Throttles()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "flabsync_flabs_rate_per_second", Help: "The submitter's current rate limit."},
			lim.Rate),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "flabsync_submit_queue_depth", Help: "Bookings waiting for a worker."},
			func() float64 { return float64(sub.Queued()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "flabsync_submit_active", Help: "Bookings queued, in flight or waiting to retry."},
			func() float64 { return float64(sub.Active()) }),
		&lastSuccess{sched: sched, desc: prometheus.NewDesc("flabsync_job_last_success_timestamp_seconds",
			"When each job last finished without error (Unix time).", []string{"job"}, nil)},
	)
}

// watchWebhooks exports the receiver's counters.
func (m *metrics) watchWebhooks(r *webhook.Receiver) {
	m.reg.MustRegister(&webhookStats{r: r, desc: prometheus.NewDesc("flabsync_webhook_deliveries_total",
		"Webhook deliveries by result: stored, duplicate, failed, or rejected_<reason>.", []string{"result"}, nil),
		orphans: prometheus.NewDesc("flabsync_webhook_orphan_events_total", "Stored events naming an integrator ID flabsync never sent.", nil, nil)})
}

type webhookStats struct {
	r             *webhook.Receiver
	desc, orphans *prometheus.Desc
}

func (c *webhookStats) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc; ch <- c.orphans }

func (c *webhookStats) Collect(ch chan<- prometheus.Metric) {
	st := c.r.Stats()
	for k, v := range map[string]int64{"stored": st.Stored, "duplicate": st.Duplicates, "failed": st.Failed} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(v), k)
	}
	for reason, v := range st.Rejected {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(v), "rejected_"+reason)
	}
	ch <- prometheus.MustNewConstMetric(c.orphans, prometheus.CounterValue, float64(st.Orphans))
}

// lastSuccess exports the scheduler's last success per job.
type lastSuccess struct {
	sched *Scheduler
	desc  *prometheus.Desc
}

func (c *lastSuccess) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *lastSuccess) Collect(ch chan<- prometheus.Metric) {
	for job, t := range c.sched.LastSuccess() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(t.Unix()), job)
	}
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
