package schedules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/logging"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/pipeline"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/pipeline/receipt"
	"github.com/flabsync/flabsync/pipeline/submit"
)

// ErrNoCatalogue: no catalogue is synced, so every test would go to
// Flabs unmapped. Run `flabsync mapping sync` first.
var ErrNoCatalogue = errors.New("no catalogue synced yet, so every test would go unmapped; run 'flabsync mapping sync' first")

// Import is one hand-run import (`flabsync import`): the parts Build
// makes, every file ingested with partners in turn, the submitter stopped
// once the files are done, then a bounded wait for their receipts.
type Import struct {
	Config  *config.Config
	DB      *store.DB
	Client  submit.Biller
	Holder  string
	Partner string // for every file; "" takes each file's from its name
	Detail  bool   // keep what the JSON report needs
	Logger  *slog.Logger
	// Progress, when set, hears of bookings admitted and settled, and of
	// the 429s Flabs has answered so far.
	Progress func(admitted, done int, throttles int64)
	// Receipts is where each file's receipt to its clinic goes
	// (partners.<name>.email); nil: by email when mail.smtp_url is set.
	// Run waits up to ReceiptWait for them to go.
	Receipts receipt.Sender
	// ReceiptWait is how long Run waits, once its files are done, for
	// their receipts (DefaultReceiptWait); those left stay queued in the
	// ledger's outbox for the next serve or import.
	ReceiptWait time.Duration
}

// DefaultReceiptWait is how long a hand-run import waits for its files'
// receipts to be sent.
const DefaultReceiptWait = 30 * time.Second

// ImportResult is what an Import came to.
type ImportResult struct {
	Files     []pipeline.FileOutcome
	Total     ledger.Counts
	Failed    int   // files with a row that did not go through, or not read at all
	Auth      error // wraps flabs.ErrAuth when Flabs refused the credentials
	Throttles int64 // 429s from Flabs
	// ReceiptsQueued is how many of the files' receipts were not sent
	// within the wait: they stay in the outbox, for the next serve or
	// import to send.
	ReceiptsQueued int
}

// Run imports paths. It fails only when it cannot start (ErrNoCatalogue,
// the store); what became of each file is in the result.
func (r *Import) Run(ctx context.Context, paths []string) (*ImportResult, error) {
	ms := mapping.NewStore(r.DB)
	info, err := ms.Info(ctx)
	if err != nil {
		return nil, err
	}
	if info.Tests+info.Packages == 0 {
		return nil, fmt.Errorf("import: %w", ErrNoCatalogue)
	}
	ix, err := ms.Index(ctx)
	if err != nil {
		return nil, err
	}
	cfg := r.Config
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := Build(cfg, r.DB, r.Client, r.Holder, log, r.Receipts)
	// This process is alive while it works: killed, a running serve
	// takes over its files and bookings after inbox.takeover_after.
	stopBeat, err := beat(ctx, p.Ledger, "", r.Holder, log)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer stopBeat()
	// The ledger keeps each file's full path, so that another process
	// can find the file again if this one dies while reading it.
	abs := make([]string, len(paths))
	for i, path := range paths {
		if a, err := filepath.Abs(path); err == nil {
			abs[i] = a
		} else {
			abs[i] = path
		}
	}
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	runErr := make(chan error, 1)
	go func() { runErr <- p.Submitter.Run(runCtx) }()
	ing := p.Ingester
	ing.Detail, ing.ListNotThrough = r.Detail, true
	if r.Progress != nil {
		ing.Progress = func(admitted, done int, _ *ledger.Result) { r.Progress(admitted, done, p.Limiter.Throttles()) }
	}
	out := &ImportResult{}
	out.Files = ing.IngestFiles(ctx, abs, func(path string) pipeline.ReadOptions {
		partner := r.Partner
		if partner == "" {
			partner = pipeline.PartnerFor(cfg, path)
		}
		opts := pipeline.OptionsFor(cfg, partner, time.Now())
		opts.Mapper = ix
		return opts
	})
	for i := range out.Files {
		out.Files[i].Path = paths[i] // as the person named it
	}
	stopRun()
	out.Auth = <-runErr
	out.Throttles = p.Limiter.Throttles()
	var ids []int64
	for _, o := range out.Files {
		bad := o.Err != nil
		if o.In != nil {
			c := o.In.Counts
			bad = bad || c.Rejected+c.RejectedFlabs+c.Failed+c.Held+c.Unconfirmed+c.Unfinished > 0
			out.Total = out.Total.Add(c)
			ids = append(ids, o.In.FileID)
		}
		if bad {
			out.Failed++
		}
	}
	out.ReceiptsQueued = r.sendReceipts(ctx, p, log, ids)
	return out, nil
}

// sendReceipts sends what the outbox holds due (these files' receipts
// and any an earlier run left) for up to ReceiptWait, and returns how
// many of these files' receipts are still queued.
func (r *Import) sendReceipts(ctx context.Context, p *Parts, log *slog.Logger, ids []int64) int {
	if p.Courier == nil || len(ids) == 0 {
		return 0
	}
	wait := r.ReceiptWait
	if wait <= 0 {
		wait = DefaultReceiptWait
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if _, err := p.Courier.Flush(wctx); err != nil && wctx.Err() == nil {
		log.Error("receipts: read the outbox", logging.Err(err))
	}
	n, err := p.Ledger.UnsentReceipts(context.WithoutCancel(ctx), ids)
	if err != nil {
		log.Error("receipts: count those not sent", logging.Err(err))
	}
	return n
}
