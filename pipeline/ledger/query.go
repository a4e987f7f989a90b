package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/jmoiron/sqlx"
)

// Tally is the ledger at a glance, for `flabsync status`.
type Tally struct {
	Files    map[string]int // by file status
	Rows     map[string]int // sheet rows by outcome: a row's status, or its booking's state when accepted
	Bookings map[string]int // by booking state
}

// Tally counts files, rows and bookings by state.
func (l *Ledger) Tally(ctx context.Context) (Tally, error) {
	var t Tally
	var err error
	if t.Files, err = l.countBy(ctx, `SELECT status AS k, COUNT(*) AS n FROM files GROUP BY status`); err != nil {
		return t, err
	}
	if t.Rows, err = l.countBy(ctx, `SELECT CASE WHEN r.status = 'accepted' THEN COALESCE(b.status, 'accepted') ELSE r.status END AS k, COUNT(*) AS n
FROM sheet_rows r LEFT JOIN bookings b ON b.integrator_id = r.integrator_id GROUP BY 1`); err != nil {
		return t, err
	}
	if t.Bookings, err = l.countBy(ctx, `SELECT status AS k, COUNT(*) AS n FROM bookings GROUP BY status`); err != nil {
		return t, err
	}
	return t, nil
}

func (l *Ledger) countBy(ctx context.Context, q string) (map[string]int, error) {
	var rows []struct {
		K string `db:"k"`
		N int    `db:"n"`
	}
	if err := l.db.SelectContext(ctx, &rows, q); err != nil {
		return nil, fmt.Errorf("ledger: count: %w", err)
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.K] = r.N
	}
	return out, nil
}

// CountUnsettled returns how many bookings are pending, in flight or
// waiting to retry.
func (l *Ledger) CountUnsettled(ctx context.Context) (int, error) {
	var n int
	q := l.db.Rebind(`SELECT COUNT(*) FROM bookings WHERE status IN (?, ?, ?)`)
	if err := l.db.GetContext(ctx, &n, q, Pending, InFlight, Retry); err != nil {
		return 0, fmt.Errorf("ledger: count unsettled bookings: %w", err)
	}
	return n, nil
}

// FileRecord is a file's entry with its accounting.
type FileRecord struct {
	ID         int64
	Name       string
	Partner    string
	Status     FileStatus
	ReceivedAt time.Time
	Counts     Counts // Unfinished is what no outcome accounts for
}

// Refused reports whether the file was never read to its end because it
// was refused: it is in errors/ with a note, and a file_refused exception.
func (f FileRecord) Refused() bool { return f.Status == FileFailed || f.Status == FileRefused }

// Unread reports a file not read to its end (yet): being read, or its
// reader stopped and no process has taken it over. Its counts prove
// nothing, so it is never balanced.
func (f FileRecord) Unread() bool { return f.Status == FileReading }

// Balanced reports whether the file's rows add up, or it had none to
// add (a duplicate, refused or abandoned file). A file not read to its
// end is not balanced.
func (f FileRecord) Balanced() bool {
	switch f.Status {
	case FileReading:
		return false // not read to its end (yet): its counts prove nothing
	case FileDuplicate, FileFailed, FileRefused, FileAbandoned:
		return true
	}
	c := f.Counts
	if f.Status != FileInterrupted {
		c.Unfinished = 0
	}
	return c.Balanced()
}

// fileRow is a files row as FilesReceived and FileByID read it.
type fileRow struct {
	ID            int64      `db:"id"`
	Name          string     `db:"name"`
	Partner       string     `db:"partner"`
	Status        FileStatus `db:"status"`
	Created       store.Time `db:"created_at"`
	Total         int        `db:"rows_total"`
	Submitted     int        `db:"rows_submitted"`
	Rejected      int        `db:"rows_rejected"`
	RejectedFlabs int        `db:"rows_rejected_flabs"`
	Duplicate     int        `db:"rows_duplicate"`
	Failed        int        `db:"rows_failed"`
	Held          int        `db:"rows_held"`
	Skipped       int        `db:"rows_skipped"`
	Unconfirmed   int        `db:"rows_unconfirmed"`
}

// selectFile is the SELECT that reads fileRow.
const selectFile = `SELECT id, name, partner, status, created_at, rows_total, rows_submitted, rows_rejected, rows_rejected_flabs,
	rows_duplicate, rows_failed, rows_held, rows_skipped, rows_unconfirmed FROM files `

func (r fileRow) record() FileRecord {
	c := Counts{RowsIn: r.Total, Submitted: r.Submitted, Rejected: r.Rejected, RejectedFlabs: r.RejectedFlabs,
		Duplicate: r.Duplicate, Failed: r.Failed, Held: r.Held, Skipped: r.Skipped, Unconfirmed: r.Unconfirmed}
	// The files table keeps no unfinished count: it is what is left.
	c.Unfinished = max(0, c.RowsIn-c.Outcomes())
	return FileRecord{ID: r.ID, Name: r.Name, Partner: r.Partner, Status: r.Status, ReceivedAt: r.Created.Time, Counts: c}
}

// FilesReceived returns the files received in (from, to], oldest first.
func (l *Ledger) FilesReceived(ctx context.Context, from, to time.Time) ([]FileRecord, error) {
	var rows []fileRow
	q := l.db.Rebind(selectFile + `WHERE created_at > ? AND created_at <= ? ORDER BY id`)
	if err := l.db.SelectContext(ctx, &rows, q, store.T(from), store.T(to)); err != nil {
		return nil, fmt.Errorf("ledger: read files: %w", err)
	}
	out := make([]FileRecord, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.record())
	}
	return out, nil
}

// LastFileAt returns when the partner's latest file arrived (zero if
// none has).
func (l *Ledger) LastFileAt(ctx context.Context, partner string) (time.Time, error) {
	var t store.Time
	q := l.db.Rebind(`SELECT MAX(created_at) FROM files WHERE partner = ?`)
	if err := l.db.GetContext(ctx, &t, q, partner); err != nil {
		return time.Time{}, fmt.Errorf("ledger: latest file of %s: %w", partner, err)
	}
	return t.Time, nil
}

// RejectedRow is a sheet row that failed validation, with its file.
type RejectedRow struct {
	FileID  int64  `db:"file_id"`
	Partner string `db:"partner"`
	Name    string `db:"name"` // the file's name as it came in
	Path    string `db:"path"` // where the file is now
	Row     int    `db:"row_num"`
	Code    string `db:"code"`
	Message string `db:"message"`
}

// correctedBy is the SQL condition that row c of file g corrects the
// rejected row r of file f: a later file of the same partner carries an
// accepted (or duplicate) row with r's booking reference, received by
// the time that is its one parameter. (reconcile/rules states the same
// condition with its states bound as parameters: no fragment of the
// ledger's, tied to its aliases, leaves the package.)
const correctedBy = `r.ref <> '' AND c.ref = r.ref AND g.partner = f.partner AND c.status IN ('accepted', 'duplicate')
	AND g.created_at > f.created_at AND g.created_at <= ?`

// RejectedRows returns the rows rejected in files received in [from, to],
// by partner, file and row: a file's content once however often it came
// (its first arrival in the window), and no row a later file of the
// partner corrected (an accepted row with the same booking reference).
func (l *Ledger) RejectedRows(ctx context.Context, from, to time.Time) ([]RejectedRow, error) {
	var rows []RejectedRow
	q := l.db.Rebind(`SELECT f.id AS file_id, f.partner, f.name, f.path, r.row_num, r.code, r.message
FROM sheet_rows r JOIN files f ON f.id = r.file_id
WHERE r.status = ? AND f.created_at >= ? AND f.created_at <= ?
	AND f.id = (SELECT MIN(d.id) FROM files d WHERE d.sha256 = f.sha256 AND d.partner = f.partner AND d.created_at >= ?)
	AND NOT EXISTS (SELECT 1 FROM sheet_rows c JOIN files g ON g.id = c.file_id WHERE ` + correctedBy + `)
ORDER BY f.partner, f.id, r.row_num`)
	if err := l.db.SelectContext(ctx, &rows, q, RowRejected, store.T(from), store.T(to), store.T(from), store.T(to)); err != nil {
		return nil, fmt.Errorf("ledger: read rejected rows: %w", err)
	}
	return rows, nil
}

// ConfirmBilled settles the bookings Flabs has since sent a bill event
// for (bill.created, report.completed, bill.completed or bill.deleted:
// each proves the bill exists) while the answers had left them
// unconfirmed, rejected or failed: whatever an answer seemed to say, the
// bill proves Flabs booked it, so it is submitted, and the nightly rules
// no longer raise unconfirmed or submit_failed for it (the exception
// resolves; nobody is told to send it again). It returns how many.
func (l *Ledger) ConfirmBilled(ctx context.Context, now time.Time) (int64, error) {
	const billed = `b.status IN (?, ?, ?) AND b.integrator_id IN (SELECT s.integrator_id FROM booking_state s WHERE s.state <> ?)`
	args := []any{Unconfirmed, Rejected, Failed, "none"}
	var n int64
	err := l.db.InTx(ctx, func(tx *sqlx.Tx) error {
		// The files' accounts move with them: each row of a confirmed
		// booking counts as submitted, no longer unconfirmed, refused by
		// Flabs or failed.
		var moved []struct {
			FileID int64        `db:"file_id"`
			Status BookingState `db:"status"`
			N      int          `db:"n"`
		}
		q := tx.Rebind(`SELECT r.file_id, b.status, COUNT(*) AS n FROM sheet_rows r JOIN bookings b ON b.integrator_id = r.integrator_id
WHERE r.status = ? AND ` + billed + ` GROUP BY r.file_id, b.status`)
		if err := tx.SelectContext(ctx, &moved, q, append([]any{RowAccepted}, args...)...); err != nil {
			return err
		}
		q = tx.Rebind(`UPDATE bookings SET last_error = 'confirmed by a bill event from Flabs; the answers had left it ' || status,
	status = ?, submitted_at = COALESCE(submitted_at, ?), updated_at = ?
WHERE integrator_id IN (SELECT b.integrator_id FROM bookings b WHERE ` + billed + `)`)
		res, err := tx.ExecContext(ctx, q, append([]any{Submitted, store.T(now), store.T(now)}, args...)...)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		for _, m := range moved {
			col := map[BookingState]string{Unconfirmed: "rows_unconfirmed", Rejected: "rows_rejected_flabs", Failed: "rows_failed"}[m.Status]
			fq := tx.Rebind(`UPDATE files SET ` + col + ` = ` + col + ` - ?, rows_submitted = rows_submitted + ?, updated_at = ?
WHERE id = ? AND ` + col + ` >= ?`)
			if _, err := tx.ExecContext(ctx, fq, m.N, m.N, store.T(now), m.FileID, m.N); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ledger: confirm billed bookings: %w", err)
	}
	return n, nil
}

// StaleAfter is how long a booking may sit pending, in flight or waiting
// to retry untouched before Begin lets any process send it: longer than
// the longest back-off, so a live submitter's bookings are never taken.
const StaleAfter = 15 * time.Minute

// Unsettled claims for holder, and returns, up to limit bookings left
// pending, in flight or waiting to retry: those an earlier process of
// this name left behind (a file cut short, a refused login, a crash) and
// those of a process that is gone (no live process lease, untouched for
// Takeover: a killed serve or hand-run import), and holder's own left
// untouched for StaleAfter (pending though never sent: the rate limit or
// the ledger failed it before Begin; a live submitter's are never that
// old). Each comes as the job to
// send: the stored request, marked MaybeBooked when an attempt of it may
// have arrived. A booking another process claims in the meantime is left
// to it.
func (l *Ledger) Unsettled(ctx context.Context, name, holder string, now time.Time, limit int) ([]Job, error) {
	var rows []struct {
		ID          string       `db:"integrator_id"`
		Partner     string       `db:"partner"`
		Status      BookingState `db:"status"`
		Request     string       `db:"request"`
		MaybeBooked bool         `db:"maybe_booked"`
	}
	whose := `((bookings.claimed_by LIKE ? AND bookings.claimed_by <> ?) OR (bookings.claimed_by = ? AND bookings.updated_at < ?)
	OR (bookings.updated_at < ? AND ` + goneHolder("bookings") + `))`
	q := l.db.Rebind(`SELECT integrator_id, partner, status, request, maybe_booked FROM bookings
WHERE status IN (?, ?, ?) AND ` + whose + ` ORDER BY updated_at LIMIT ?`)
	stale, own := store.T(now.Add(-l.takeover)), store.T(now.Add(-StaleAfter))
	if err := l.db.SelectContext(ctx, &rows, q, Pending, InFlight, Retry, name+":%", holder, holder, own, stale, store.T(now), limit); err != nil {
		return nil, fmt.Errorf("ledger: read unsettled bookings: %w", err)
	}
	claim := l.db.Rebind(`UPDATE bookings SET claimed_by = ?, updated_at = ?
WHERE integrator_id = ? AND status IN (?, ?, ?) AND ` + whose)
	jobs := make([]Job, 0, len(rows))
	for _, r := range rows {
		res, err := l.db.ExecContext(ctx, claim, holder, store.T(now), r.ID, Pending, InFlight, Retry, name+":%", holder, holder, own, stale, store.T(now))
		if err != nil {
			return nil, fmt.Errorf("ledger: claim booking %s: %w", r.ID, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			continue // claimed by another process since
		}
		var req flabs.BillingRequest
		if err := json.Unmarshal([]byte(r.Request), &req); err != nil {
			return nil, fmt.Errorf("ledger: booking %s: stored request: %w", r.ID, err)
		}
		jobs = append(jobs, Job{IntegratorID: r.ID, Partner: r.Partner, Request: &req, MaybeBooked: r.MaybeBooked || r.Status == InFlight})
	}
	return jobs, nil
}

// RecordRefused records a file the inbox refused, now at path in errors/:
// RecordRefusedFile with the clinic told reason.
func (l *Ledger) RecordRefused(ctx context.Context, partner, name, path, reason string) error {
	return l.RecordRefusedFile(ctx, RefusedFile{Partner: partner, Name: name, Path: path, Reason: reason, Told: reason})
}

// Unsent is a booking of a file that did not go through: refused by
// Flabs, failed, held, unconfirmed, or still pending.
type Unsent struct {
	IntegratorID string       `db:"integrator_id"`
	Row          int          `db:"first_row"`
	State        BookingState `db:"status"`
	Error        string       `db:"last_error"`
}

// NotThrough returns, by row, up to limit bookings last admitted from
// fileID that are not submitted: what a person must look at.
func (l *Ledger) NotThrough(ctx context.Context, fileID int64, limit int) ([]Unsent, error) {
	var out []Unsent
	q := l.db.Rebind(`SELECT integrator_id, first_row, status, last_error FROM bookings
WHERE file_id = ? AND status <> ? ORDER BY first_row LIMIT ?`)
	if err := l.db.SelectContext(ctx, &out, q, fileID, Submitted, limit); err != nil {
		return nil, fmt.Errorf("ledger: bookings of file %d not through: %w", fileID, err)
	}
	return out, nil
}

// PartnerBacklog is what one partner has waiting to be sent.
type PartnerBacklog struct {
	Partner string
	Waiting int       // bookings pending, in flight or waiting to retry
	Oldest  time.Time // when the file of its longest-waiting booking came in
}

// Backlog returns, per partner with any, the bookings not yet settled and
// since when the oldest has waited: since the file that (last) admitted
// it was received, so a booking sent again by a corrected file waits from
// that file, not from the first.
func (l *Ledger) Backlog(ctx context.Context) ([]PartnerBacklog, error) {
	var rows []struct {
		Partner string     `db:"partner"`
		Waiting int        `db:"waiting"`
		Oldest  store.Time `db:"oldest"`
	}
	q := l.db.Rebind(`SELECT b.partner AS partner, COUNT(*) AS waiting, MIN(COALESCE(f.created_at, b.created_at)) AS oldest
FROM bookings b LEFT JOIN files f ON f.id = b.file_id
WHERE b.status IN (?, ?, ?) GROUP BY b.partner ORDER BY b.partner`)
	if err := l.db.SelectContext(ctx, &rows, q, Pending, InFlight, Retry); err != nil {
		return nil, fmt.Errorf("ledger: backlog by partner: %w", err)
	}
	out := make([]PartnerBacklog, len(rows))
	for i, r := range rows {
		out[i] = PartnerBacklog{Partner: r.Partner, Waiting: r.Waiting, Oldest: r.Oldest.Time}
	}
	return out, nil
}
