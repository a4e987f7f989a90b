package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/redact"
	"github.com/flabsync/flabsync/internal/store"
)

// Ledger is the submission ledger in the store: files, every sheet row,
// and one booking per integrator ID with its request and state. Every row
// is written before any request is sent, and each booking is marked in
// flight before its request and settled after the answer.
type Ledger struct {
	db       *store.DB
	now      func() time.Time
	receipts Receipts      // which files' ends queue a receipt (none by default)
	takeover time.Duration // see WithTakeover
}

// New returns the ledger in db.
func New(db *store.DB) *Ledger { return &Ledger{db: db, now: time.Now, takeover: DefaultTakeover} }

// WithClock makes the ledger stamp its records with now instead of the
// wall clock (a month of nights in a test) and returns it.
func (l *Ledger) WithClock(now func() time.Time) *Ledger {
	l.now = now
	return l
}

// File is a file as the ledger records it.
type File struct {
	Partner string
	Name    string
	Path    string
	SHA256  string
	Size    int64
	By      string // who claimed it
	// Resumes is a file record of the same file that a process left half
	// read and By took over (TakeFile): it is marked abandoned, read
	// again as this one, in the same transaction.
	Resumes int64
}

// Row is one sheet row's entry.
type Row struct {
	Sheet        string
	Num          int
	Status       RowStatus
	Code         string // rejection code
	Message      string
	Ref          string // the sheet's booking reference, if it has one
	IntegratorID string
}

// Booking is a valid booking to admit to the ledger.
type Booking struct {
	IntegratorID string
	Partner      string
	FirstRow     int
	Rows         []int // every sheet row it came from
	Request      *flabs.BillingRequest
	Items        []Item
	Hold         string // non-empty: do not send, and why (e.g. no lead_source)
}

// Item is one test or package of a booking, as written and as mapped.
type Item struct {
	Kind, Name, Target, TargetKey, How string
}

// Decision is what the ledger made of an admitted booking.
type Decision struct {
	IntegratorID string
	Send         *Job         // non-nil: send this (the stored request when it may already have arrived)
	State        BookingState // when not sent: the booking's state (submitted, rejected, held)
	PreBookingID string
	Duplicate    bool // already submitted before: its rows count as duplicates
	// Elsewhere: another live process is sending it (it holds the
	// booking); it is left to it, and its rows count as its state then.
	Elsewhere bool
}

// StartFile records a file and returns its ID, and the IDs of earlier
// files with the same content (a re-drop).
func (l *Ledger) StartFile(ctx context.Context, f File) (id int64, sameAs []int64, err error) {
	now := store.T(l.now())
	err = l.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.SelectContext(ctx, &sameAs, tx.Rebind(`SELECT id FROM files WHERE sha256 = ? ORDER BY id`), f.SHA256); err != nil {
			return err
		}
		var dup any
		if len(sameAs) > 0 {
			dup = sameAs[0]
		}
		q := tx.Rebind(`INSERT INTO files (partner, name, path, sha256, size_bytes, status, duplicate_of, claimed_by, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`)
		if err := tx.QueryRowxContext(ctx, q, clean(f.Partner), clean(f.Name), clean(f.Path), f.SHA256, f.Size, FileReading, dup, f.By, now, now).Scan(&id); err != nil {
			return err
		}
		// An earlier reading of the same bytes whose reader is gone is
		// this one now: it is not left "reading" for good.
		aq := tx.Rebind(`UPDATE files SET status = ?, reason = ?, updated_at = ?
WHERE status = ? AND sha256 = ? AND id < ? AND (id = ? OR (updated_at < ? AND ` + goneHolder("files") + `))`)
		_, err := tx.ExecContext(ctx, aq, FileAbandoned, fmt.Sprintf("its reader stopped before its end; read again as file #%d", id), now,
			FileReading, f.SHA256, id, f.Resumes, store.T(l.now().Add(-l.takeover)), now)
		return err
	})
	if err != nil {
		return 0, nil, fmt.Errorf("ledger: record file %s: %w", f.Name, err)
	}
	return id, sameAs, nil
}

// Processed returns the earliest file with this content that was read
// to its end with every booking final, if any: a file whose bytes were
// already processed. A file cut short (interrupted) is not: dropped again,
// it is read again and resumes the bookings it left unsent.
func (l *Ledger) Processed(ctx context.Context, sha256 string) (int64, bool, error) {
	var id int64
	q := l.db.Rebind(`SELECT id FROM files WHERE sha256 = ? AND status = ? ORDER BY id LIMIT 1`)
	err := l.db.GetContext(ctx, &id, q, sha256, FileDone)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("ledger: look up content %s: %w", sha256[:min(12, len(sha256))], err)
	}
	return id, true, nil
}

// RecordDuplicate records a file whose content was processed before (as
// file of), with its receipt: nothing in it is read or sent.
func (l *Ledger) RecordDuplicate(ctx context.Context, f File, of int64) (int64, error) {
	now := store.T(l.now())
	var id int64
	var queued bool
	err := l.db.InTx(ctx, func(tx *sqlx.Tx) error {
		q := tx.Rebind(`INSERT INTO files (partner, name, path, sha256, size_bytes, status, reason, duplicate_of, claimed_by, created_at, updated_at, finished_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`)
		reason := fmt.Sprintf("same content as file #%d: nothing sent", of)
		if err := tx.QueryRowxContext(ctx, q, f.Partner, f.Name, f.Path, f.SHA256, f.Size, FileDuplicate, reason, of, f.By, now, now, now).Scan(&id); err != nil {
			return err
		}
		var err error
		queued, err = l.queueReceipt(ctx, tx, id, f.Partner, f.Name, "", now)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("ledger: record duplicate file %s: %w", f.Name, err)
	}
	l.queued(queued)
	return id, nil
}

// Admit writes a batch of a file's rows and bookings in one transaction
// and decides, booking by booking, what to send:
//   - new: send it;
//   - already submitted: send nothing, its rows are duplicates;
//   - pending, in flight or waiting to retry (an interrupted run): send
//     it again with the stored request once it has been attempted (it may
//     have arrived; the same integrator_id makes Flabs refuse a second
//     booking), else with the new one; but one another live process holds
//     (claimed_by, with a live process lease) is left to it (Elsewhere);
//   - rejected: send only if the request changed (a corrected file);
//   - failed: send again (the cause may have passed);
//   - held: send if nothing holds it any more.
func (l *Ledger) Admit(ctx context.Context, fileID int64, bookings []Booking, rows []Row) ([]Decision, error) {
	now := store.T(l.now())
	out := make([]Decision, 0, len(bookings))
	err := l.db.InTx(ctx, func(tx *sqlx.Tx) error {
		out = out[:0]
		// Whoever admits a booking to send claims it: another process's
		// sweep of unsettled bookings leaves it alone.
		var by string
		if err := tx.GetContext(ctx, &by, tx.Rebind(`SELECT claimed_by FROM files WHERE id = ?`), fileID); err != nil {
			return fmt.Errorf("file %d: %w", fileID, err)
		}
		c := claim{by: by, now: now, stale: store.T(l.now().Add(-StaleAfter))}
		if l.db.Dialect() == store.Postgres {
			// Read committed: the booking is locked from its read to the
			// end of the batch, so a Begin of another process cannot slip
			// between (the read sees it, or it waits and sees this).
			c.lock = " FOR UPDATE"
		}
		dupRows := map[string]bool{}
		for _, b := range bookings {
			d, err := admit(ctx, tx, fileID, c, b)
			if err != nil {
				return fmt.Errorf("booking %s: %w", b.IntegratorID, err)
			}
			if d.Duplicate {
				dupRows[b.IntegratorID] = true
			}
			out = append(out, d)
		}
		q := tx.Rebind(`INSERT INTO sheet_rows (file_id, sheet, row_num, status, code, message, integrator_id, ref) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (file_id, sheet, row_num) DO UPDATE SET status = excluded.status, code = excluded.code, message = excluded.message,
	integrator_id = excluded.integrator_id, ref = excluded.ref`)
		stmt, err := tx.PreparexContext(ctx, q)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range rows {
			status := r.Status
			if status == RowAccepted && dupRows[r.IntegratorID] {
				status = RowDuplicate
			}
			var iid any
			if r.IntegratorID != "" {
				iid = r.IntegratorID
			}
			if _, err := stmt.ExecContext(ctx, fileID, clean(r.Sheet), r.Num, status, clean(r.Code), clean(r.Message), iid, clean(r.Ref)); err != nil {
				return fmt.Errorf("row %d: %w", r.Num, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: admit rows of file %d: %w", fileID, err)
	}
	return out, nil
}

// claim is who admits a batch, and when.
type claim struct {
	by    string // the file's reader: it claims what it sends
	now   store.Time
	stale store.Time // a booking untouched since is anyone's (see StaleAfter)
	lock  string     // " FOR UPDATE" on PostgreSQL
}

func admit(ctx context.Context, tx *sqlx.Tx, fileID int64, c claim, b Booking) (Decision, error) {
	by, now := c.by, c.now
	d := Decision{IntegratorID: b.IntegratorID}
	body, err := json.Marshal(b.Request)
	if err != nil {
		return d, err
	}
	state := Pending
	if b.Hold != "" {
		state = Held
	}
	var cur struct {
		Status      BookingState `db:"status"`
		Attempts    int          `db:"attempts"`
		Request     string       `db:"request"`
		PreBook     string       `db:"pre_booking_id"`
		MaybeBooked bool         `db:"maybe_booked"`
	}
	read := tx.Rebind(`SELECT status, attempts, request, pre_booking_id, maybe_booked FROM bookings WHERE integrator_id = ?` + c.lock)
	err = tx.GetContext(ctx, &cur, read, b.IntegratorID)
	if errors.Is(err, sql.ErrNoRows) {
		// Another file with the same booking, read side by side, may
		// insert it first: then it is an existing booking (read again
		// once that transaction is through), not a failed file.
		q := tx.Rebind(`INSERT INTO bookings (integrator_id, partner, file_id, first_row, status, request, last_error, claimed_by, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (integrator_id) DO NOTHING`)
		res, ierr := tx.ExecContext(ctx, q, b.IntegratorID, b.Partner, fileID, b.FirstRow, state, string(body), b.Hold, by, now, now)
		if ierr != nil {
			return d, ierr
		}
		if n, ierr := res.RowsAffected(); ierr != nil || n == 1 {
			return d, admitNew(ctx, tx, b, &d, ierr)
		}
		err = tx.GetContext(ctx, &cur, read, b.IntegratorID)
	}
	if err != nil {
		return d, err
	}
	d.PreBookingID = cur.PreBook
	replace := func(status BookingState, resetAttempts bool) error {
		q := `UPDATE bookings SET status = ?, request = ?, file_id = ?, first_row = ?, last_error = ?, claimed_by = ?, updated_at = ?, pruned_at = NULL`
		if resetAttempts {
			q += `, attempts = 0`
		}
		q += ` WHERE integrator_id = ?`
		if _, err := tx.ExecContext(ctx, tx.Rebind(q), status, string(body), fileID, b.FirstRow, b.Hold, by, now, b.IntegratorID); err != nil {
			return err
		}
		return writeItems(ctx, tx, b)
	}
	switch cur.Status {
	case Submitted:
		d.State, d.Duplicate = Submitted, true
		return d, nil
	case Unconfirmed:
		// Sending it again proves nothing more; the nightly run settles it.
		d.State = Unconfirmed
		return d, nil
	case Rejected:
		if cur.Request == string(body) {
			d.State = Rejected // the same request would be refused the same way
			return d, nil
		}
	case Pending, InFlight, Retry:
		if cur.Attempts > 0 {
			// It may have reached Flabs: resend exactly what was sent.
			var stored flabs.BillingRequest
			if err := json.Unmarshal([]byte(cur.Request), &stored); err != nil {
				return d, fmt.Errorf("stored request: %w", err)
			}
			// In flight when a run stopped: that attempt's outcome is unknown.
			maybe := cur.MaybeBooked || cur.Status == InFlight
			// Only if it is this process's, nobody's, or its holder is
			// gone: a live other process may be sending it right now.
			q := tx.Rebind(`UPDATE bookings SET claimed_by = ?, updated_at = ? WHERE integrator_id = ?
	AND (claimed_by = ? OR claimed_by = '' OR updated_at < ? OR ` + goneHolder("bookings") + `)`)
			res, err := tx.ExecContext(ctx, q, by, now, b.IntegratorID, by, c.stale, now)
			if err != nil {
				return d, err
			}
			if n, err := res.RowsAffected(); err != nil {
				return d, err
			} else if n == 0 {
				d.State, d.Elsewhere = cur.Status, true
				return d, nil
			}
			d.Send = &Job{IntegratorID: b.IntegratorID, Partner: b.Partner, Request: &stored, MaybeBooked: maybe}
			return d, nil
		}
	}
	if b.Hold != "" {
		if err := replace(Held, false); err != nil {
			return d, err
		}
		d.State = Held
		return d, nil
	}
	if err := replace(Pending, cur.Status == Failed || cur.Status == Rejected); err != nil {
		return d, err
	}
	d.Send = &Job{IntegratorID: b.IntegratorID, Partner: b.Partner, Request: b.Request}
	return d, nil
}

// admitNew finishes the admission of a booking just inserted (unless err).
func admitNew(ctx context.Context, tx *sqlx.Tx, b Booking, d *Decision, err error) error {
	if err != nil {
		return err
	}
	if err := writeItems(ctx, tx, b); err != nil {
		return err
	}
	if b.Hold != "" {
		d.State = Held
		return nil
	}
	d.Send = &Job{IntegratorID: b.IntegratorID, Partner: b.Partner, Request: b.Request}
	return nil
}

func writeItems(ctx context.Context, tx *sqlx.Tx, b Booking) error {
	if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM booking_tests WHERE integrator_id = ?`), b.IntegratorID); err != nil {
		return err
	}
	q := tx.Rebind(`INSERT INTO booking_tests (integrator_id, position, kind, name, target, target_key, match_how) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	for i, it := range b.Items {
		if _, err := tx.ExecContext(ctx, q, b.IntegratorID, i, it.Kind, it.Name, it.Target, it.TargetKey, it.How); err != nil {
			return err
		}
	}
	return nil
}

// Attempt is what Begin found when it marked a booking in flight.
type Attempt struct {
	N int // this attempt's number
	// MaybeBooked: an earlier attempt's outcome is unknown (it ended with
	// no clear answer, or a process died with it in flight), so a refusal
	// of this one proves nothing.
	MaybeBooked bool
}

// SettledError is Begin's error for a booking already settled (by another
// sender, a moment ago): it is not sent again.
type SettledError struct{ State BookingState }

func (e *SettledError) Error() string { return "already settled: " + string(e.State) }

// Begin marks a booking in flight, before its request. The ledger is the
// truth at this moment: a booking already settled is not sent again
// (*SettledError), one another live process holds is left to it
// (ErrClaimed), and the attempt says whether an earlier one may have
// booked.
func (l *Ledger) Begin(ctx context.Context, integratorID, holder string) (Attempt, error) {
	var a Attempt
	now := l.now()
	q := l.db.Rebind(`UPDATE bookings SET status = ?, attempts = attempts + 1, claimed_by = ?, updated_at = ?,
	maybe_booked = (maybe_booked OR status = ?)
WHERE integrator_id = ? AND status IN (?, ?, ?) AND (claimed_by = ? OR claimed_by = '' OR updated_at < ?)
RETURNING attempts, maybe_booked`)
	err := l.db.QueryRowxContext(ctx, q, InFlight, holder, store.T(now), InFlight, integratorID, Pending, Retry, InFlight,
		holder, store.T(now.Add(-StaleAfter))).Scan(&a.N, &a.MaybeBooked)
	if errors.Is(err, sql.ErrNoRows) {
		var st BookingState
		if err := l.db.GetContext(ctx, &st, l.db.Rebind(`SELECT status FROM bookings WHERE integrator_id = ?`), integratorID); err != nil {
			return a, fmt.Errorf("ledger: mark %s in flight: %w", integratorID, err)
		}
		if st.Final() {
			return a, &SettledError{State: st}
		}
		return a, fmt.Errorf("ledger: %s: %w", integratorID, ErrClaimed)
	}
	if err != nil {
		return a, fmt.Errorf("ledger: mark %s in flight: %w", integratorID, err)
	}
	return a, nil
}

// Sending is Begin's attempt number alone.
func (l *Ledger) Sending(ctx context.Context, integratorID, holder string) (int, error) {
	a, err := l.Begin(ctx, integratorID, holder)
	return a.N, err
}

// ErrClaimed is Begin's (and Sending's) error for a booking another process holds.
var ErrClaimed = errors.New("another process holds this booking")

// Settle records an answer. An answer of r.Holder after another process
// took the booking over (its heartbeat had lapsed) is not recorded: that
// process's state stands (it sent the booking again, marked maybe
// booked), and Settle returns an error wrapping ErrClaimed.
func (l *Ledger) Settle(ctx context.Context, r Result) error {
	now := store.T(l.now())
	var next, submitted any
	if !r.NextAttempt.IsZero() {
		next = store.T(r.NextAttempt)
	}
	if r.State == Submitted {
		submitted = now
	}
	q := l.db.Rebind(`UPDATE bookings SET status = ?, last_http_status = ?, last_error = ?,
	pre_booking_id = CASE WHEN ? <> '' THEN ? ELSE pre_booking_id END,
	next_attempt_at = ?, submitted_at = COALESCE(submitted_at, ?), updated_at = ?,
	maybe_booked = (maybe_booked OR ?)
WHERE integrator_id = ? AND (? = '' OR claimed_by = ?)`)
	res, err := l.db.ExecContext(ctx, q, r.State, r.HTTPStatus, clean(r.Error), r.PreBookingID, r.PreBookingID, next, submitted, now,
		r.MaybeBooked, r.IntegratorID, r.Holder, r.Holder)
	if err != nil {
		return fmt.Errorf("ledger: settle %s as %s: %w", r.IntegratorID, r.State, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 && r.Holder != "" {
		return fmt.Errorf("ledger: settle %s as %s: the answer came too late, %w", r.IntegratorID, r.State, ErrClaimed)
	}
	return nil
}

// FinishFile counts the file's rows by their final state, stores the
// counts and the file's status, and returns them. rowsIn is what the
// reader saw; a mismatch with the rows recorded is an error. A file with
// bookings not final is interrupted; its receipt is queued (they count
// as still with the lab: another process is sending them, or a resume
// will) unless ctx has ended: the run stopped, the file is read again,
// and its receipt goes then. The counts are written even then.
func (l *Ledger) FinishFile(ctx context.Context, fileID int64, rowsIn int) (Counts, error) {
	stopped := ctx.Err() != nil
	ctx = context.WithoutCancel(ctx)
	c := Counts{RowsIn: rowsIn}
	var groups []struct {
		Row     RowStatus      `db:"row_status"`
		Booking sql.NullString `db:"booking_status"`
		N       int            `db:"n"`
	}
	q := l.db.Rebind(`SELECT r.status AS row_status, b.status AS booking_status, COUNT(*) AS n
FROM sheet_rows r LEFT JOIN bookings b ON b.integrator_id = r.integrator_id
WHERE r.file_id = ? GROUP BY r.status, b.status`)
	if err := l.db.SelectContext(ctx, &groups, q, fileID); err != nil {
		return c, fmt.Errorf("ledger: count rows of file %d: %w", fileID, err)
	}
	recorded := 0
	for _, g := range groups {
		recorded += g.N
		switch g.Row {
		case RowRejected:
			c.Rejected += g.N
		case RowSkipped:
			c.Skipped += g.N
		case RowDuplicate:
			c.Duplicate += g.N
		default:
			switch BookingState(g.Booking.String) {
			case Submitted:
				c.Submitted += g.N
			case Rejected:
				c.RejectedFlabs += g.N
			case Failed:
				c.Failed += g.N
			case Held:
				c.Held += g.N
			case Unconfirmed:
				c.Unconfirmed += g.N
			default:
				c.Unfinished += g.N
			}
		}
	}
	status := FileDone
	if c.Unfinished > 0 {
		status = FileInterrupted
	}
	var bad error
	if recorded != rowsIn || !c.Balanced() {
		status = FileUnbalanced
		bad = fmt.Errorf("ledger: file %d: %w: %d rows read, %d recorded (%+v)", fileID, ErrUnbalanced, rowsIn, recorded, c)
	}
	now := store.T(l.now())
	var queued bool
	err := l.db.InTx(ctx, func(tx *sqlx.Tx) error {
		uq := tx.Rebind(`UPDATE files SET status = ?, rows_total = ?, rows_valid = ?, rows_rejected = ?, rows_duplicate = ?, rows_skipped = ?,
	rows_submitted = ?, rows_rejected_flabs = ?, rows_failed = ?, rows_held = ?, rows_unconfirmed = ?, updated_at = ?, finished_at = ? WHERE id = ?
RETURNING partner, name`)
		valid := rowsIn - c.Rejected - c.Skipped
		var partner, name string
		if err := tx.QueryRowxContext(ctx, uq, status, rowsIn, valid, c.Rejected, c.Duplicate, c.Skipped, c.Submitted, c.RejectedFlabs,
			c.Failed, c.Held, c.Unconfirmed, now, now, fileID).Scan(&partner, &name); err != nil {
			return err
		}
		if status == FileInterrupted && stopped { // the file is read again, and its receipt goes then
			return nil
		}
		var err error
		queued, err = l.queueReceipt(ctx, tx, fileID, partner, name, "", now)
		return err
	})
	if err != nil {
		return c, fmt.Errorf("ledger: finish file %d: %w", fileID, err)
	}
	l.queued(queued)
	return c, bad
}

// ErrUnbalanced is wrapped by FinishFile's error when a file's rows do not
// add up: rows in ≠ the sum of their outcomes.
var ErrUnbalanced = errors.New("rows do not balance")

// Moved records where a file went after it was handled (archive/ or
// errors/), so it can be read again (for a partner's reject file).
func (l *Ledger) Moved(ctx context.Context, from, to string) error {
	q := l.db.Rebind(`UPDATE files SET path = ?, updated_at = ? WHERE path = ?`)
	if _, err := l.db.ExecContext(ctx, q, to, store.T(l.now()), from); err != nil {
		return fmt.Errorf("ledger: record move of %s: %w", from, err)
	}
	return nil
}

// Abandon marks the files a process of this name was still reading when
// it stopped (status reading, claimed by name:…) from its processing
// folder (path under folder): the inbox puts such a file back and it is
// read again under a new record. A file it was reading from elsewhere (a
// hand-run import's it took over) stays reading, to be taken over as
// such (Orphans). Returns how many.
func (l *Ledger) Abandon(ctx context.Context, name, folder string) (int64, error) {
	prefix := strings.TrimSuffix(folder, string(filepath.Separator)) + string(filepath.Separator)
	q := l.db.Rebind(`UPDATE files SET status = ?, reason = ?, updated_at = ?
WHERE status = ? AND claimed_by LIKE ? AND substr(path, 1, ?) = ?`)
	res, err := l.db.ExecContext(ctx, q, FileAbandoned, "the process stopped while reading it; the file was taken again", store.T(l.now()), FileReading, name+":%",
		utf8.RuneCountInString(prefix), prefix)
	if err != nil {
		return 0, fmt.Errorf("ledger: abandon files of %s: %w", name, err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// FailFile marks a file that could not be read to its end because of
// cause and queues its receipt, unless cause only says the run stopped
// (the file is read again, and its receipt goes then).
func (l *Ledger) FailFile(ctx context.Context, fileID int64, cause error) error {
	now := store.T(l.now())
	var queued bool
	err := l.db.InTx(ctx, func(tx *sqlx.Tx) error {
		q := tx.Rebind(`UPDATE files SET status = ?, reason = ?, updated_at = ?, finished_at = ? WHERE id = ? RETURNING partner, name`)
		var partner, name string
		if err := tx.QueryRowxContext(ctx, q, FileFailed, shown(cause.Error()), now, now, fileID).Scan(&partner, &name); err != nil {
			return err
		}
		if stopped(cause) {
			return nil
		}
		var err error
		queued, err = l.queueReceipt(ctx, tx, fileID, partner, name, l.clinicReason(name, cause), now)
		return err
	})
	if err != nil {
		return fmt.Errorf("ledger: mark file %d failed: %w", fileID, err)
	}
	l.queued(queued)
	return nil
}

// BookingRecord is one booking's ledger entry, for reports.
type BookingRecord struct {
	IntegratorID string       `db:"integrator_id" json:"integrator_id"`
	Status       BookingState `db:"status" json:"state"`
	Attempts     int          `db:"attempts" json:"attempts"`
	HTTPStatus   int          `db:"last_http_status" json:"http_status,omitempty"`
	Error        string       `db:"last_error" json:"error,omitempty"`
	PreBookingID string       `db:"pre_booking_id" json:"pre_booking_id,omitempty"`
}

// States returns the ledger entries of the given bookings.
func (l *Ledger) States(ctx context.Context, ids []string) (map[string]BookingRecord, error) {
	out := make(map[string]BookingRecord, len(ids))
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(len(ids), start+500)]
		q, args, err := sqlx.In(`SELECT integrator_id, status, attempts, last_http_status, last_error, pre_booking_id
FROM bookings WHERE integrator_id IN (?)`, chunk)
		if err != nil {
			return nil, err
		}
		var rows []BookingRecord
		if err := l.db.SelectContext(ctx, &rows, l.db.Rebind(q), args...); err != nil {
			return nil, fmt.Errorf("ledger: read booking states: %w", err)
		}
		for _, r := range rows {
			out[r.IntegratorID] = r
		}
	}
	return out, nil
}

// clean makes text safe to store on both databases: PostgreSQL refuses a
// NUL byte or invalid UTF-8 in text (and would fail the whole batch with
// it), so they become U+FFFD. Messages are ours, but they may quote a
// cell.
// shown is a reason as the ledger keeps it for people (files.reason, a
// receipt's reason): clean, and fit to leave the ledger (redact.Show: no
// sheet cell's value; a refusal that quotes the first bad row's cells
// keeps where and what, not the cell). The workbook, the digest, the
// receipts, status and the file_refused exception all read it from here.
func shown(s string) string { return redact.Show(clean(s)).String() }

func clean(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
