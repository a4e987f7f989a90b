package ledger

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/flabsync/flabsync/internal/store"
)

// DefaultPruneBatch is how many bookings (or files' rows) one prune
// transaction erases.
const DefaultPruneBatch = 5000

// PruneOptions tunes Prune.
type PruneOptions struct {
	// Batch is how many bookings, or files, one transaction erases
	// (default DefaultPruneBatch). Each batch commits on its own: a prune
	// stopped half-way leaves every batch either erased and marked, or
	// untouched, and the next prune goes on from there.
	Batch int
	// Progress, if set, hears the running totals after each committed
	// batch.
	Progress func(Pruned)
}

// Pruned counts what Prune erased, or what CountPrunable found to erase.
type Pruned struct {
	Bookings  int64 `json:"bookings"`   // requests cut down to their IDs
	Files     int64 `json:"files"`      // files whose rows were erased
	SheetRows int64 `json:"sheet_rows"` // rows whose message or reference was erased
}

// prunable are the booking states whose request is no longer needed: the
// run has ended. Pending, in-flight and retrying bookings keep theirs,
// whatever their age: it is what a resend sends.
var prunable = []BookingState{Submitted, Rejected, Failed, Held, Unconfirmed}

// Prune erases the patient data of what the ledger recorded before
// before, and marks it (pruned_at) so that it is erased once:
//
//   - a settled booking last touched before then keeps its IDs, lab, lead
//     source, tests and packages, states, dates, counts and the last HTTP
//     status; its stored request loses patient_details and barCode, and
//     its last error is blanked (flabsync no longer keeps Flabs' words
//     there, but older versions did, and they may echo the patient);
//   - a file received before then keeps its name, status, reason and
//     counts; its rows lose their message and booking reference (both may
//     quote cells), and their sheet's name (clinics name tabs after
//     patients) becomes its position, "#1", "#2", … in name order. A
//     refused file's reason is kept: it is the fact of its file_refused
//     exception, which stays open until the same file comes again and is
//     read, and a closed exception whose fact changed would come back.
//
// Work goes in batches of opt.Batch, each its own transaction.
func (l *Ledger) Prune(ctx context.Context, before time.Time, opt PruneOptions) (Pruned, error) {
	var p Pruned
	batch := opt.Batch
	if batch <= 0 {
		batch = DefaultPruneBatch
	}
	day := before.UTC().Format(time.DateOnly)
	for {
		n, err := l.pruneBookings(ctx, before, batch)
		if err != nil {
			return p, fmt.Errorf("ledger: prune bookings before %s: %w", day, err)
		}
		p.Bookings += n
		if n == 0 {
			break
		}
		if opt.Progress != nil {
			opt.Progress(p)
		}
	}
	for {
		files, rows, err := l.pruneFiles(ctx, before, batch)
		if err != nil {
			return p, fmt.Errorf("ledger: prune rows of files before %s: %w", day, err)
		}
		p.Files, p.SheetRows = p.Files+files, p.SheetRows+rows
		if files == 0 {
			break
		}
		if opt.Progress != nil {
			opt.Progress(p)
		}
	}
	return p, nil
}

// erasedRequest is the request with its patient fields removed, as SQL.
func erasedRequest(d store.Dialect) string {
	if d == store.Postgres {
		return `CASE WHEN request LIKE '{%' THEN (CAST(request AS JSONB) - 'patient_details' - 'barCode')::TEXT ELSE '' END`
	}
	return `CASE WHEN json_valid(request) THEN json_remove(request, '$.patient_details', '$.barCode') ELSE '' END`
}

// pruneBookings erases one batch of bookings in one statement (its own
// transaction) and returns how many.
func (l *Ledger) pruneBookings(ctx context.Context, before time.Time, batch int) (int64, error) {
	q, args, err := sqlx.In(`UPDATE bookings SET request = `+erasedRequest(l.db.Dialect())+`, last_error = '', pruned_at = ?
WHERE integrator_id IN (SELECT integrator_id FROM bookings
	WHERE pruned_at IS NULL AND updated_at < ? AND status IN (?) ORDER BY updated_at LIMIT ?)`,
		store.T(l.now()), store.T(before), prunable, batch)
	if err != nil {
		return 0, err
	}
	res, err := l.db.ExecContext(ctx, l.db.Rebind(q), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// pruneFiles erases the rows of one batch of files, and marks the files,
// in one transaction. A file still being read is left for later.
func (l *Ledger) pruneFiles(ctx context.Context, before time.Time, batch int) (files, rows int64, err error) {
	err = l.db.InTx(ctx, func(tx *sqlx.Tx) error {
		files, rows = 0, 0
		var ids []int64
		q := tx.Rebind(`SELECT id FROM files WHERE pruned_at IS NULL AND created_at < ? AND status <> ? ORDER BY created_at LIMIT ?`)
		if err := tx.SelectContext(ctx, &ids, q, store.T(before), FileReading, batch); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		q, args, err := sqlx.In(`UPDATE sheet_rows SET message = '', ref = '' WHERE file_id IN (?) AND (message <> '' OR ref <> '')`, ids)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, tx.Rebind(q), args...)
		if err != nil {
			return err
		}
		if rows, err = res.RowsAffected(); err != nil {
			return err
		}
		if err := sheetsToPositions(ctx, tx, ids); err != nil {
			return err
		}
		q, args, err = sqlx.In(`UPDATE files SET pruned_at = ? WHERE id IN (?)`, store.T(l.now()), ids)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(q), args...); err != nil {
			return err
		}
		files = int64(len(ids))
		return nil
	})
	return files, rows, err
}

// CountPrunable counts what Prune(ctx, before, …) would erase, changing
// nothing: a dry run.
func (l *Ledger) CountPrunable(ctx context.Context, before time.Time) (Pruned, error) {
	var p Pruned
	q, args, err := sqlx.In(`SELECT COUNT(*) FROM bookings WHERE pruned_at IS NULL AND updated_at < ? AND status IN (?)`, store.T(before), prunable)
	if err != nil {
		return p, err
	}
	err = errors.Join(
		l.db.GetContext(ctx, &p.Bookings, l.db.Rebind(q), args...),
		l.db.GetContext(ctx, &p.Files, l.db.Rebind(`SELECT COUNT(*) FROM files WHERE pruned_at IS NULL AND created_at < ? AND status <> ?`),
			store.T(before), FileReading),
		l.db.GetContext(ctx, &p.SheetRows, l.db.Rebind(`SELECT COUNT(*) FROM sheet_rows r JOIN files f ON f.id = r.file_id
WHERE f.pruned_at IS NULL AND f.created_at < ? AND f.status <> ? AND (r.message <> '' OR r.ref <> '')`), store.T(before), FileReading),
	)
	if err != nil {
		return p, fmt.Errorf("ledger: count what to prune before %s: %w", before.UTC().Format(time.DateOnly), err)
	}
	return p, nil
}

// ReceivedAt returns when the ledger received the files now at the given
// paths (archive/ or errors/), for those it knows.
func (l *Ledger) ReceivedAt(ctx context.Context, paths []string) (map[string]time.Time, error) {
	out := make(map[string]time.Time, len(paths))
	for start := 0; start < len(paths); start += 500 {
		chunk := paths[start:min(len(paths), start+500)]
		q, args, err := sqlx.In(`SELECT path, MAX(created_at) AS at FROM files WHERE path IN (?) GROUP BY path`, chunk)
		if err != nil {
			return nil, err
		}
		var rows []struct {
			Path string     `db:"path"`
			At   store.Time `db:"at"`
		}
		if err := l.db.SelectContext(ctx, &rows, l.db.Rebind(q), args...); err != nil {
			return nil, fmt.Errorf("ledger: read when files were received: %w", err)
		}
		for _, r := range rows {
			out[r.Path] = r.At.Time
		}
	}
	return out, nil
}

// sheetsToPositions renames the sheets of the files ids to their
// positions in name order ("#1", "#2", …), in two steps so that no
// rename meets a name still to be renamed.
func sheetsToPositions(ctx context.Context, tx *sqlx.Tx, ids []int64) error {
	q, args, err := sqlx.In(`SELECT DISTINCT file_id, sheet FROM sheet_rows WHERE file_id IN (?) AND sheet <> '' ORDER BY file_id, sheet`, ids)
	if err != nil {
		return err
	}
	type fileSheet struct {
		FileID int64  `db:"file_id"`
		Sheet  string `db:"sheet"`
	}
	var sheets []fileSheet
	if err := tx.SelectContext(ctx, &sheets, tx.Rebind(q), args...); err != nil {
		return err
	}
	// Byte order, whatever the database's collation (PostgreSQL's
	// follows the server's locale), as the rules' sheetPos counts.
	slices.SortFunc(sheets, func(a, b fileSheet) int {
		return cmp.Or(cmp.Compare(a.FileID, b.FileID), strings.Compare(a.Sheet, b.Sheet))
	})
	const temp = "\x01" // no sheet name holds a control character (the reader refuses them)
	rename := tx.Rebind(`UPDATE sheet_rows SET sheet = ? WHERE file_id = ? AND sheet = ?`)
	pos, last := 0, int64(-1)
	for _, s := range sheets {
		if s.FileID != last {
			pos, last = 0, s.FileID
		}
		pos++
		if _, err := tx.ExecContext(ctx, rename, fmt.Sprintf("%s#%d", temp, pos), s.FileID, s.Sheet); err != nil {
			return fmt.Errorf("rename sheet of file %d: %w", s.FileID, err)
		}
	}
	q, args, err = sqlx.In(`UPDATE sheet_rows SET sheet = SUBSTR(sheet, 2) WHERE file_id IN (?) AND sheet LIKE ?`, ids, temp+"#%")
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, tx.Rebind(q), args...)
	return err
}
