package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/flabsync/flabsync/internal/logging"
	"github.com/flabsync/flabsync/internal/redact"
	"github.com/flabsync/flabsync/internal/sheet"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/pipeline/submit"
)

// Ingester takes files through the whole journey: read, validate, map,
// write every row to the ledger, then send what is new. One Ingester (and
// its Submitter) serves every file of a process, so all share one rate
// limit and partners are served in turn.
type Ingester struct {
	Ledger    *ledger.Ledger
	Submitter *submit.Submitter
	Holder    string // who claims files, recorded in the ledger
	// Detail keeps every accepted booking (with its request) and its
	// final ledger state in Ingested, for the JSON report. Off, memory
	// stays flat however big the file.
	Detail bool
	// SkipProcessed records a file whose bytes were already read to their
	// end (a re-drop) as a duplicate and reads nothing of it (Ingested.
	// Duplicate). Off, such a file is read again and its rows count as
	// duplicates of what was sent. A reading taken over (ReadOptions.
	// Resumes) is always read on.
	SkipProcessed bool
	// ListNotThrough fills Ingested.NotThrough (a person reads it: the
	// hand-run import); serve, which prints no account, skips the query.
	ListNotThrough bool
	Logger         *slog.Logger // never given patient data
	// Progress, when set, hears of each booking admitted for sending
	// (admitted) and each one settled (done).
	Progress func(admitted, done int, r *ledger.Result)
}

// Ingested is what became of one file.
type Ingested struct {
	FileID int64
	SameAs []int64 // earlier files with the same content
	// Duplicate: SkipProcessed found the content processed before
	// (SameAs[0]); nothing was read or sent.
	Duplicate  bool
	Result     *FileResult
	Counts     ledger.Counts
	States     map[string]ledger.BookingRecord // by integrator ID, for the accepted bookings
	Verdict    map[string]string               // with Detail, by integrator ID: how the ledger admitted it (sent, duplicate, held, rejected)
	NotThrough []ledger.Unsent                 // with ListNotThrough: bookings of the file not submitted (refused, failed, held, unconfirmed, pending), by row; at most 1,000
}

// admitBatch is how many bookings go to the ledger per transaction (and
// to the submitter per hand-over).
const admitBatch = 500

// batchesAhead is how many admitted batches of a file may wait for the
// submitter before reading pauses: enough to keep the workers busy, few
// enough that memory stays flat in the file's size.
const batchesAhead = 4

// Ingest reads path as opts says and submits its bookings. Every row is
// in the ledger before any of its bookings is sent; batches are sent as
// they are admitted, so a big file starts sending before it is fully
// read. It returns when every booking is final or ctx ends (then the
// unsent ones stay pending in the ledger for the next run). A file that
// does not balance (rows in ≠ the sum of outcomes) is an error.
func (in *Ingester) Ingest(ctx context.Context, path string, opts ReadOptions) (*Ingested, error) {
	log := in.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Partner == "" {
		opts.Partner = PartnerOf(path)
	}
	name := filepath.Base(path)
	if err := CheckPartner(opts.Partner); err != nil {
		return nil, fmt.Errorf("ingest %s: %w", name, err)
	}
	sum, size, err := hashFile(path)
	if err != nil {
		return nil, fmt.Errorf("ingest %s: %w", name, err)
	}
	file := ledger.File{Partner: opts.Partner, Name: name, Path: path, SHA256: sum, Size: size, By: in.Holder, Resumes: opts.Resumes}
	if in.SkipProcessed && opts.Resumes == 0 { // a reading taken over is read on: it replaces its record
		of, ok, err := in.Ledger.Processed(ctx, sum)
		if err != nil {
			return nil, err
		}
		if ok {
			id, err := in.Ledger.RecordDuplicate(ctx, file, of)
			if err != nil {
				return nil, err
			}
			log.Info("file is a duplicate of one already processed; nothing read or sent", logging.KeyFile, name, "file_id", id, "same_as", of)
			return &Ingested{FileID: id, SameAs: []int64{of}, Duplicate: true, Result: &FileResult{File: name, Partner: opts.Partner}}, nil
		}
	}
	fileID, sameAs, err := in.Ledger.StartFile(ctx, file)
	if err != nil {
		return nil, err
	}
	log = log.With(logging.KeyFile, name, "file_id", fileID, logging.KeyPartner, opts.Partner)
	if len(sameAs) > 0 {
		log.Info("same content as an earlier file: only what was not submitted then is sent", "same_as", sameAs[0])
	}
	hold := ""
	if opts.LeadSource == "" {
		hold = fmt.Sprintf("no lead_source: set partners.%s.lead_source or default_lead_source (Flabs requires one)", opts.Partner)
	}
	out := &Ingested{FileID: fileID, SameAs: sameAs, Result: &FileResult{File: name, Partner: opts.Partner}}
	if in.Detail {
		out.Verdict = map[string]string{}
	}

	var (
		bookings []ledger.Booking
		rows     []ledger.Row
		wg       sync.WaitGroup
		mu       sync.Mutex
		admitted int
		done     int
		ahead    = make(chan struct{}, batchesAhead)
	)
	flush := func() error {
		if len(bookings) == 0 && len(rows) == 0 {
			return nil
		}
		ds, err := in.Ledger.Admit(ctx, fileID, bookings, rows)
		if err != nil {
			return err
		}
		var jobs []ledger.Job
		elsewhere := 0
		for _, d := range ds {
			verdict := string(d.State)
			switch {
			case d.Elsewhere:
				elsewhere++
			case d.Send != nil:
				jobs = append(jobs, *d.Send)
				verdict = "sent"
			case d.Duplicate:
				verdict = "duplicate"
			}
			if out.Verdict != nil { // only kept for the detailed report: memory stays flat without it
				out.Verdict[d.IntegratorID] = verdict
			}
		}
		if elsewhere > 0 {
			log.Info("another process is sending bookings of this file; left to it", "bookings", elsewhere)
		}
		bookings, rows = bookings[:0], rows[:0]
		if len(jobs) == 0 {
			return nil
		}
		// Reading waits while batchesAhead batches are still being sent:
		// a million-row file is never queued whole in memory.
		select {
		case ahead <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		mu.Lock()
		admitted += len(jobs)
		if in.Progress != nil {
			in.Progress(admitted, done, nil)
		}
		mu.Unlock()
		wg.Go(func() {
			defer func() { <-ahead }()
			in.Submitter.Submit(ctx, jobs, func(r ledger.Result) {
				mu.Lock()
				defer mu.Unlock()
				done++
				if in.Progress != nil {
					in.Progress(admitted, done, &r)
				}
			})
		})
		return nil
	}
	res, scanErr := Scan(ctx, path, opts, Sink{
		Accepted: func(a Accepted) error {
			b := a.Booking
			if in.Detail {
				out.Result.Accepted = append(out.Result.Accepted, a)
			}
			req := a.Request
			sb := ledger.Booking{IntegratorID: b.IntegratorID, Partner: b.Partner, FirstRow: b.Row, Rows: b.Rows,
				Request: &req, Hold: hold}
			for _, m := range a.Matches {
				sb.Items = append(sb.Items, ledger.Item{Kind: string(m.Kind), Name: m.Name, Target: m.Target, TargetKey: string(m.TargetKey), How: m.How})
			}
			bookings = append(bookings, sb)
			for _, r := range b.Rows {
				rows = append(rows, ledger.Row{Sheet: b.Sheet, Num: r, Status: ledger.RowAccepted, IntegratorID: b.IntegratorID, Ref: b.Ref})
			}
			if len(bookings) >= admitBatch {
				return flush()
			}
			return nil
		},
		Rejected: func(e RowError) error {
			out.Result.Rejected = append(out.Result.Rejected, e)
			nums := e.Rows
			if len(nums) == 0 {
				nums = []int{e.Row}
			}
			for _, r := range nums {
				rows = append(rows, ledger.Row{Sheet: e.Sheet, Num: r, Status: ledger.RowRejected, Code: e.Code, Message: e.Msg, Ref: e.Ref})
			}
			return nil
		},
	})
	if res != nil {
		out.Result.Summary, out.Result.Skipped = res.Summary, res.Skipped
	}
	if scanErr == nil {
		for _, s := range out.Result.Skipped {
			rows = append(rows, ledger.Row{Sheet: res.Summary.Sheet, Num: s.Row, Status: ledger.RowSkipped, Message: s.Why})
		}
		scanErr = flush()
	}
	wg.Wait()
	if scanErr != nil {
		// Rows admitted before the failure are in the ledger and were
		// sent. A stop leaves the file reading, its reader gone: the one
		// file lifecycle takes it up (the inbox puts its own files back;
		// a running serve reads on a hand-run import's file, or flags it
		// when it is gone). Any other failure marks it as not fully read.
		if ctx.Err() != nil && (errors.Is(scanErr, context.Canceled) || errors.Is(scanErr, context.DeadlineExceeded)) {
			log.Info("stopped mid-file: the file stays reading in the ledger, for its next reader")
		} else if err := in.Ledger.FailFile(context.WithoutCancel(ctx), fileID, scanErr); err != nil {
			log.Error("ledger: mark file failed", logging.Err(err))
		}
		return out, fmt.Errorf("ingest %s: %w", name, scanErr)
	}
	keep := context.WithoutCancel(ctx)
	out.Counts, err = in.Ledger.FinishFile(ctx, fileID, out.Result.RowsIn()) // a stop is seen there, and it writes on
	log.Info("file done", "rows_in", out.Counts.RowsIn, "submitted", out.Counts.Submitted, "rejected", out.Counts.Rejected,
		"rejected_flabs", out.Counts.RejectedFlabs, "duplicate", out.Counts.Duplicate, "failed", out.Counts.Failed,
		"held", out.Counts.Held, "skipped", out.Counts.Skipped, "unconfirmed", out.Counts.Unconfirmed, "unfinished", out.Counts.Unfinished)
	if err != nil {
		return out, err
	}
	if in.ListNotThrough {
		if out.NotThrough, err = in.Ledger.NotThrough(keep, fileID, 1000); err != nil {
			return out, err
		}
	}
	if in.Detail {
		ids := make([]string, 0, len(out.Result.Accepted))
		for _, a := range out.Result.Accepted {
			ids = append(ids, a.Booking.IntegratorID)
		}
		if out.States, err = in.Ledger.States(keep, ids); err != nil {
			return out, err
		}
	}
	if c := out.Counts; c.RowsIn-c.Skipped == 0 {
		return out, fmt.Errorf("ingest %s: %w", name, ErrNoRows)
	} else if c.Rejected == c.RowsIn-c.Skipped {
		first := ""
		if len(out.Result.Rejected) > 0 {
			e := out.Result.Rejected[0]
			first = fmt.Sprintf(" (row %d: %s)", e.Row, redact.Show(e.Msg)) // logged and noted: no cell
		}
		return out, fmt.Errorf("ingest %s: %w: all %d rows%s", name, ErrAllRejected, c.Rejected, first)
	}
	if ctx.Err() != nil {
		return out, fmt.Errorf("ingest %s: stopped with %d rows unfinished (they stay pending and go with the next run): %w",
			name, out.Counts.Unfinished, ctx.Err())
	}
	return out, nil
}

// ErrNoRows: the sheet has a header but no booking rows below it.
var ErrNoRows = errors.New("the sheet has a header but no booking rows below it")

// ErrAllRejected: not one row of the sheet is valid.
var ErrAllRejected = errors.New("no row of the sheet is valid")

func hashFile(path string) (string, int64, error) {
	f, err := sheet.Open(path) // a FIFO is refused, never waited on
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
