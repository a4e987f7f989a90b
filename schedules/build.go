package schedules

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/logging"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/pipeline"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/pipeline/receipt"
	"github.com/flabsync/flabsync/pipeline/submit"
)

// Parts carry files from the ledger to Flabs and their receipts to the
// clinics. Build makes them one way for every command that sends: serve
// (and the demo, which runs serve) and import.
type Parts struct {
	Ledger    *ledger.Ledger
	Limiter   *submit.Limiter
	Submitter *submit.Submitter // its Run must be running while files are ingested
	Ingester  *pipeline.Ingester
	// Courier sends the receipts the ledger queues with each file's final
	// state; nil when there is no sender (no receipts are queued then).
	Courier *receipt.Courier
}

// Build wires the parts over db: one limiter and submitter for every
// file of the process, an Ingester feeding it, and, when there is a
// receipt sender (send, else the Mailer of mail.smtp_url), a Courier and
// the ledger's rule to queue receipts. holder names the process in the
// ledger.
func Build(cfg *config.Config, db *store.DB, client submit.Biller, holder string, log *slog.Logger, send receipt.Sender) *Parts {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	led := ledger.New(db).WithTakeover(cfg.Inbox.TakeoverAfter)
	// One Flabs limit for the lab: shared by the processes on one
	// PostgreSQL (a token bucket in the database), in memory on SQLite.
	lim := submit.LimiterFor(db, cfg.Flabs.ClientID, cfg.Flabs.RatePerSecond, cfg.Flabs.Burst)
	sub := submit.New(client, led, lim, submit.Options{Concurrency: cfg.Flabs.Concurrency, MaxAttempts: cfg.Flabs.MaxAttempts,
		Holder: holder, Logger: log.With(logging.KeyComponent, "submit")})
	ing := &pipeline.Ingester{Ledger: led, Submitter: sub, Holder: holder, Logger: log.With(logging.KeyComponent, "pipeline")}
	p := &Parts{Ledger: led, Limiter: lim, Submitter: sub, Ingester: ing}
	if send == nil {
		var err error
		if send, err = receipt.MailerFor(cfg, log); err != nil {
			log.Error("no receipts will be sent", logging.Err(err))
		}
	}
	if send != nil {
		p.Courier = receipt.NewCourier(cfg, send, led, log, receipt.CourierOptions{Holder: fmt.Sprintf("%s/%d", holder, os.Getpid())})
		led.WithReceipts(receipt.Rule(cfg, p.Courier.Wake))
	}
	return p
}
