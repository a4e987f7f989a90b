package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/pipeline"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/pipeline/submit"
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
	lim := submit.LimiterFor(db, cfg.Flabs.ClientID, cfg.Flabs.RatePerSecond, cfg.Flabs.Burst)
	bar := newBar(m, progress && !asJSON, lim)
	start := time.Now()
	run := &pipeline.Run{Config: cfg, DB: db, Client: client, Limiter: lim, Holder: holder(), Partner: partner, Detail: asJSON,
		Logger: m.logger(cfg), Progress: bar.update}
	res, err := run.Do(ctx, paths)
	bar.finish()
	if errors.Is(err, pipeline.ErrNoCatalogue) {
		return &partialError{msg: err.Error()}
	} else if err != nil {
		return err
	}
	total, failed, stopped := res.Total, res.Failed, ctx.Err() != nil
	for _, o := range res.Files {
		if asJSON {
			var rep pipeline.FileReport
			if o.In != nil {
				rep = o.In.Report()
			} else {
				rep = (&pipeline.FileResult{File: filepath.Base(o.Path), Partner: partner}).Report()
			}
			if o.Err != nil {
				rep.Error = o.Err.Error()
			}
			if err := writeJSON(m.Stdout, rep); err != nil {
				return err
			}
			continue
		}
		printSent(m.Stdout, o.Path, o.In, o.Err)
	}
	if !asJSON && len(paths) > 1 {
		fmt.Fprintf(m.Stdout, "all files: %s\n", countsLine(total))
	}
	fmt.Fprintf(m.Stderr, "%d files, %d rows in %s: %s; %d 429s from Flabs\n", len(paths), total.RowsIn,
		time.Since(start).Round(time.Millisecond), countsLine(total), lim.Throttles())
	switch {
	case errors.Is(res.Auth, submit.ErrAuth):
		return &partialError{msg: fmt.Sprintf("import: %v; unsent rows stay pending and go with the next run once the credentials are fixed", res.Auth)}
	case stopped:
		return &partialError{msg: fmt.Sprintf("import: stopped; %d rows not yet sent stay pending in the ledger and go with the next run", total.Unfinished)}
	case failed > 0:
		return &partialError{msg: fmt.Sprintf("%d of %d files had rows rejected, refused, failed or held, or could not be read", failed, len(paths))}
	}
	return nil
}

func countsLine(c ledger.Counts) string {
	s := fmt.Sprintf("%d submitted, %d rejected, %d refused by Flabs, %d duplicate, %d failed, %d held, %d skipped",
		c.Submitted, c.Rejected, c.RejectedFlabs, c.Duplicate, c.Failed, c.Held, c.Skipped)
	if c.Unconfirmed > 0 {
		s += fmt.Sprintf(", %d unconfirmed (may be booked: the nightly run settles them)", c.Unconfirmed)
	}
	if c.Unfinished > 0 {
		s += fmt.Sprintf(", %d unfinished", c.Unfinished)
	}
	return s
}

// printSent is the human account of one file: its counts, whether they
// balance, and every row that did not go through, with the reason. Row
// numbers, references and integrator IDs; never patient names.
func printSent(w io.Writer, path string, in *pipeline.Ingested, err error) {
	name := filepath.Base(path)
	if in == nil {
		fmt.Fprintf(w, "%s  NOT READ: %v\n\n", name, err)
		return
	}
	c := in.Counts
	balance := "balanced"
	if !c.Balanced() {
		balance = "DOES NOT BALANCE"
	}
	fmt.Fprintf(w, "%s  (partner %s, file #%d)\n  %d rows: %s (%s)\n", name, in.Result.Partner, in.FileID, c.RowsIn, countsLine(c), balance)
	if len(in.SameAs) > 0 {
		fmt.Fprintf(w, "  same content as file #%d: rows submitted then were not sent again\n", in.SameAs[0])
	}
	if err != nil {
		fmt.Fprintf(w, "  ERROR: %v\n", err)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0) // every row that did not go through, and why
	for _, e := range in.Result.Rejected {
		fmt.Fprintf(tw, "  row %d\t%s\trejected\t%s\t%s\n", e.Row, orDash(e.Ref), e.Code, e.Msg)
	}
	for _, b := range in.NotThrough {
		fmt.Fprintf(tw, "  row %d\t%s\t%s\t\t%s\n", b.Row, b.IntegratorID, b.State, b.Error)
	}
	for _, k := range in.Result.Skipped {
		fmt.Fprintf(tw, "  row %d\t-\tskipped\t\t%s\n", k.Row, k.Why)
	}
	tw.Flush()
	fmt.Fprintln(w)
}

// bar is the progress display: a progress bar on a terminal (bookings
// settled of those admitted, rate, ETA, 429s), nothing otherwise.
type bar struct {
	mu  sync.Mutex
	pb  *progressbar.ProgressBar
	lim *submit.Limiter
}

func newBar(m *Main, want bool, lim *submit.Limiter) *bar {
	b := &bar{lim: lim}
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

func (b *bar) update(admitted, done int, _ *ledger.Result) {
	if b.pb == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pb.ChangeMax(admitted)
	b.pb.Describe(fmt.Sprintf("sending (%d 429s)", b.lim.Throttles()))
	b.pb.Set(done)
}

func (b *bar) finish() {
	if b.pb != nil {
		b.pb.Finish()
	}
}
