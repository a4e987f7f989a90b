package store

import (
	"context"
	"fmt"
)

// Scrubbed says what Scrub did.
type Scrubbed struct {
	// Rewritten is true when the database file was rewritten (SQLite).
	Rewritten bool
	// WALBusy is true when a reader held an old snapshot, so the WAL could
	// not be truncated: copies of erased pages may stay in the -wal file
	// until the next Scrub.
	WALBusy bool
}

// Scrub makes erased data leave the database's bytes, after a prune.
//
// On SQLite secure_delete zeroes a deleted or shrunk row, but not every
// copy of it: when a b-tree page is rebuilt (a page split or merge), the
// rows are packed anew and the page's unallocated middle keeps what was
// there, stale copies of rows included. A row erased later leaves such a
// copy behind in a live page, where neither secure_delete nor a WAL
// checkpoint reaches it (a review found 23 of 3,000 names after a prune).
// Scrub therefore rewrites the whole file with VACUUM (every page built
// afresh, holding only live rows), then checkpoints and truncates the WAL
// so no older page image is left there either. VACUUM holds the write
// lock while it runs (writers wait on busy_timeout, 10 s) and needs free
// disk about the size of the database; the time it takes is in
// BENCHMARKS.md (a year of data).
//
// On PostgreSQL it does nothing: erased row versions stay in the table
// files until autovacuum reuses their space; VACUUM FULL rewrites a table
// (docs/operations.md, retention).
func (db *DB) Scrub(ctx context.Context) (Scrubbed, error) {
	var s Scrubbed
	if db.dialect != SQLite {
		return s, nil
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return s, fmt.Errorf("scrub %s: %w", db.name, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `VACUUM`); err != nil {
		return s, fmt.Errorf("scrub %s: vacuum: %w", db.name, err)
	}
	s.Rewritten = true
	s.WALBusy, err = db.TruncateWAL(ctx)
	return s, err
}

// TruncateWAL checkpoints SQLite's WAL into the database file and
// truncates it, so no older page image stays in the -wal file; busy
// reports a reader holding an old snapshot, which kept it from finishing.
// Cheap when there is little to checkpoint: a prune that erased nothing
// still runs it, to finish an earlier one a reader kept busy. On
// PostgreSQL it does nothing.
func (db *DB) TruncateWAL(ctx context.Context) (busy bool, err error) {
	if db.dialect != SQLite {
		return false, nil
	}
	var b, frames, done int
	if err := db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&b, &frames, &done); err != nil {
		return false, fmt.Errorf("checkpoint the WAL of %s: %w", db.name, err)
	}
	return b != 0, nil
}
