package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/pipeline"
	"github.com/flabsync/flabsync/schedules"
)

// runSend is `flabsync import` without --dry-run: every file through the
// ledger and the submitter.
func runSend(ctx context.Context, m *Main, cfg *config.Config, paths []string, partner string, asJSON, progress bool) error {
	if err := cfg.RequireFlabs(); err != nil {
		return &configError{err: fmt.Errorf("%w (to read and check without sending, use --dry-run)", err)}
	}
	client, err := newFlabsClient(m, cfg)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	bar := newBar(m, progress && !asJSON)
	start := time.Now()
	run := &schedules.Import{Config: cfg, DB: db, Client: client, Holder: schedules.ImportHolder(), Partner: partner, Detail: asJSON,
		Logger: m.logger(cfg), Progress: bar.update}
	res, err := run.Run(ctx, paths)
	bar.finish()
	if errors.Is(err, schedules.ErrNoCatalogue) {
		return &partialError{msg: err.Error()}
	} else if err != nil {
		return err
	}
	total, failed, stopped := res.Total, res.Failed, ctx.Err() != nil
	for _, o := range res.Files {
		if asJSON {
			if err := writeJSON(m.Stdout, o.Report(partner)); err != nil {
				return err
			}
			continue
		}
		fmt.Fprint(m.Stdout, pipeline.SentText(o.Path, o.In, o.Err))
	}
	if !asJSON && len(paths) > 1 {
		fmt.Fprintf(m.Stdout, "all files: %s\n", total.Line())
	}
	fmt.Fprintf(m.Stderr, "%d files, %d rows in %s: %s; %d 429s from Flabs\n", len(paths), total.RowsIn,
		time.Since(start).Round(time.Millisecond), total.Line(), res.Throttles)
	if res.ReceiptsQueued > 0 {
		fmt.Fprintf(m.Stderr, "%d receipts to clinics not sent yet: they stay queued and go with the next serve or import (flabsync status counts them)\n",
			res.ReceiptsQueued)
	}
	switch {
	case errors.Is(res.Auth, flabs.ErrAuth):
		return &partialError{msg: fmt.Sprintf("import: %v; unsent rows stay pending and go with the next run once the credentials are fixed", res.Auth)}
	case stopped:
		return &partialError{msg: fmt.Sprintf("import: stopped; %d rows not yet sent stay pending in the ledger and go with the next run", total.Unfinished)}
	case failed > 0:
		return &partialError{msg: fmt.Sprintf("%d of %d files had rows rejected, refused, failed or held, or could not be read", failed, len(paths))}
	}
	return nil
}

// bar is the progress display: a progress bar on a terminal (bookings
// settled of those admitted, rate, ETA, 429s), nothing otherwise.
type bar struct {
	mu sync.Mutex
	pb *progressbar.ProgressBar
}

func newBar(m *Main, want bool) *bar {
	b := &bar{}
	f, ok := m.Stderr.(*os.File)
	if !want || !ok || !term.IsTerminal(int(f.Fd())) {
		return b
	}
	b.pb = progressbar.NewOptions(-1, progressbar.OptionSetWriter(f), progressbar.OptionSetDescription("sending"),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("bookings"),
		progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish())
	return b
}

func (b *bar) update(admitted, done int, throttles int64) {
	if b.pb == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pb.ChangeMax(admitted)
	b.pb.Describe(fmt.Sprintf("sending (%d 429s)", throttles))
	b.pb.Set(done)
}

func (b *bar) finish() {
	if b.pb != nil {
		b.pb.Finish()
	}
}
