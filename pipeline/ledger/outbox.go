package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/flabsync/flabsync/internal/store"
)

// Receipts says which files' ends queue a receipt to their clinic. The
// ledger writes a receipt into its outbox (receipt_outbox) in the same
// transaction as the file's final state — read to its end (FinishFile,
// unless the run stopped with bookings not final), a duplicate (RecordDuplicate), not read to its end
// (FailFile, unless the run stopped) or refused by the inbox
// (RecordRefusedFile) — and a sender mails it later, on whichever process
// is alive (ClaimReceipts, ReceiptSent, ReceiptFailed).
type Receipts struct {
	// Wants reports whether partner gets receipts; nil: no receipts.
	Wants func(partner string) bool
	// Reason is what the clinic is told of a file that could not be
	// read, from the reader's error: "" for a fault on the lab's side.
	// Nil: always "".
	Reason func(file string, err error) string
	// Queued, when set, is called after a receipt is committed (to wake
	// the sender). It must not block.
	Queued func()
}

// WithReceipts makes the ledger queue receipts as r says and returns it.
func (l *Ledger) WithReceipts(r Receipts) *Ledger {
	l.receipts = r
	return l
}

// queueReceipt writes the receipt for file fileID (partner's, named
// name) in tx, if the partner gets receipts; reason is what a clinic is
// told of a file not read. It reports whether it wrote one.
func (l *Ledger) queueReceipt(ctx context.Context, tx *sqlx.Tx, fileID int64, partner, name, reason string, now store.Time) (bool, error) {
	if l.receipts.Wants == nil || !l.receipts.Wants(partner) {
		return false, nil
	}
	q := tx.Rebind(`INSERT INTO receipt_outbox (file_id, partner, name, reason, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?)`)
	if _, err := tx.ExecContext(ctx, q, fileID, clean(partner), clean(name), shown(reason), now, now); err != nil {
		return false, fmt.Errorf("queue receipt: %w", err)
	}
	return true, nil
}

// queued tells the sender a receipt was committed.
func (l *Ledger) queued(ok bool) {
	if ok && l.receipts.Queued != nil {
		l.receipts.Queued()
	}
}

// clinicReason is what the clinic is told of file, not read because of err.
func (l *Ledger) clinicReason(file string, err error) string {
	if l.receipts.Reason == nil {
		return ""
	}
	return l.receipts.Reason(file, err)
}

// stopped reports an error that only says the run stopped: the file goes
// back to the inbox and gets its receipt when it is read again.
func stopped(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// RefusedFile is a file the inbox refused, for RecordRefusedFile.
type RefusedFile struct {
	Partner, Name string
	Path          string // where it is now, in errors/
	Reason        string // why, for the lab's staff
	// Told is what the clinic's receipt says: the inbox's reason for a
	// file refused before it was read, "" for a fault on the lab's side.
	Told string
}

// RecordRefusedFile records a file the inbox refused, now at f.Path in
// errors/, with its receipt, unless the ledger already has it there (a
// file refused while it was being read is recorded, with its receipt, by
// FailFile or FinishFile, and moved by Moved).
func (l *Ledger) RecordRefusedFile(ctx context.Context, f RefusedFile) error {
	now := store.T(l.now())
	var queued bool
	err := l.db.InTx(ctx, func(tx *sqlx.Tx) error {
		q := tx.Rebind(`INSERT INTO files (partner, name, path, sha256, status, reason, created_at, updated_at, finished_at)
SELECT ?, ?, ?, '', ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM files WHERE path = ?) RETURNING id`)
		var id int64
		err := tx.QueryRowxContext(ctx, q, clean(f.Partner), clean(f.Name), clean(f.Path), FileRefused, shown(f.Reason), now, now, now, f.Path).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		queued, err = l.queueReceipt(ctx, tx, id, f.Partner, f.Name, f.Told, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("ledger: record refused file %s: %w", f.Name, err)
	}
	l.queued(queued)
	return nil
}

// QueuedReceipt is a receipt claimed from the outbox, to send.
type QueuedReceipt struct {
	ID       int64      `db:"id"`
	FileID   int64      `db:"file_id"`
	Partner  string     `db:"partner"`
	Name     string     `db:"name"`
	Reason   string     `db:"reason"` // what the clinic is told of a file not read
	Attempts int        `db:"attempts"`
	Created  store.Time `db:"created_at"`
}

// ClaimReceipts claims up to limit receipts that are due (not sent, not
// given up, next_at passed, no live claim) for holder until now+lease,
// oldest first, and counts the attempt. Two processes never hold one
// receipt at once: PostgreSQL skips the rows another claim has locked;
// SQLite has one writer.
func (l *Ledger) ClaimReceipts(ctx context.Context, holder string, now time.Time, lease time.Duration, limit int) ([]QueuedReceipt, error) {
	due := `sent_at IS NULL AND given_up_at IS NULL AND next_at <= ? AND (claimed_until IS NULL OR claimed_until < ?)`
	q := `UPDATE receipt_outbox SET claimed_by = ?, claimed_until = ?, attempts = attempts + 1
WHERE id IN (SELECT id FROM receipt_outbox WHERE ` + due + ` ORDER BY id LIMIT ?)
RETURNING id, file_id, partner, name, reason, attempts, created_at`
	if l.db.Dialect() == store.Postgres {
		// The rows are picked (and locked, skipping those another claim
		// holds) once, in a materialised CTE: a LIMIT in an IN subquery
		// may be evaluated more than once and claim more than it says.
		q = `WITH picked AS MATERIALIZED (SELECT id FROM receipt_outbox WHERE ` + due + ` ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED)
UPDATE receipt_outbox r SET claimed_by = ?, claimed_until = ?, attempts = r.attempts + 1 FROM picked WHERE r.id = picked.id
RETURNING r.id, r.file_id, r.partner, r.name, r.reason, r.attempts, r.created_at`
	}
	q = l.db.Rebind(q)
	t, until := store.T(now), store.T(now.Add(lease))
	args := []any{holder, until, t, t, limit}
	if l.db.Dialect() == store.Postgres {
		args = []any{t, t, limit, holder, until}
	}
	var out []QueuedReceipt
	if err := l.db.SelectContext(ctx, &out, q, args...); err != nil {
		return nil, fmt.Errorf("ledger: claim receipts: %w", err)
	}
	return out, nil
}

// ErrReceiptNotHeld is returned by ReceiptSent and ReceiptFailed when
// holder's claim on the receipt had lapsed and another process took it.
var ErrReceiptNotHeld = errors.New("the receipt's claim lapsed and another process holds it")

// ReceiptSent marks a receipt holder claimed as sent.
func (l *Ledger) ReceiptSent(ctx context.Context, id int64, holder string) error {
	q := l.db.Rebind(`UPDATE receipt_outbox SET sent_at = ?, claimed_until = NULL, last_error = '' WHERE id = ? AND claimed_by = ? AND sent_at IS NULL`)
	return l.settleReceipt(ctx, id, q, store.T(l.now()), id, holder)
}

// ReceiptFailed records a failed send of a receipt holder claimed: it is
// due again at next, or, when next is zero, given up.
func (l *Ledger) ReceiptFailed(ctx context.Context, id int64, holder, why string, next time.Time) error {
	now := store.T(l.now())
	var giveUp any
	if next.IsZero() {
		giveUp, next = now, now.Time
	}
	q := l.db.Rebind(`UPDATE receipt_outbox SET last_error = ?, next_at = ?, given_up_at = ?, claimed_until = NULL
WHERE id = ? AND claimed_by = ? AND sent_at IS NULL`)
	return l.settleReceipt(ctx, id, q, clean(why), store.T(next), giveUp, id, holder)
}

// ReleaseReceipts gives up holder's claims on receipts it has not sent
// (a sender stopping), so that another process takes them at once.
func (l *Ledger) ReleaseReceipts(ctx context.Context, holder string) error {
	q := l.db.Rebind(`UPDATE receipt_outbox SET claimed_until = NULL, attempts = attempts - 1
WHERE claimed_by = ? AND claimed_until IS NOT NULL AND sent_at IS NULL AND given_up_at IS NULL`)
	if _, err := l.db.ExecContext(ctx, q, holder); err != nil {
		return fmt.Errorf("ledger: release receipts of %s: %w", holder, err)
	}
	return nil
}

func (l *Ledger) settleReceipt(ctx context.Context, id int64, q string, args ...any) error {
	res, err := l.db.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("ledger: receipt %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("ledger: receipt %d: %w", id, ErrReceiptNotHeld)
	}
	return nil
}

// ReceiptBacklog is the outbox's state, for `flabsync status`.
type ReceiptBacklog struct {
	Unsent  int       `json:"unsent"`                 // queued, not yet sent (nor given up)
	Oldest  time.Time `json:"oldest_unsent,omitzero"` // when the oldest unsent one was queued
	GivenUp int       `json:"given_up,omitempty"`     // every attempt failed
}

// Receipts returns the outbox's backlog.
func (l *Ledger) Receipts(ctx context.Context) (ReceiptBacklog, error) {
	var r struct {
		Unsent  int        `db:"unsent"`
		Oldest  store.Time `db:"oldest"`
		GivenUp int        `db:"given_up"`
	}
	q := `SELECT COALESCE(SUM(CASE WHEN sent_at IS NULL AND given_up_at IS NULL THEN 1 ELSE 0 END), 0) AS unsent,
	MIN(CASE WHEN sent_at IS NULL AND given_up_at IS NULL THEN created_at END) AS oldest,
	COALESCE(SUM(CASE WHEN given_up_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS given_up
FROM receipt_outbox`
	if err := l.db.GetContext(ctx, &r, q); err != nil {
		return ReceiptBacklog{}, fmt.Errorf("ledger: receipts backlog: %w", err)
	}
	return ReceiptBacklog{Unsent: r.Unsent, Oldest: r.Oldest.Time, GivenUp: r.GivenUp}, nil
}

// UnsentReceipts counts the receipts of the given files not yet sent
// (nor given up): what a hand-run import waits for.
func (l *Ledger) UnsentReceipts(ctx context.Context, fileIDs []int64) (int, error) {
	if len(fileIDs) == 0 {
		return 0, nil
	}
	q, args, err := sqlx.In(`SELECT COUNT(*) FROM receipt_outbox WHERE file_id IN (?) AND sent_at IS NULL AND given_up_at IS NULL`, fileIDs)
	if err != nil {
		return 0, err
	}
	var n int
	if err := l.db.GetContext(ctx, &n, l.db.Rebind(q), args...); err != nil {
		return 0, fmt.Errorf("ledger: unsent receipts: %w", err)
	}
	return n, nil
}
