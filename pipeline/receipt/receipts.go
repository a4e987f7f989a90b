package receipt

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/logging"
	"github.com/flabsync/flabsync/internal/mail"
	"github.com/flabsync/flabsync/pipeline/ledger"
)

// DefaultQueue is how many receipts may wait to be sent; more are dropped
// (and logged), never waited for.
const DefaultQueue = 100

// buildTimeout bounds the ledger reads that build one receipt.
const buildTimeout = 30 * time.Second

// Options shape Receipts.
type Options struct {
	Queue    int    // receipts waiting at most (DefaultQueue)
	SpoolDir string // where attachments wait to be sent, each in its own folder removed after (os.TempDir())
}

// Receipts sends clinics their receipts from one background worker: the
// importer hands each file over (Processed, Refused) and goes on at once;
// the worker reads the ledger, writes the CSV, sends (the Mailer retries)
// and logs the outcome by file and partner. A nil *Receipts does nothing.
type Receipts struct {
	cfg   *config.Config
	send  Sender
	led   *ledger.Ledger
	log   *slog.Logger
	spool string

	ctx    context.Context // the worker's lifetime: cancelled when Close runs out of time
	cancel context.CancelFunc
	queue  chan job
	done   chan struct{}

	mu      sync.RWMutex
	closed  bool
	pending atomic.Int64 // queued or being sent
}

// job is one receipt to build and send: a processed file (outcome) or a
// file refused before it was read (reason).
type job struct {
	outcome Outcome
	refused bool
	reason  string
}

// New returns Receipts sending by send, or nil when send is nil (no mail
// configured: no receipts).
func New(cfg *config.Config, send Sender, led *ledger.Ledger, log *slog.Logger) *Receipts {
	return NewWithOptions(cfg, send, led, log, Options{})
}

// NewWithOptions is New with a queue size and spool folder.
func NewWithOptions(cfg *config.Config, send Sender, led *ledger.Ledger, log *slog.Logger, o Options) *Receipts {
	if send == nil {
		return nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	if o.SpoolDir == "" {
		o.SpoolDir = os.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Receipts{cfg: cfg, send: send, led: led, log: log.With(logging.KeyComponent, "receipts"), spool: o.SpoolDir,
		ctx: ctx, cancel: cancel, queue: make(chan job, o.Queue), done: make(chan struct{})}
	go r.work()
	return r
}

// Processed queues the receipt for a file the importer is done with. It
// never blocks: a receipt the queue has no room for is dropped, with a
// warning naming the file. Files of partners without receipts are passed
// over.
func (r *Receipts) Processed(ctx context.Context, o Outcome) {
	r.enqueue(ctx, job{outcome: o})
}

// Refused queues the receipt for a file refused before it was read (empty,
// a link, a name that hides what it is), saying why. It never blocks.
func (r *Receipts) Refused(ctx context.Context, partner, name, reason string) {
	r.enqueue(ctx, job{outcome: Outcome{Partner: partner, Name: name}, refused: true, reason: reason})
}

func (r *Receipts) enqueue(ctx context.Context, j job) {
	if r == nil {
		return
	}
	p, ok := r.cfg.Partners[j.outcome.Partner]
	if !ok || !p.WantsReceipts() {
		return
	}
	log := r.log.With(logging.KeyFile, j.outcome.Name, logging.KeyPartner, j.outcome.Partner)
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		log.WarnContext(ctx, "receipt dropped: receipts are closed")
		return
	}
	r.pending.Add(1)
	select {
	case r.queue <- j:
	default:
		r.pending.Add(-1)
		log.WarnContext(ctx, "receipt dropped: the queue is full (mail slow or down?); the clinic gets no receipt for this file",
			"queue", cap(r.queue))
	}
}

// Close stops taking receipts and waits, until ctx ends, for those queued
// to be sent; then it cancels the rest (logged, one by one) and returns,
// within a moment, an error saying how many were not sent. Safe to
// call more than once.
func (r *Receipts) Close(ctx context.Context) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.queue)
	}
	r.mu.Unlock()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
	}
	left := r.pending.Load()
	r.cancel()
	// A send in the middle of an SMTP exchange may not notice the
	// cancel until its own timeout: Close waits a moment, not for that.
	select {
	case <-r.done:
	case <-time.After(closeGrace):
		r.log.Warn("receipts: a send still in progress is left to finish on its own")
	}
	if left == 0 {
		return nil
	}
	return fmt.Errorf("receipts: %d not sent before the deadline: %w", left, ctx.Err())
}

// CloseWithin is Close with d to wait, logging what was not sent.
func (r *Receipts) CloseWithin(d time.Duration) {
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		r.log.Warn("receipts: not every clinic was sent its receipt", logging.Err(err))
	}
}

// closeGrace is how long Close waits, once its context has ended, for the
// send in progress to notice the cancel.
const closeGrace = 250 * time.Millisecond

// work sends the queued receipts one at a time until the queue is closed
// and empty.
func (r *Receipts) work() {
	defer close(r.done)
	defer r.cancel()
	for j := range r.queue {
		r.deliver(j)
		r.pending.Add(-1)
	}
}

// deliver builds, sends and logs one receipt; it never returns an error
// (a receipt is not worth stopping for).
func (r *Receipts) deliver(j job) {
	log := r.log.With(logging.KeyFile, j.outcome.Name, logging.KeyPartner, j.outcome.Partner)
	if err := r.ctx.Err(); err != nil {
		log.Warn("receipt not sent: stopped before its turn")
		return
	}
	p := r.cfg.Partners[j.outcome.Partner]
	to, err := mail.Addresses("partners."+j.outcome.Partner+".email", p.Email)
	if err != nil {
		log.Error("receipt not sent", logging.Err(err))
		return
	}
	rc, err := r.build(j)
	if err != nil {
		log.Error("receipt not sent: reading the ledger", logging.Err(err))
		return
	}
	msg := mail.Message{To: to, Subject: rc.Subject, Text: rc.Text}
	if len(rc.Rows) > 0 {
		dir, err := os.MkdirTemp(r.spool, "flabsync-receipt-*")
		if err != nil {
			log.Error("receipt not sent: spool folder", logging.Err(err))
			return
		}
		defer os.RemoveAll(dir)
		name := CSVName(rc.File)
		path := filepath.Join(dir, name)
		if err := writeCSV(path, rc.Rows); err != nil {
			log.Error("receipt not sent", logging.Err(err))
			return
		}
		msg.Attachments = []mail.Attachment{{Path: path, Name: name, ContentType: "text/csv"}}
	}
	start := time.Now()
	if ns, ok := r.send.(interface {
		SendAs(context.Context, string, mail.Message) error
	}); ok {
		err = ns.SendAs(r.ctx, "receipt-"+rc.File, msg)
	} else {
		err = r.send.Send(r.ctx, msg)
	}
	if err != nil {
		log.Error("receipt not sent", "recipients", len(to), logging.Err(err))
		return
	}
	log.Info("receipt sent", "recipients", len(to), "rows_attached", len(rc.Rows), "took", time.Since(start).Round(time.Millisecond))
}

// build makes the receipt for j from the ledger.
func (r *Receipts) build(j job) (Receipt, error) {
	o := j.outcome
	if j.refused {
		return Refused(o.Partner, o.Name, j.reason), nil
	}
	if o.FileID == 0 {
		return Refused(o.Partner, o.Name, ClinicReason(o.Name, o.Err)), nil
	}
	ctx, cancel := context.WithTimeout(r.ctx, buildTimeout)
	defer cancel()
	f, err := r.led.FileByID(ctx, o.FileID)
	if err != nil {
		return Receipt{}, err
	}
	if f.Partner != o.Partner {
		// Never another clinic's file, whatever the caller says.
		return Receipt{}, fmt.Errorf("file %d belongs to %q, not %q", o.FileID, f.Partner, o.Partner)
	}
	switch f.Status {
	case ledger.FileFailed, ledger.FileRefused, ledger.FileAbandoned, ledger.FileReading:
		return Refused(o.Partner, o.Name, ClinicReason(o.Name, o.Err)), nil
	}
	var rows []ledger.ReturnedRow
	all := f.Counts.Rejected + f.Counts.RejectedFlabs
	if all > 0 {
		if rows, err = r.led.Returned(ctx, o.FileID, MaxRows); err != nil {
			return Receipt{}, err
		}
		if len(rows) > all { // a booking of several rows refused by Flabs lists each row
			all = len(rows)
		}
	}
	return Processed(f, o.Name, rows, all), nil
}
