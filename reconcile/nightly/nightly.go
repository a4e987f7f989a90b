// Package nightly is the nightly reconciliation as one call: the rules
// as of a time, the exception workbook and the partners' reject files,
// the digest, and (when asked) the email to ops. `flabsync reconcile`,
// serve's reconcile job and the demo all run it.
package nightly

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/logging"
	"github.com/flabsync/flabsync/internal/mail"
	"github.com/flabsync/flabsync/internal/sheet"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/pipeline"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/reconcile"
	"github.com/flabsync/flabsync/reconcile/report"
	"github.com/flabsync/flabsync/reconcile/rules"
)

// Outcome is what one run produced.
type Outcome struct {
	At       time.Time
	Workbook string   // the exception workbook's path ("" for a look without one)
	Rejects  []string // the partners' reject files
	Result   *rules.Result
	Digest   report.Digest
	Info     report.WorkbookInfo
	Mailed   bool
	MailErr  error // the email was asked for and not sent; the workbook stays on disk

	looked *rules.Looked // a look's exceptions, held: nothing was stored
}

// Options tune a run.
type Options struct {
	Email  bool // mail the digest with the workbook to mail.to
	Logger *slog.Logger
	// Look makes the run a read-only look (`reconcile --at`, any time
	// other than now): the rules are worked out and the digest made, but
	// no exception, trend row or reject file is written, and the workbook
	// is written only to Workbook, if set (Email with Look needs it: it
	// is the attachment).
	Look bool
	// Workbook is where the workbook goes; "" is
	// report.dir/exceptions-<date>.xlsx for a run, and none for a look.
	Workbook string
}

// Run reconciles as of at: the rules, the workbook and reject files in
// cfg.Report.Dir, the digest, and the email when asked. A failed send is
// not an error: it is in Outcome.MailErr. With opts.Look it changes
// nothing (see Options.Look).
func Run(ctx context.Context, cfg *config.Config, db *store.DB, at time.Time, opts Options) (*Outcome, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return nil, fmt.Errorf("reconcile: timezone %q: %w", cfg.Timezone, err)
	}
	ix, err := mapping.NewStore(db).Index(ctx)
	if err != nil {
		return nil, err
	}
	if opts.Look && opts.Email && opts.Workbook == "" {
		return nil, errors.New("reconcile: a look mails its workbook only where it is written: name the workbook")
	}
	rc := RulesConfig(cfg)
	// A bill event settles a booking Flabs' answers left unconfirmed: a
	// fact as of now, whatever time the run is as of, so a look does it
	// too (the next run would do the same).
	if n, err := ledger.New(db).ConfirmBilled(ctx, time.Now()); err != nil {
		return nil, err
	} else if n > 0 {
		log.Info("unconfirmed bookings confirmed by their bill events", "bookings", n)
	}
	// The files checked are those received since the previous run (the
	// first run looks back as far as rejected rows are kept).
	since := at.Add(-max(rc.RejectsFor, 24*time.Hour))
	if prev, ok, err := rules.PreviousRun(ctx, db, at); err != nil {
		return nil, err
	} else if ok {
		since = prev
	}
	out := &Outcome{At: at}
	var res *rules.Result
	exceptions := rules.Exceptions(ctx, db, at)
	if opts.Look {
		if out.looked, err = rules.Look(ctx, db, rc, ix, at, 5); err != nil {
			return nil, err
		}
		res = out.looked.Result
		exceptions = func(yield func(reconcile.Exception, error) bool) {
			for _, e := range out.looked.Exceptions {
				if !yield(e, nil) {
					return
				}
			}
		}
	} else if res, err = rules.Run(ctx, db, rc, ix, at); err != nil {
		return nil, err
	}
	out.Result = res
	files, err := fileChecks(ctx, db, since, at)
	if err != nil {
		return nil, err
	}
	unmapped, err := rules.UnmappedNames(ctx, db, ix, rc, at)
	if err != nil {
		return nil, err
	}
	rejects, err := rules.Rejects(ctx, db, rc, at, func(partner string) sheet.Options {
		return pipeline.OptionsFor(cfg, partner, at).Sheet
	})
	if err != nil {
		return nil, err
	}
	trend, err := rules.Trend(ctx, db, at, 7)
	if err != nil {
		return nil, err
	}
	var oldest []reconcile.Exception
	if opts.Look {
		// The look's own figures close the trend, as a run's stored ones do.
		trend = append(trend, reconcile.TrendPoint{At: at, Open: openByCategory(res)})
		if len(trend) > 7 {
			trend = trend[len(trend)-7:]
		}
		oldest = out.looked.Oldest
	} else if oldest, err = rules.Oldest(ctx, db, at, 5); err != nil {
		return nil, err
	}
	data := &report.Data{At: at, Counts: res.Counts, New: res.New, Open: res.Open, Resolved: res.Resolved, WalkInBills: res.WalkInBills,
		Exceptions: exceptions, Files: files, Unmapped: mapping.Review(ix, unmapped), Rejects: rejects,
		Trend: trend, Oldest: oldest, Location: loc}
	out.Workbook = opts.Workbook
	if !opts.Look { // a run writes the partners' reject files in report.dir, whatever --out says
		if err := os.MkdirAll(cfg.Report.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("reconcile: report.dir: %w", err)
		}
	}
	if out.Workbook == "" && !opts.Look {
		out.Workbook = filepath.Join(cfg.Report.Dir, "exceptions-"+at.In(loc).Format("2006-01-02")+".xlsx")
	}
	if out.Info, err = writeWorkbook(out.Workbook, data); err != nil {
		return nil, err
	}
	if !opts.Look {
		if out.Rejects, err = report.WriteRejects(cfg.Report.Dir, data); err != nil {
			return nil, err
		}
	}
	out.Digest = report.NewDigest(data, out.Info)
	log.Info("reconciled", "workbook", out.Workbook, "look", opts.Look, "new", res.New, "open", res.Open, "resolved", res.Resolved)
	if opts.Email {
		out.MailErr = sendDigest(ctx, cfg, out, log)
		out.Mailed = out.MailErr == nil
		if out.MailErr != nil {
			log.Error("email not sent", logging.Err(out.MailErr), "workbook", out.Workbook)
		}
	}
	return out, nil
}

// writeWorkbook writes the workbook to path; with no path (a look
// without one) it is written to a private temporary directory, for the
// digest's figures, and removed.
func writeWorkbook(path string, data *report.Data) (report.WorkbookInfo, error) {
	if path != "" {
		return report.WriteWorkbook(path, data)
	}
	dir, err := os.MkdirTemp("", "flabsync-look-")
	if err != nil {
		return report.WorkbookInfo{}, fmt.Errorf("reconcile: %w", err)
	}
	defer os.RemoveAll(dir)
	info, err := report.WriteWorkbook(filepath.Join(dir, "look.xlsx"), data)
	info.Path = ""
	return info, err
}

// openByCategory is a run's new and open exceptions per category.
func openByCategory(res *rules.Result) map[reconcile.Category]int {
	out := map[reconcile.Category]int{}
	for _, c := range reconcile.Categories {
		out[c] = res.Total(c)
	}
	return out
}

func sendDigest(ctx context.Context, cfg *config.Config, out *Outcome, log *slog.Logger) error {
	m, err := mail.New(cfg.Mail)
	if err != nil {
		return err
	}
	m.Logger = log.With(logging.KeyComponent, "mail")
	return report.SendDigest(ctx, m, out.Digest, out.Workbook, cfg.Mail.MaxAttachmentBytes)
}

// RulesConfig is the rules' windows as the config sets them.
func RulesConfig(cfg *config.Config) rules.Config {
	return rules.Config{BillCreatedWithin: cfg.Reconcile.BillCreatedWithin, BillCompletedWithin: cfg.Reconcile.BillCompletedWithin,
		RejectsFor: cfg.Reconcile.RejectsFor, ListWalkInBills: cfg.Reconcile.ListWalkInBills}
}

// fileChecks are the conservation checks of the files received from
// since to at.
func fileChecks(ctx context.Context, db *store.DB, since, at time.Time) ([]report.FileCheck, error) {
	files, err := ledger.New(db).FilesReceived(ctx, since, at)
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	out := make([]report.FileCheck, 0, len(files))
	for _, f := range files {
		c := f.Counts
		out = append(out, report.FileCheck{FileID: f.ID, Name: f.Name, Partner: f.Partner, Status: string(f.Status), ReceivedAt: f.ReceivedAt,
			RowsIn: c.RowsIn, Submitted: c.Submitted, Rejected: c.Rejected, RejectedFlabs: c.RejectedFlabs, Duplicate: c.Duplicate,
			Failed: c.Failed, Held: c.Held, Skipped: c.Skipped, Unconfirmed: c.Unconfirmed, Unfinished: c.Unfinished, Balanced: f.Balanced(), Refused: f.Refused(), Unread: f.Unread()})
	}
	return out, nil
}

// exceptionJSON is one exception in `flabsync reconcile --json`: a stable
// shape.
type exceptionJSON struct {
	ID           string             `json:"id"`
	Category     reconcile.Category `json:"category"`
	Status       reconcile.Status   `json:"status"`
	Partner      string             `json:"partner"`
	IntegratorID string             `json:"integrator_id"`
	File         string             `json:"file"`
	Row          int                `json:"row"`
	AgeBucket    string             `json:"age_bucket"`
	Detail       string             `json:"detail"`
}

// WriteJSON writes the run as `flabsync reconcile --json` prints it:
// {"workbook", "summary": category → count, "exceptions": [...]}, the
// exceptions streamed (the list can be long) and resolved ones left out.
func (o *Outcome) WriteJSON(ctx context.Context, w io.Writer, db *store.DB) error {
	bw := bufio.NewWriter(w)
	summary := map[reconcile.Category]int{}
	for _, c := range reconcile.Categories {
		summary[c] = o.Result.Total(c)
	}
	head, err := json.Marshal(struct {
		Workbook    string                     `json:"workbook"`
		Summary     map[reconcile.Category]int `json:"summary"`
		WalkInBills int                        `json:"walk_in_bills"` // made inside Flabs: counted, not exceptions
		Closed      int                        `json:"closed"`        // settled by a person: not in summary
		Snoozed     int                        `json:"snoozed"`       // put off by a person: not in summary
	}{o.Workbook, summary, o.Result.WalkInBills, o.Result.Closed, o.Result.Snoozed})
	if err != nil {
		return err
	}
	bw.Write(head[:len(head)-1])
	bw.WriteString(`,"exceptions":[`)
	first := true
	each := func(fn func(reconcile.Exception) error) error { return rules.Each(ctx, db, o.At, fn) }
	if o.looked != nil {
		each = func(fn func(reconcile.Exception) error) error {
			for _, e := range o.looked.Exceptions {
				if err := fn(e); err != nil {
					return err
				}
			}
			return nil
		}
	}
	err = each(func(e reconcile.Exception) error {
		if e.Status == reconcile.StatusResolved {
			return nil
		}
		b, err := json.Marshal(exceptionJSON{ID: e.ID, Category: e.Category, Status: e.Status, Partner: e.Partner,
			IntegratorID: e.IntegratorID, File: e.File, Row: e.Row, AgeBucket: e.AgeBucket, Detail: e.Detail})
		if err != nil {
			return err
		}
		if !first {
			bw.WriteByte(',')
		}
		first = false
		bw.WriteString("\n  ")
		bw.Write(b)
		return nil
	})
	if err != nil {
		return err
	}
	bw.WriteString("\n]}\n")
	return bw.Flush()
}
