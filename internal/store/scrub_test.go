package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"testing"

	"github.com/flabsync/flabsync/internal/store/storetest"
)

// TestScrubLeavesNoStaleCopy: rows written, rewritten (page splits and
// merges leave stale copies of rows in live pages' unallocated space) and
// then erased as a prune erases them leave their names in the SQLite file
// with secure_delete alone; after Scrub no erased name is in the database
// or WAL bytes, and every kept row is still there, intact.
func TestScrubLeavesNoStaleCopy(t *testing.T) {
	ctx := t.Context()
	db := storetest.OpenSQLite(t)
	path := dbPath(t, db)
	if _, err := db.ExecContext(ctx, `CREATE TABLE churn (id TEXT PRIMARY KEY, state TEXT NOT NULL, request TEXT NOT NULL,
	claimed_by TEXT NOT NULL DEFAULT '', booked_id TEXT NOT NULL DEFAULT '', at TEXT)`); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	for i := range n {
		req := fmt.Sprintf(`{"patient_details":{"first_name":"Zqname%04[1]d","last_name":"Yqlast%04[1]d","gender":"male","age":%[2]d},"integrator_id":"acme:AC-%[1]d","lead_source":"partner sheet","mapped_tests":[{"id":"64f000000000000000000001"}],"barCode":"BQ%06[1]d"}`,
			i, 18+i%70)
		if _, err := db.ExecContext(ctx, `INSERT INTO churn (id, state, request) VALUES (?, 'pending', ?)`, fmt.Sprintf("acme:AC-%d", i), req); err != nil {
			t.Fatal(err)
		}
	}
	// Each row is claimed, then booked, growing as a booking does, in
	// an order of their own (workers answer out of order).
	for _, i := range rand.New(rand.NewPCG(1, 2)).Perm(n) {
		id := fmt.Sprintf("acme:AC-%d", i)
		if _, err := db.ExecContext(ctx, `UPDATE churn SET state = 'in_flight', claimed_by = 'host:12345', at = '2026-12-06T21:28:01.274751Z', booked_id = '2026-12-06T21:28:01.274751Z' WHERE id = ?`, id); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `UPDATE churn SET state = 'submitted', claimed_by = '', booked_id = '054b5e50a871693500000' || ? WHERE id = ?`, i, id); err != nil {
			t.Fatal(err)
		}
	}
	// Erase the patient details of two thirds, as a prune does.
	if _, err := db.ExecContext(ctx, `UPDATE churn SET request = json_remove(request, '$.patient_details', '$.barCode') WHERE rowid % 3 <> 0`); err != nil {
		t.Fatal(err)
	}
	var erased, kept []string
	rows, err := db.QueryxContext(ctx, `SELECT id, request FROM churn`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, req string
		if err := rows.Scan(&id, &req); err != nil {
			t.Fatal(err)
		}
		if m := regexp.MustCompile(`Zqname\d+`).FindString(req); m != "" {
			kept = append(kept, m)
		}
		_ = id
	}
	rows.Close()
	for i := range n {
		name := fmt.Sprintf("Zqname%04d", i)
		if !contains(kept, name) {
			erased = append(erased, name)
		}
	}
	if len(erased) < 1500 || len(kept) < 500 {
		t.Fatalf("erased %d, kept %d: the test's data is not what it checks", len(erased), len(kept))
	}
	left := func() []string {
		t.Helper()
		all := readDB(t, path)
		var found []string
		for _, s := range erased {
			if bytes.Contains(all, []byte(s)) {
				found = append(found, s)
			}
		}
		return found
	}
	if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	if stale := left(); len(stale) == 0 {
		t.Fatal("with secure_delete alone no erased name is left in the file: the test no longer shows what Scrub is for")
	} else {
		t.Logf("with secure_delete and a truncated WAL alone, %d of %d erased names are still in the file", len(stale), len(erased))
	}

	s, err := db.Scrub(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Rewritten || s.WALBusy {
		t.Errorf("Scrub = %+v; want the file rewritten and the WAL truncated", s)
	}
	if found := left(); len(found) > 0 {
		t.Errorf("after Scrub, %d erased names are still in the database bytes, e.g. %q", len(found), found[0])
	}
	all := readDB(t, path)
	for _, s := range kept {
		if !bytes.Contains(all, []byte(s)) {
			t.Fatalf("after Scrub, the kept row holding %q is gone", s)
		}
	}
	var count int
	if err := db.GetContext(ctx, &count, `SELECT COUNT(*) FROM churn WHERE state = 'submitted'`); err != nil || count != n {
		t.Errorf("after Scrub, %d rows (%v); want %d", count, err, n)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func readDB(t *testing.T, path string) []byte {
	t.Helper()
	var all []byte
	for _, p := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func dbPath(t *testing.T, db interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}) string {
	t.Helper()
	var path string
	if err := db.QueryRowContext(t.Context(), `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTruncateWAL: what was written sits in the -wal file until
// TruncateWAL checkpoints it into the database and empties the -wal file
// (a prune that erased nothing still runs it, to finish one a reader kept
// busy).
func TestTruncateWAL(t *testing.T) {
	ctx := t.Context()
	db := storetest.OpenSQLite(t)
	path := dbPath(t, db)
	if _, err := db.ExecContext(ctx, `CREATE TABLE w (x TEXT); INSERT INTO w VALUES ('Zqname-in-the-wal')`); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path + "-wal"); !bytes.Contains(b, []byte("Zqname-in-the-wal")) {
		t.Fatal("the write is not in the -wal file: the test cannot see what it checks")
	}
	busy, err := db.TruncateWAL(ctx)
	if err != nil || busy {
		t.Fatalf("TruncateWAL = %v, %v", busy, err)
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() != 0 {
		t.Errorf("the -wal file holds %d bytes after TruncateWAL", fi.Size())
	}
	if b, _ := os.ReadFile(path); !bytes.Contains(b, []byte("Zqname-in-the-wal")) {
		t.Error("the checkpoint did not reach the database file")
	}
}
