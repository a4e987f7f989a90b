package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/sheet"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/pipeline/submit"
	"github.com/flabsync/flabsync/reconcile/report"
	"github.com/flabsync/flabsync/reconcile/rules"
)

// reconciled is what one reconciliation produced.
type reconciled struct {
	At       time.Time
	Workbook string
	Rejects  []string
	Result   *rules.Result
	Digest   report.Digest
	Info     report.WorkbookInfo
	MailErr  error
	Mailed   bool
}

// reconcileOnce runs the rules as of at, writes the workbook and the
// partners' reject files, and (with email) mails the digest with the
// workbook attached. A failed send leaves the workbook on disk and is
// returned in MailErr.
func reconcileOnce(ctx context.Context, cfg *config.Config, db *store.DB, at time.Time, email bool, log *slog.Logger) (*reconciled, error) {
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return nil, &configError{err: err}
	}
	ms := mapping.NewStore(db)
	ix, err := ms.Index(ctx)
	if err != nil {
		return nil, err
	}
	rc := rules.Config{BillCreatedWithin: cfg.Reconcile.BillCreatedWithin, BillCompletedWithin: cfg.Reconcile.BillCompletedWithin}
	res, err := rules.Run(ctx, db, rc, ix, at)
	if err != nil {
		return nil, err
	}
	out := &reconciled{At: at, Result: res}
	files, err := fileChecks(ctx, db, at)
	if err != nil {
		return nil, err
	}
	unmapped, err := rules.UnmappedNames(ctx, db, ix, rc, at)
	if err != nil {
		return nil, err
	}
	rejects, err := rules.Rejects(ctx, db, rc, at, func(partner string) sheet.Options { return readOptions(cfg, partner).Sheet })
	if err != nil {
		return nil, err
	}
	data := &report.Data{At: at, Counts: res.Counts, New: res.New, Open: res.Open, Resolved: res.Resolved,
		Exceptions: exceptionSeq(ctx, db, at), Files: files, Unmapped: mapping.Review(ix, unmapped), Location: loc}
	for _, r := range rejects {
		rf := report.RejectFile{Partner: r.Partner, SourceFile: r.File, Header: r.Header}
		for _, row := range r.Rows {
			rf.Rows = append(rf.Rows, report.RejectRow{Row: row.Row, Cells: row.Cells, Reason: row.Reason})
		}
		data.Rejects = append(data.Rejects, rf)
	}
	if err := os.MkdirAll(cfg.Report.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("reconcile: report.dir: %w", err)
	}
	out.Workbook = filepath.Join(cfg.Report.Dir, "exceptions-"+at.In(loc).Format("2006-01-02")+".xlsx")
	if out.Info, err = report.WriteWorkbook(out.Workbook, data); err != nil {
		return nil, err
	}
	if out.Rejects, err = report.WriteRejects(cfg.Report.Dir, data); err != nil {
		return nil, err
	}
	out.Digest = report.NewDigest(data, out.Info)
	log.Info("reconciled", "workbook", out.Workbook, "new", res.New, "open", res.Open, "resolved", res.Resolved)
	if email {
		m, err := report.NewMailer(cfg.Mail)
		if err == nil {
			m.Logger = log.With("component", "mail")
		}
		if err != nil {
			out.MailErr = err
		} else if err := m.Send(ctx, out.Digest, out.Workbook); err != nil {
			out.MailErr = err
		} else {
			out.Mailed = true
		}
		if out.MailErr != nil {
			log.Error("email not sent", "err", out.MailErr, "workbook", out.Workbook)
		}
	}
	return out, nil
}

// exceptionSeq streams the exceptions from the store as the report wants
// them.
func exceptionSeq(ctx context.Context, db *store.DB, at time.Time) func(yield func(report.Exception, error) bool) {
	return func(yield func(report.Exception, error) bool) {
		stop := fmt.Errorf("stop")
		err := rules.Each(ctx, db, at, func(e rules.Exception) error {
			if !yield(toReport(e), nil) {
				return stop
			}
			return nil
		})
		if err != nil && err != stop {
			yield(report.Exception{}, err)
		}
	}
}

func toReport(e rules.Exception) report.Exception {
	return report.Exception{ID: e.ID, Category: e.Category, Status: e.Status, Partner: e.Partner, IntegratorID: e.IntegratorID,
		File: e.File, Row: e.Row, AgeBucket: e.AgeBucket, FirstSeen: e.FirstSeen, LastSeen: e.LastSeen, Detail: e.Detail,
		SuggestedAction: e.SuggestedAction}
}

// fileChecks are the conservation checks of the files received in the
// day before at.
func fileChecks(ctx context.Context, db *store.DB, at time.Time) ([]report.FileCheck, error) {
	var rows []struct {
		ID            int64      `db:"id"`
		Name          string     `db:"name"`
		Partner       string     `db:"partner"`
		Status        string     `db:"status"`
		Created       store.Time `db:"created_at"`
		Total         int        `db:"rows_total"`
		Submitted     int        `db:"rows_submitted"`
		Rejected      int        `db:"rows_rejected"`
		RejectedFlabs int        `db:"rows_rejected_flabs"`
		Duplicate     int        `db:"rows_duplicate"`
		Failed        int        `db:"rows_failed"`
		Held          int        `db:"rows_held"`
		Skipped       int        `db:"rows_skipped"`
	}
	q := db.Rebind(`SELECT id, name, partner, status, created_at, rows_total, rows_submitted, rows_rejected, rows_rejected_flabs,
	rows_duplicate, rows_failed, rows_held, rows_skipped FROM files WHERE created_at > ? AND created_at <= ? ORDER BY id`)
	if err := db.SelectContext(ctx, &rows, q, store.T(at.Add(-24*time.Hour)), store.T(at)); err != nil {
		return nil, fmt.Errorf("reconcile: read files: %w", err)
	}
	out := make([]report.FileCheck, 0, len(rows))
	for _, r := range rows {
		c := submit.Counts{RowsIn: r.Total, Submitted: r.Submitted, Rejected: r.Rejected, RejectedFlabs: r.RejectedFlabs,
			Duplicate: r.Duplicate, Failed: r.Failed, Held: r.Held, Skipped: r.Skipped}
		// The files table keeps no unfinished count: it is what is left.
		unfinished := max(0, c.RowsIn-c.Outcomes())
		if r.Status == "interrupted" {
			c.Unfinished = unfinished
		}
		out = append(out, report.FileCheck{FileID: r.ID, Name: r.Name, Partner: r.Partner, Status: r.Status, ReceivedAt: r.Created.Time,
			RowsIn: r.Total, Submitted: r.Submitted, Rejected: r.Rejected, RejectedFlabs: r.RejectedFlabs, Duplicate: r.Duplicate,
			Failed: r.Failed, Held: r.Held, Skipped: r.Skipped, Unfinished: unfinished,
			Balanced: r.Status == "duplicate" || r.Status == "failed" || r.Status == "abandoned" || c.Balanced()})
	}
	return out, nil
}

// exceptionJSON is one exception in `flabsync reconcile --json`: a stable
// shape.
type exceptionJSON struct {
	ID           string `json:"id"`
	Category     string `json:"category"`
	Status       string `json:"status"`
	Partner      string `json:"partner"`
	IntegratorID string `json:"integrator_id"`
	File         string `json:"file"`
	Row          int    `json:"row"`
	AgeBucket    string `json:"age_bucket"`
	Detail       string `json:"detail"`
}

// writeReconcileJSON streams the JSON: the exception list can be long.
func writeReconcileJSON(ctx context.Context, w io.Writer, db *store.DB, r *reconciled) error {
	bw := bufio.NewWriter(w)
	summary := map[string]int{}
	for _, c := range rules.Categories {
		summary[c] = r.Result.Total(c)
	}
	head, _ := json.Marshal(struct {
		Workbook string         `json:"workbook"`
		Summary  map[string]int `json:"summary"`
	}{r.Workbook, summary})
	bw.Write(head[:len(head)-1])
	bw.WriteString(`,"exceptions":[`)
	first := true
	err := rules.Each(ctx, db, r.At, func(e rules.Exception) error {
		if e.Status == rules.StatusResolved {
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

func runReconcile(ctx context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("reconcile", "reconcile [--at TIME] [--email] [--json] [--config FILE]",
		"Compares what flabsync sent with what Flabs' webhooks said, as of TIME (default now), and\n"+
			"writes report.dir/exceptions-<date>.xlsx: a Summary sheet, one sheet per kind of problem,\n"+
			"and an Unmapped sheet ops fill in and import back ('flabsync mapping import --review');\n"+
			"plus each partner's reject file. Prints a digest; --email mails it to mail.to with the\n"+
			"workbook attached. Exceptions are data, not failures: exit 0 when the run completes,\n"+
			"1 when the email could not be sent (the workbook stays on disk).")
	cfgPath := fs.String("config", "", "config file (default $FLABSYNC_CONFIG, else ./flabsync.yaml)")
	atFlag := fs.String("at", "", `run as of this time: RFC 3339 or "2006-01-02 15:04" in the config's timezone (default now)`)
	email := fs.Bool("email", false, "mail the digest and the workbook to mail.to")
	asJSON := fs.Bool("json", false, `print {"workbook", "summary", "exceptions": [...]} (the stable shape)`)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	at := time.Now()
	if *atFlag != "" {
		loc, err := time.LoadLocation(cfg.Timezone)
		if err != nil {
			return &configError{err: err}
		}
		if at, err = time.Parse(time.RFC3339, *atFlag); err != nil {
			if at, err = time.ParseInLocation("2006-01-02 15:04", *atFlag, loc); err != nil {
				return usageErrorf(`reconcile: --at %q: want RFC 3339 (2026-11-25T02:00:00+05:30) or "2006-01-02 15:04"`, *atFlag)
			}
		}
	}
	if *email && (cfg.Mail.SMTPURL == "" || len(cfg.Mail.To) == 0) {
		return &configError{err: fmt.Errorf("--email needs mail.smtp_url, mail.from and mail.to")}
	}
	db, err := store.Open(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer db.Close()
	r, err := reconcileOnce(ctx, cfg, db, at, *email, m.logger(cfg))
	if err != nil {
		return err
	}
	if *asJSON {
		if err := writeReconcileJSON(ctx, m.Stdout, db, r); err != nil {
			return err
		}
	} else {
		fmt.Fprint(m.Stdout, r.Digest.Text())
		fmt.Fprintf(m.Stdout, "\nworkbook: %s\n", r.Workbook)
		for _, p := range r.Rejects {
			fmt.Fprintf(m.Stdout, "reject file: %s\n", p)
		}
		if r.Mailed {
			fmt.Fprintf(m.Stdout, "mailed to %v\n", cfg.Mail.To)
		}
	}
	if r.MailErr != nil {
		return &partialError{msg: fmt.Sprintf("reconcile: the email was not sent: %v (the workbook is at %s)", r.MailErr, r.Workbook)}
	}
	return nil
}
