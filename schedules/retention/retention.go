// Package retention gives patient data its lifetime: past
// retention.patient_data_days it is erased from the database — the
// ledger's stored requests and rows (pipeline/ledger) and the raw webhook
// bodies (reconcile/webhook), each erased by the package that owns it —
// and the files holding it on disk are deleted: archived and refused
// sheets, their reason notes and the partners' reject files. IDs, states,
// counts and exceptions stay, so status, the nightly reconciliation and
// the exception list work as before.
//
// On SQLite, erased means gone from the file's bytes: every connection
// runs with secure_delete (erased content is overwritten with zeros), and
// a prune that erased anything ends with store.Scrub, which rewrites the
// file (VACUUM: page rebuilds leave stale copies of rows that
// secure_delete never sees) and truncates the WAL, so no copy of an
// erased row is left in the file or the -wal file.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/reconcile/rules"
	"github.com/flabsync/flabsync/reconcile/webhook"
)

// Report is what a prune erased, or in a dry run would erase.
type Report struct {
	At     time.Time `json:"at"`
	Before time.Time `json:"before"` // the cutoff: data older than this is erased
	DryRun bool      `json:"dry_run"`
	// The database.
	Bookings      int64 `json:"bookings"`       // requests cut down to their IDs
	LedgerFiles   int64 `json:"ledger_files"`   // files whose rows were erased
	SheetRows     int64 `json:"sheet_rows"`     // rows whose message or reference was erased
	WebhookBodies int64 `json:"webhook_bodies"` // raw bodies emptied
	// ExceptionDetails counts exceptions whose detail (which may quote a
	// sheet) was cut to its code: resolved rejected rows and refused
	// files, and rejected rows past the retention whatever their status.
	ExceptionDetails int64 `json:"exception_details"`
	// Files on disk.
	ArchivedSheets int `json:"archived_sheets"`
	RefusedSheets  int `json:"refused_sheets"`
	ReasonNotes    int `json:"reason_notes"`
	RejectFiles    int `json:"reject_files"`
	// BytesFreed is the size of the files deleted and the webhook bodies
	// emptied.
	BytesFreed int64 `json:"bytes_freed"`
}

// Total is how many things the prune erased (or would).
func (r Report) Total() int64 {
	return r.Bookings + r.LedgerFiles + r.SheetRows + r.WebhookBodies + r.ExceptionDetails +
		int64(r.ArchivedSheets+r.RefusedSheets+r.ReasonNotes+r.RejectFiles)
}

// Options tunes Run.
type Options struct {
	DryRun bool // count, change nothing
	// Batch is how many rows one transaction erases (default
	// ledger.DefaultPruneBatch).
	Batch int
	// Progress, if set, hears the ledger's running totals after each
	// committed batch.
	Progress func(ledger.Pruned)
	Logger   *slog.Logger // nil: discard
}

// Prune erases the patient data older than cfg.Retention as of at (a dry
// run only counts it).
func Prune(ctx context.Context, db *store.DB, cfg *config.Config, at time.Time, dryRun bool) (Report, error) {
	return Run(ctx, db, cfg, at, Options{DryRun: dryRun})
}

// Run is Prune with options. The database goes first, in batches that
// each commit on their own, so a prune stopped at any point (a cancelled
// context, a killed process) leaves a consistent ledger and the next one
// finishes the work; then the files on disk. A file that cannot be
// deleted does not stop the others: the error names how many.
func Run(ctx context.Context, db *store.DB, cfg *config.Config, at time.Time, opt Options) (Report, error) {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	before := at.Add(-cfg.Retention.PatientData())
	r := Report{At: at, Before: before, DryRun: opt.DryRun}
	day := before.UTC().Format(time.DateOnly)
	led := ledger.New(db)
	if err := pruneDB(ctx, db, led, before, opt, log, &r); err != nil {
		return r, err
	}
	ferr := pruneFiles(ctx, led, cfg, before, opt.DryRun, &r)
	log.Info("retention: prune", "before", day, "dry_run", opt.DryRun, "bookings", r.Bookings, "sheet_rows", r.SheetRows,
		"webhook_bodies", r.WebhookBodies, "archived_sheets", r.ArchivedSheets, "refused_sheets", r.RefusedSheets,
		"reason_notes", r.ReasonNotes, "reject_files", r.RejectFiles, "bytes_freed", r.BytesFreed)
	if ferr != nil {
		return r, fmt.Errorf("retention: prune files before %s: %w", day, ferr)
	}
	return r, nil
}

// pruneDB erases (or counts) what the database holds past before.
func pruneDB(ctx context.Context, db *store.DB, led *ledger.Ledger, before time.Time, opt Options, log *slog.Logger, r *Report) error {
	var (
		lp  ledger.Pruned
		wp  webhook.PrunedBodies
		err error
	)
	defer func() {
		r.Bookings, r.LedgerFiles, r.SheetRows = lp.Bookings, lp.Files, lp.SheetRows
		r.WebhookBodies, r.BytesFreed = wp.Bodies, r.BytesFreed+wp.Bytes
	}()
	if opt.DryRun {
		if lp, err = led.CountPrunable(ctx, before); err != nil {
			return err
		}
		if wp, err = webhook.CountPrunableBodies(ctx, db, before); err != nil {
			return err
		}
		r.ExceptionDetails, err = rules.PruneDetails(ctx, db, before, true)
		return err
	}
	if lp, err = led.Prune(ctx, before, ledger.PruneOptions{Batch: opt.Batch, Progress: opt.Progress}); err != nil {
		return err
	}
	if wp, err = webhook.PruneBodies(ctx, db, before, opt.Batch); err != nil {
		return err
	}
	if r.ExceptionDetails, err = rules.PruneDetails(ctx, db, before, false); err != nil {
		return err
	}
	erased := lp.Bookings+lp.Files+lp.SheetRows+wp.Bodies+r.ExceptionDetails > 0
	if err := compact(ctx, db, erased, log); err != nil {
		return fmt.Errorf("retention: prune before %s: %w", before.UTC().Format(time.DateOnly), err)
	}
	return nil
}

// compact makes SQLite's erasure reach the disk: once something was
// erased, store.Scrub rewrites the file (secure_delete alone leaves stale
// copies of rows in live pages) and truncates the WAL; otherwise the WAL
// is truncated only, which finishes an earlier truncate a reader kept
// busy. That busy reader is logged, and the next prune finishes the work.
// PostgreSQL needs nothing here (docs/operations.md, retention).
func compact(ctx context.Context, db *store.DB, erased bool, log *slog.Logger) error {
	var s store.Scrubbed
	var err error
	if erased {
		s, err = db.Scrub(ctx)
	} else {
		s.WALBusy, err = db.TruncateWAL(ctx)
	}
	if err != nil {
		return err
	}
	if s.WALBusy {
		log.Warn("retention: the WAL could not be truncated (a reader was busy); erased pages may stay in the -wal file until the next prune")
	}
	return nil
}

// ErrFiles is wrapped by Run's error when files could not be deleted.
var ErrFiles = errors.New("files could not be deleted")

// Summary is the report on one line, for job runs and logs.
func (r Report) Summary() string {
	verb := "erased"
	if r.DryRun {
		verb = "would erase"
	}
	return fmt.Sprintf("%s data before %s: %d bookings, %d sheet rows of %d files, %d webhook bodies, %d exception details; "+
		"%d archived and %d refused sheets, %d notes, %d reject files; %d bytes",
		verb, r.Before.UTC().Format(time.DateOnly), r.Bookings, r.SheetRows, r.LedgerFiles, r.WebhookBodies, r.ExceptionDetails,
		r.ArchivedSheets, r.RefusedSheets, r.ReasonNotes, r.RejectFiles, r.BytesFreed)
}
