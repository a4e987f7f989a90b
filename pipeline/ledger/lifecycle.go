package ledger

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/flabsync/flabsync/internal/store"
)

// One file lifecycle for serve and import: every process that reads
// files or sends bookings (serve, a hand-run import) holds a process
// lease, renewed while it works (Heartbeat, KeepAlive). A process whose
// lease has run out is gone: a running serve takes over the files it was
// reading (Orphans, TakeFile, then read on, or CutShort when the file is
// gone) and the bookings it held (Unsettled).

// processLease prefixes a process's lease name: "process:" + holder.
const processLease = "process:"

// DefaultTakeover is how long a process may be silent before its files
// and bookings are taken over, unless WithTakeover says otherwise.
const DefaultTakeover = time.Minute

// WithTakeover sets how long a process may be silent (no heartbeat, its
// records untouched) before another takes over its files and bookings,
// and returns the ledger.
func (l *Ledger) WithTakeover(d time.Duration) *Ledger {
	if d > 0 {
		l.takeover = d
	}
	return l
}

// Takeover is how long a process may be silent before its work is taken over.
func (l *Ledger) Takeover() time.Duration { return l.takeover }

// Heartbeat says holder is alive for the next Takeover.
func (l *Ledger) Heartbeat(ctx context.Context, holder string) error {
	if _, err := l.db.AcquireLease(ctx, processLease+holder, holder, l.takeover, l.now()); err != nil {
		return fmt.Errorf("ledger: heartbeat: %w", err)
	}
	return nil
}

// Heartbeats lists the holders whose process lease is live and whose name
// starts with prefix.
func (l *Ledger) Heartbeats(ctx context.Context, prefix string) ([]string, error) {
	p := processLease + prefix
	var holders []string
	q := l.db.Rebind(`SELECT holder FROM leases WHERE substr(name, 1, ?) = ? AND expires_at > ? ORDER BY holder`)
	if err := l.db.SelectContext(ctx, &holders, q, utf8.RuneCountInString(p), p, store.T(l.now())); err != nil {
		return nil, fmt.Errorf("ledger: heartbeats %s*: %w", prefix, err)
	}
	return holders, nil
}

// EndHeartbeat ends holder's process lease at once: for a process known
// to be gone (an earlier run of the same serve, an import on this machine
// whose process no longer exists), so that what it held is taken over
// now rather than after inbox.takeover_after.
func (l *Ledger) EndHeartbeat(ctx context.Context, holder string) error {
	if _, err := l.db.ExecContext(ctx, l.db.Rebind(`DELETE FROM leases WHERE name = ?`), processLease+holder); err != nil {
		return fmt.Errorf("ledger: end the heartbeat of %s: %w", holder, err)
	}
	return nil
}

// KeepAlive beats for holder every quarter of Takeover until ctx ends,
// then gives the lease up (a graceful end: what holder leaves unsettled
// is taken over after Takeover). A failed beat is reported to onErr (if
// not nil) and tried again at the next.
func (l *Ledger) KeepAlive(ctx context.Context, holder string, onErr func(error)) {
	t := time.NewTicker(max(l.takeover/4, 50*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := l.db.ReleaseLease(context.WithoutCancel(ctx), processLease+holder, holder); err != nil && onErr != nil {
				onErr(err)
			}
			return
		case <-t.C:
			if err := l.Heartbeat(ctx, holder); err != nil && ctx.Err() == nil && onErr != nil {
				onErr(err)
			}
		}
	}
}

// NameAlive reports whether a process named name (holders name:…) holds
// a live lease.
func (l *Ledger) NameAlive(ctx context.Context, name string) (bool, error) {
	prefix := processLease + name + ":"
	var n int
	q := l.db.Rebind(`SELECT COUNT(*) FROM leases WHERE substr(name, 1, ?) = ? AND expires_at > ?`)
	if err := l.db.GetContext(ctx, &n, q, utf8.RuneCountInString(prefix), prefix, store.T(l.now())); err != nil {
		return false, fmt.Errorf("ledger: is %s alive: %w", name, err)
	}
	return n > 0, nil
}

// goneHolder is the SQL condition "the claimer of alias's row holds no
// live process lease", with one parameter: now.
func goneHolder(alias string) string {
	return `NOT EXISTS (SELECT 1 FROM leases lz WHERE lz.name = '` + processLease + `' || ` + alias + `.claimed_by AND lz.expires_at > ?)`
}

// Orphan is a file whose reader is gone before it read it to its end.
type Orphan struct {
	ID      int64  `db:"id"`
	Partner string `db:"partner"`
	Name    string `db:"name"`
	Path    string `db:"path"`
	SHA256  string `db:"sha256"`
	By      string `db:"claimed_by"`
	// LastRow is the last sheet row recorded (0: none).
	LastRow int `db:"last_row"`
	// ReadAgain is a later file with the same content that is being or
	// was read (0: none): nothing of this one is left to do.
	ReadAgain int64 `db:"read_again"`
}

// Orphans returns up to limit files left reading by a process that is
// gone: no live process lease, and the record untouched for Takeover.
// The files of holder itself are never among them (its heartbeat may
// have lapsed while it was busy; it is not gone).
func (l *Ledger) Orphans(ctx context.Context, holder string, limit int) ([]Orphan, error) {
	now := l.now()
	var out []Orphan
	q := l.db.Rebind(`SELECT f.id, f.partner, f.name, f.path, f.sha256, f.claimed_by,
	(SELECT COALESCE(MAX(r.row_num), 0) FROM sheet_rows r WHERE r.file_id = f.id) AS last_row,
	(SELECT COALESCE(MIN(g.id), 0) FROM files g WHERE g.sha256 = f.sha256 AND g.id > f.id AND g.status NOT IN (?, ?, ?)) AS read_again
FROM files f WHERE f.status = ? AND f.claimed_by <> ? AND f.updated_at < ? AND ` + goneHolder("f") + ` ORDER BY f.id LIMIT ?`)
	if err := l.db.SelectContext(ctx, &out, q, FileAbandoned, FileFailed, FileRefused, FileReading, holder,
		store.T(now.Add(-l.takeover)), store.T(now), limit); err != nil {
		return nil, fmt.Errorf("ledger: files whose reader is gone: %w", err)
	}
	return out, nil
}

// TakeFile makes holder the reader of a file another process (from) left
// reading, and reports whether it won: of several processes, one does.
func (l *Ledger) TakeFile(ctx context.Context, id int64, from, holder string) (bool, error) {
	q := l.db.Rebind(`UPDATE files SET claimed_by = ?, updated_at = ? WHERE id = ? AND status = ? AND claimed_by = ?`)
	res, err := l.db.ExecContext(ctx, q, holder, store.T(l.now()), id, FileReading, from)
	if err != nil {
		return false, fmt.Errorf("ledger: take over file %d: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// AbandonFile marks a file holder took over as abandoned, with why
// (read again, or put back in the inbox to be read again).
func (l *Ledger) AbandonFile(ctx context.Context, id int64, holder, reason string) error {
	q := l.db.Rebind(`UPDATE files SET status = ?, reason = ?, updated_at = ? WHERE id = ? AND status = ? AND claimed_by = ?`)
	if _, err := l.db.ExecContext(ctx, q, FileAbandoned, clean(reason), store.T(l.now()), id, FileReading, holder); err != nil {
		return fmt.Errorf("ledger: abandon file %d: %w", id, err)
	}
	return nil
}

// CutShort marks a file holder took over that cannot be read on (it is
// no longer where it was, or its bytes changed) as failed, saying which
// rows were never recorded: a file_refused exception names it until the
// file is imported again or a person closes it.
func (l *Ledger) CutShort(ctx context.Context, o Orphan, holder, why string) error {
	from := "no row was recorded"
	if o.LastRow > 0 {
		from = fmt.Sprintf("rows from %d on (if the file has more) were never recorded", o.LastRow+1)
	}
	reason := fmt.Sprintf("not read to its end: the process reading it (%s) stopped, and %s; %s; import it again (rows already sent are not sent twice)",
		o.By, why, from)
	now := store.T(l.now())
	q := l.db.Rebind(`UPDATE files SET status = ?, reason = ?, updated_at = ?, finished_at = ? WHERE id = ? AND status = ? AND claimed_by = ?`)
	if _, err := l.db.ExecContext(ctx, q, FileFailed, clean(reason), now, now, o.ID, FileReading, holder); err != nil {
		return fmt.Errorf("ledger: mark file %d not read to its end: %w", o.ID, err)
	}
	return nil
}

// ForgetGone deletes the leases of processes silent for over twice
// Takeover (killed ones: a process that ends gives its lease up). Nothing
// reads an expired lease: a process gone and one never seen are alike.
func (l *Ledger) ForgetGone(ctx context.Context) error {
	q := l.db.Rebind(`DELETE FROM leases WHERE substr(name, 1, ?) = ? AND expires_at < ?`)
	if _, err := l.db.ExecContext(ctx, q, utf8.RuneCountInString(processLease), processLease, store.T(l.now().Add(-2*l.takeover))); err != nil {
		return fmt.Errorf("ledger: forget processes gone: %w", err)
	}
	return nil
}
