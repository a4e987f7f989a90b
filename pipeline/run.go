package pipeline

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
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/pipeline/receipt"
	"github.com/flabsync/flabsync/pipeline/submit"
)

// ErrNoCatalogue: no catalogue is synced, so every test would go to
// Flabs unmapped. Run `flabsync mapping sync` first.
var ErrNoCatalogue = errors.New("no catalogue synced yet, so every test would go unmapped; run 'flabsync mapping sync' first")

// Run is one hand-run import (`flabsync import`): its own submitter over
// the ledger in DB, every file ingested with partners in turn, the
// submitter stopped once the files are done.
type Run struct {
	Config  *config.Config
	DB      *store.DB
	Client  submit.Biller
	Limiter *submit.Limiter
	Holder  string
	Partner string // for every file; "" takes each file's from its name
	Detail  bool   // keep what the JSON report needs
	Logger  *slog.Logger
	// Progress, when set, hears of bookings admitted and settled.
	Progress func(admitted, done int, r *ledger.Result)
	// Receipts is where each file's receipt to its clinic goes
	// (partners.<name>.email); nil: by email when mail.smtp_url is set.
	// Do waits up to ReceiptWait for them to go.
	Receipts receipt.Sender
}

// ReceiptWait is how long a hand-run import waits, once its files are
// done, for their receipts to be sent; those left are logged as not sent.
const ReceiptWait = 30 * time.Second

// RunResult is what a Run came to.
type RunResult struct {
	Files  []FileOutcome
	Total  ledger.Counts
	Failed int   // files with a row that did not go through, or not read at all
	Auth   error // wraps submit.ErrAuth when Flabs refused the credentials
}

// Do imports paths. It fails only when it cannot start (ErrNoCatalogue,
// the store); what became of each file is in the result.
func (r *Run) Do(ctx context.Context, paths []string) (*RunResult, error) {
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
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
	led := ledger.New(r.DB).WithTakeover(cfg.Inbox.TakeoverAfter)
	// This process is alive while it works: killed, a running serve
	// takes over its files and bookings after inbox.takeover_after.
	if err := led.Heartbeat(ctx, r.Holder); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	beatCtx, stopBeat := context.WithCancel(context.WithoutCancel(ctx))
	beating := make(chan struct{})
	go func() {
		defer close(beating)
		led.KeepAlive(beatCtx, r.Holder, func(err error) { log.Warn("heartbeat", logging.Err(err)) })
	}()
	defer func() { stopBeat(); <-beating }()
	// The ledger keeps each file's full path, so that another process
	// can find the file again if this one dies while reading it.
	abs := make([]string, len(paths))
	for i, p := range paths {
		if a, err := filepath.Abs(p); err == nil {
			abs[i] = a
		} else {
			abs[i] = p
		}
	}
	sub := submit.New(r.Client, led, r.Limiter, submit.Options{Concurrency: cfg.Flabs.Concurrency, MaxAttempts: cfg.Flabs.MaxAttempts,
		Holder: r.Holder, Logger: log.With(logging.KeyComponent, "submit")})
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	runErr := make(chan error, 1)
	go func() { runErr <- sub.Run(runCtx) }()
	ing := &Ingester{Ledger: led, Submitter: sub, Holder: r.Holder, Detail: r.Detail, ListNotThrough: true,
		Logger: log.With(logging.KeyComponent, "pipeline"), Progress: r.Progress}
	out := &RunResult{}
	out.Files = ing.IngestFiles(ctx, abs, func(path string) ReadOptions {
		opts := OptionsFor(cfg, r.partnerOf(path), time.Now())
		opts.Mapper = ix
		return opts
	})
	for i := range out.Files {
		out.Files[i].Path = paths[i] // as the person named it
	}
	stopRun()
	out.Auth = <-runErr
	r.sendReceipts(ctx, led, log, out.Files)
	for _, o := range out.Files {
		bad := o.Err != nil
		if o.In != nil {
			c := o.In.Counts
			bad = bad || c.Rejected+c.RejectedFlabs+c.Failed+c.Held+c.Unconfirmed+c.Unfinished > 0
			out.Total = out.Total.Add(c)
		}
		if bad {
			out.Failed++
		}
	}
	return out, nil
}

// sendReceipts sends each file's clinic its receipt and waits up to
// ReceiptWait for them to go. A file the run stopped in the middle of gets
// none (its rows go with the next run); mail trouble is logged, never
// returned.
func (r *Run) sendReceipts(ctx context.Context, led *ledger.Ledger, log *slog.Logger, files []FileOutcome) {
	rc, err := receipt.Open(r.Config, r.Receipts, led, log)
	if err != nil {
		log.Error("no receipts sent", logging.Err(err))
		return
	}
	if rc == nil {
		return
	}
	for _, o := range files {
		if errors.Is(o.Err, context.Canceled) || errors.Is(o.Err, context.DeadlineExceeded) {
			continue
		}
		out := receipt.Outcome{Partner: r.partnerOf(o.Path), Name: filepath.Base(o.Path), Err: o.Err}
		if o.In != nil {
			out.FileID, out.Partner = o.In.FileID, o.In.Result.Partner
		}
		rc.Processed(ctx, out)
	}
	rc.CloseWithin(ReceiptWait)
}

// partnerOf is a file's partner: --partner, else PartnerFor.
func (r *Run) partnerOf(path string) string {
	if r.Partner != "" {
		return r.Partner
	}
	return PartnerFor(r.Config, path)
}
