package webhook

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/logging"
	"github.com/flabsync/flabsync/internal/store"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxBatch        = 128 // deliveries per write transaction
	DefaultSQLiteWriters   = 1   // SQLite has one writer at a time anyway
	DefaultPostgresWriters = 2   // concurrent transactions on PostgreSQL (best of 1–6 on 2 cores)
	DefaultShutdownTimeout = 10 * time.Second
)

// ErrClosed is returned for deliveries that arrive after Close.
var ErrClosed = errors.New("webhook receiver closed")

// Options tune a Receiver beyond its config. The zero value is the default.
type Options struct {
	// Writers is how many write transactions run at once: default
	// DefaultSQLiteWriters or DefaultPostgresWriters by the store's dialect.
	Writers int
	// MaxBatch bounds the deliveries written per transaction, default
	// DefaultMaxBatch.
	MaxBatch int
	// ShutdownTimeout bounds the graceful stop of ListenAndServe and Serve:
	// requests still running after it are cut off. Default
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Now is the clock for received_at, default time.Now.
	Now func() time.Time
	// LabID is flabs.lab_id, our lab. When set, an event naming another
	// labID is stored as it came, marked other_lab and counted
	// (Stats.OtherLab), but never folded into our bookings: its integrator
	// and bill IDs are another lab's. An event naming no labID is ours.
	// Empty: every event is ours.
	LabID string
}

// Receiver takes Flabs' webhook deliveries into the store. Create it with
// New and stop it with Close; its methods are safe for concurrent use.
type Receiver struct {
	db    *store.DB
	cfg   config.Webhook
	opts  Options
	log   *slog.Logger
	token flabs.TokenCheck
	stats counters
	noisy struct{ unauthorized, invalid, orphan rate.Sometimes } // refusals anyone can cause, and orphans: logged sparingly
	// orphans not yet in a log line, and since when (guarded by its own mu)
	orphanLog struct {
		mu      sync.Mutex
		pending int64
		since   time.Time
	}

	queue   chan *delivery
	ctx     context.Context // the writers' lifetime
	cancel  context.CancelFunc
	stop    chan struct{}
	writers sync.WaitGroup

	mu        sync.RWMutex
	closed    bool
	inflight  sync.WaitGroup
	closeOnce sync.Once
}

// New returns a receiver writing to db, configured by cfg (webhook.* keys;
// zero AuthHeader, MaxBody and Path take their defaults), logging to
// logger as it is (give it a component attribute; nil discards), with its
// writer goroutines running. Call Close when done.
func New(db *store.DB, cfg config.Webhook, logger *slog.Logger) *Receiver {
	return NewWithOptions(db, cfg, logger, Options{})
}

// NewWithOptions is New with tuning (tests and benchmarks).
func NewWithOptions(db *store.DB, cfg config.Webhook, logger *slog.Logger, opts Options) *Receiver {
	if cfg.AuthHeader == "" {
		cfg.AuthHeader = "Authorization"
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = config.DefaultWebhookMaxBody
	}
	if cfg.Path == "" {
		cfg.Path = config.Default().Webhook.Path
	}
	if opts.Writers <= 0 {
		opts.Writers = DefaultPostgresWriters
		if db.Dialect() == store.SQLite {
			opts.Writers = DefaultSQLiteWriters
		}
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Receiver{
		db:     db,
		cfg:    cfg,
		opts:   opts,
		log:    logger,
		token:  flabs.NewTokenCheck(cfg.AuthToken),
		queue:  make(chan *delivery, 4*opts.MaxBatch*opts.Writers),
		ctx:    ctx,
		cancel: cancel,
		stop:   make(chan struct{}),
	}
	r.noisy.unauthorized = rate.Sometimes{First: 3, Interval: 10 * time.Second}
	r.noisy.invalid = rate.Sometimes{First: 3, Interval: 10 * time.Second}
	r.noisy.orphan = rate.Sometimes{First: 1, Interval: OrphanLogInterval}
	r.orphanLog.since = opts.Now()
	for range opts.Writers {
		r.writers.Add(1)
		go r.write()
	}
	return r
}

// Close stops taking deliveries (later ones get ErrClosed, or 503 over
// HTTP), waits for those in flight to be stored and answered, stops the
// writers and logs the orphans not yet summed up. It is idempotent.
func (r *Receiver) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		r.inflight.Wait()
		close(r.stop)
		r.writers.Wait()
		r.logOrphans(nil) // those counted since the last line
		r.cancel()
	})
	return nil
}

// Stats returns a snapshot of the counters.
func (r *Receiver) Stats() Stats { return r.stats.snapshot() }

// Result is what Ingest made of one body.
type Result struct {
	Status Status
	Key    string // dedupe key; empty when invalid
	Reason string // why the body is invalid
	Orphan bool   // stored, for an integrator ID flabsync never sent
}

// Ingest stores one body as if it had been delivered — parse, dedupe,
// store, fold — without HTTP or token check: `flabsync webhooks replay`
// uses it. An invalid body is reported in Result (Status StatusInvalid)
// and not stored. The error is a store failure, ErrClosed, or ctx's.
func (r *Receiver) Ingest(ctx context.Context, body []byte, source string) (Result, error) {
	r.stats.received.Add(1)
	d := r.newDelivery(body, source, false)
	if d.ev == nil {
		r.stats.reject(ReasonInvalid)
		return Result{Status: StatusInvalid, Reason: d.reason}, nil
	}
	if err := r.submit(ctx, d); err != nil {
		r.stats.failed.Add(1)
		return Result{}, err
	}
	r.count(d)
	return Result{Status: d.status, Key: d.ev.Key, Orphan: d.orphan && d.status == StatusStored}, nil
}

// newDelivery parses body into a delivery.
func (r *Receiver) newDelivery(body []byte, remote string, keep bool) *delivery {
	d := &delivery{body: body, remote: remote, received: r.opts.Now(), keep: keep, done: make(chan error, 1)}
	ev, err := Parse(body)
	if err != nil {
		var pe *ParseError
		if errors.As(err, &pe) {
			d.reason = pe.Reason
		} else {
			d.reason = err.Error()
		}
		return d
	}
	d.ev = ev
	d.otherLab = r.opts.LabID != "" && ev.LabID != "" && ev.LabID != r.opts.LabID
	return d
}

// submit queues d for a writer and waits until it is committed.
func (r *Receiver) submit(ctx context.Context, d *delivery) error {
	r.mu.RLock()
	if r.closed {
		r.mu.RUnlock()
		return ErrClosed
	}
	r.inflight.Add(1)
	r.mu.RUnlock()
	defer r.inflight.Done()
	select {
	case r.queue <- d:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-d.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// OrphanLogInterval is the least time between two log lines about orphan
// events (events for integrator IDs flabsync never sent).
const OrphanLogInterval = 10 * time.Second

// logOrphans writes the summary line for the orphans counted since the
// last one, if any, naming d's event as an example when d is not nil.
func (r *Receiver) logOrphans(d *delivery) {
	now := r.opts.Now()
	r.orphanLog.mu.Lock()
	n, since := r.orphanLog.pending, r.orphanLog.since
	r.orphanLog.pending, r.orphanLog.since = 0, now
	r.orphanLog.mu.Unlock()
	if n == 0 {
		return
	}
	attrs := []any{"orphans", n, "since", since.UTC().Format(time.RFC3339)}
	if d != nil {
		attrs = append(attrs, "event", d.ev.EventType, logging.KeyIntegratorID, d.ev.Data.IntegratorID, "bill_id", d.ev.Data.BillID)
	}
	r.log.Info("webhook events for integrator IDs flabsync never sent, kept as orphans (logged at most every 10s)", attrs...)
}

// count records a written delivery's outcome and logs it.
func (r *Receiver) count(d *delivery) {
	switch d.status {
	case StatusStored:
		r.stats.stored.Add(1)
		if d.otherLab {
			r.stats.otherLab.Add(1)
		}
		if r.log.Enabled(r.ctx, slog.LevelDebug) {
			r.log.Debug("webhook event stored", "event", d.ev.EventType, logging.KeyIntegratorID, d.ev.Data.IntegratorID,
				"bill_id", d.ev.Data.BillID, "orphan", d.orphan, "other_lab", d.otherLab)
		}
		if d.orphan {
			// Another system's bookings, or the lab staff's, can send
			// thousands: counted, and summed up at INFO in one line at
			// most every OrphanLogInterval (the first one at once).
			r.stats.orphans.Add(1)
			r.orphanLog.mu.Lock()
			r.orphanLog.pending++
			r.orphanLog.mu.Unlock()
			r.noisy.orphan.Do(func() { r.logOrphans(d) })
		}
	case StatusDuplicate:
		r.stats.duplicates.Add(1)
		r.log.Debug("webhook event repeated", "event", d.ev.EventType, logging.KeyIntegratorID, d.ev.Data.IntegratorID,
			"bill_id", d.ev.Data.BillID)
	case StatusInvalid:
		r.stats.reject(ReasonInvalid)
	}
}
