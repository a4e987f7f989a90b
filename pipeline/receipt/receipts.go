package receipt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/logging"
	"github.com/flabsync/flabsync/internal/mail"
	"github.com/flabsync/flabsync/pipeline/ledger"
)

// Courier defaults.
const (
	// DefaultLease is how long a Courier holds a receipt it claimed: a
	// process that dies holding one leaves it to another after this.
	DefaultLease = 10 * time.Minute
	// DefaultPoll is how often a Courier looks at the outbox for receipts
	// queued by other processes or due again after a failure.
	DefaultPoll = 5 * time.Second
	// DefaultMaxAttempts is how many sends a receipt gets before it is
	// given up (each a Mailer.Send, which retries on its own).
	DefaultMaxAttempts = 8
	// DefaultBackoff is the wait after a receipt's first failed send;
	// it doubles each time, up to MaxBackoff.
	DefaultBackoff = 30 * time.Second
	// MaxBackoff caps the wait between two sends of a receipt.
	MaxBackoff = time.Hour
)

// claimBatch is how many receipts a Courier claims at a time.
const claimBatch = 20

// buildTimeout bounds the ledger reads that build one receipt.
const buildTimeout = 30 * time.Second

// Rule is the ledger's receipt rule for cfg: partners with an email
// address (and receipts not turned off) get a receipt for each file; a
// clinic is told ClinicReason of a file that could not be read; queued,
// if set, hears of each receipt queued (Courier.Wake).
func Rule(cfg *config.Config, queued func()) ledger.Receipts {
	return ledger.Receipts{
		Wants: func(partner string) bool {
			p, ok := cfg.Partners[partner]
			return ok && p.WantsReceipts()
		},
		Reason: ClinicReason,
		Queued: queued,
	}
}

// CourierOptions shape a Courier.
type CourierOptions struct {
	Holder      string           // who claims receipts in the outbox (required)
	Lease       time.Duration    // DefaultLease
	Poll        time.Duration    // DefaultPoll
	MaxAttempts int              // DefaultMaxAttempts
	Backoff     time.Duration    // DefaultBackoff
	SpoolDir    string           // where attachments wait to be sent, each in its own folder removed after (os.TempDir())
	Now         func() time.Time // the clock deciding what is due (time.Now)
}

// Courier sends the receipts queued in the ledger's outbox: it claims
// those due (for Lease, so that two processes never send one twice),
// builds each from the ledger, sends it by its Sender, and marks it sent;
// a failed send comes due again after a back-off, until MaxAttempts. It
// logs by file and partner, never patient data.
type Courier struct {
	cfg  *config.Config
	send Sender
	led  *ledger.Ledger
	log  *slog.Logger
	o    CourierOptions
	wake chan struct{}
}

// NewCourier returns a Courier sending by send, or nil when send is nil
// (no mail configured: no receipts).
func NewCourier(cfg *config.Config, send Sender, led *ledger.Ledger, log *slog.Logger, o CourierOptions) *Courier {
	if send == nil {
		return nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.SpoolDir == "" {
		o.SpoolDir = os.TempDir()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Courier{cfg: cfg, send: send, led: led, log: log.With(logging.KeyComponent, "receipts"), o: o,
		wake: make(chan struct{}, 1)}
}

// Wake makes a running Courier look at the outbox now. It never blocks;
// safe on nil.
func (c *Courier) Wake() {
	if c == nil {
		return
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run sends receipts as they come due — when woken, and every Poll —
// until ctx ends. A receipt being sent when ctx ends is released, to be
// sent by the next Courier to look.
func (c *Courier) Run(ctx context.Context) {
	if c == nil {
		return
	}
	t := time.NewTicker(c.o.Poll)
	defer t.Stop()
	for {
		if _, err := c.Flush(ctx); err != nil && ctx.Err() == nil {
			c.log.Error("receipts: read the outbox", logging.Err(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-t.C:
		}
	}
}

// Flush sends the receipts due now, a batch at a time, until none is left
// or ctx ends, and returns how many it sent. A receipt whose send ctx cut
// short is released, not counted as a failure; so is the rest of a batch
// once too little of its claim is left for another send (slow sends), to
// be claimed again at once.
func (c *Courier) Flush(ctx context.Context) (int, error) {
	if c == nil {
		return 0, nil
	}
	sent, claimed := 0, false
	defer func() {
		if claimed && ctx.Err() != nil { // a send cut short, a batch not reached
			c.release()
		}
	}()
	for ctx.Err() == nil {
		now := c.o.Now()
		rs, err := c.led.ClaimReceipts(ctx, c.o.Holder, now, c.o.Lease, claimBatch)
		claimed = claimed || len(rs) > 0
		if err != nil || len(rs) == 0 {
			if ctx.Err() != nil {
				err = nil
			}
			return sent, err
		}
		until := now.Add(c.o.Lease)
		for i, r := range rs {
			if ctx.Err() != nil {
				break
			}
			// A delivery that could outlast the claim might meet another
			// process's send of the same receipt: the rest of the batch
			// goes back to the outbox, to be claimed afresh (the first
			// of a batch has the whole claim).
			if left := until.Sub(c.o.Now()); i > 0 && left < c.deliveryBound() {
				c.log.Info("receipts: too little of the claim left for another send; claiming afresh",
					"claim_left", left.Round(time.Second), "released", len(rs)-i)
				c.release()
				break
			}
			if c.deliver(ctx, r) {
				sent++
			}
		}
	}
	return sent, nil
}

// deliveryBound is the longest one delivery may hold its claim: the
// ledger reads that build it (buildTimeout), the send (Lease/2, see
// sendOne), and as long as the reads again for marking it settled.
func (c *Courier) deliveryBound() time.Duration {
	return 2*buildTimeout + c.o.Lease/2
}

// release gives back the claims not settled (a send cut short, a batch
// not reached).
func (c *Courier) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.led.ReleaseReceipts(ctx, c.o.Holder); err != nil {
		c.log.Error("receipts: release claims", logging.Err(err))
	}
}

// errGiveUp marks a failure no later attempt can mend.
var errGiveUp = errors.New("not sendable")

// deliver builds, sends and settles one claimed receipt, and reports
// whether it was sent.
func (c *Courier) deliver(ctx context.Context, q ledger.QueuedReceipt) bool {
	log := c.log.With(logging.KeyFile, q.Name, logging.KeyPartner, q.Partner, "receipt_id", q.ID, "attempt", q.Attempts)
	start := time.Now()
	to, rows, err := c.sendOne(ctx, q)
	settle := context.WithoutCancel(ctx)
	if err == nil {
		if err := c.led.ReceiptSent(settle, q.ID, c.o.Holder); err != nil {
			log.Error("receipt sent, but not marked sent", logging.Err(err))
		}
		log.Info("receipt sent", "recipients", to, "rows_attached", rows, "took", time.Since(start).Round(time.Millisecond))
		return true
	}
	if ctx.Err() != nil {
		log.Info("receipt not sent: stopping; it stays queued", logging.Err(err))
		return false // released by Flush
	}
	var next time.Time
	var perm *mail.SendError
	switch {
	case errors.Is(err, errGiveUp), errors.As(err, &perm) && perm.Permanent(), q.Attempts >= c.o.MaxAttempts:
		log.Error("receipt not sent; given up", logging.Err(err))
	default:
		next = c.o.Now().Add(c.backoff(q.Attempts))
		log.Warn("receipt not sent; will try again", "next", next.Format(time.RFC3339), logging.Err(err))
	}
	if err := c.led.ReceiptFailed(settle, q.ID, c.o.Holder, err.Error(), next); err != nil {
		log.Error("receipt: record the failed send", logging.Err(err))
	}
	return false
}

// backoff is the wait after the n-th failed send.
func (c *Courier) backoff(n int) time.Duration {
	d := c.o.Backoff
	for i := 1; i < n && d < MaxBackoff; i++ {
		d *= 2
	}
	return min(d, MaxBackoff)
}

// sendOne builds and sends one receipt and returns how many recipients
// and attached rows it had.
func (c *Courier) sendOne(ctx context.Context, q ledger.QueuedReceipt) (recipients, rows int, err error) {
	p, ok := c.cfg.Partners[q.Partner]
	if !ok || !p.WantsReceipts() {
		return 0, 0, fmt.Errorf("%w: partners.%s has no receipts any more", errGiveUp, q.Partner)
	}
	to, err := mail.Addresses("partners."+q.Partner+".email", p.Email)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", errGiveUp, err)
	}
	rc, err := c.build(ctx, q)
	if err != nil {
		return len(to), 0, fmt.Errorf("reading the ledger: %w", err)
	}
	msg := mail.Message{To: to, Subject: rc.Subject, Text: rc.Text}
	if len(rc.Rows) > 0 {
		dir, err := os.MkdirTemp(c.o.SpoolDir, "flabsync-receipt-*")
		if err != nil {
			return len(to), 0, fmt.Errorf("spool folder: %w", err)
		}
		defer os.RemoveAll(dir)
		name := CSVName(rc.File)
		path := filepath.Join(dir, name)
		if err := writeCSV(path, rc.Rows); err != nil {
			return len(to), 0, err
		}
		msg.Attachments = []mail.Attachment{{Path: path, Name: name, ContentType: "text/csv"}}
	}
	// A send must end well inside the claim, or another process could
	// take the receipt while this one is still sending it.
	sctx, cancel := context.WithTimeout(ctx, c.o.Lease/2)
	defer cancel()
	if ns, ok := c.send.(interface {
		SendAs(context.Context, string, mail.Message) error
	}); ok {
		err = ns.SendAs(sctx, "receipt-"+rc.File, msg)
	} else {
		err = c.send.Send(sctx, msg)
	}
	return len(to), len(rc.Rows), err
}

// build makes the receipt for q from the ledger.
func (c *Courier) build(ctx context.Context, q ledger.QueuedReceipt) (Receipt, error) {
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	f, err := c.led.FileByID(ctx, q.FileID)
	if err != nil {
		return Receipt{}, err
	}
	if f.Partner != q.Partner {
		// Never another clinic's file, whatever the outbox says.
		return Receipt{}, fmt.Errorf("%w: file %d belongs to %q, not %q", errGiveUp, q.FileID, f.Partner, q.Partner)
	}
	switch f.Status {
	case ledger.FileFailed, ledger.FileRefused, ledger.FileAbandoned, ledger.FileReading:
		return Refused(q.Partner, q.Name, q.Reason), nil
	}
	var rows []ledger.ReturnedRow
	all := f.Counts.Rejected + f.Counts.RejectedFlabs
	if all > 0 {
		if rows, err = c.led.Returned(ctx, q.FileID, MaxRows); err != nil {
			return Receipt{}, err
		}
		if len(rows) > all { // a booking of several rows refused by Flabs lists each row
			all = len(rows)
		}
	}
	return Processed(f, q.Name, rows, all), nil
}
