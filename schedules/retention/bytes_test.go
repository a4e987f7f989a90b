package retention_test

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/schedules/retention"
)

// TestSQLiteBytesErased: erased means erased in the SQLite file: after a
// prune neither the database file nor its WAL holds an erased name or
// phone number anywhere in their bytes (free pages, freeblocks and old
// page images included), while before it they did, and newer data is
// still there.
func TestSQLiteBytesErased(t *testing.T) {
	db := storetest.OpenSQLite(t)
	w := seed(t, db)
	var path string
	if err := db.QueryRowContext(context.Background(), `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path); err != nil {
		t.Fatal(err)
	}
	raw := func() []byte {
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
	before := raw()
	for _, s := range []string{oldName, oldPhone, newName} {
		if !bytes.Contains(before, []byte(s)) {
			t.Fatalf("before the prune, the database bytes lack %q: the test cannot see what it checks", s)
		}
	}
	if _, err := retention.Prune(context.Background(), db, w.cfg, w.now, false); err != nil {
		t.Fatal(err)
	}
	after := raw()
	for _, s := range []string{oldName, oldPhone} {
		if i := bytes.Index(after, []byte(s)); i >= 0 {
			t.Errorf("after the prune, the database bytes still hold %q (offset %d of %d)", s, i, len(after))
		}
	}
	if !bytes.Contains(after, []byte(newName)) {
		t.Errorf("after the prune, data inside the window (%q) is gone from the file", newName)
	}
}
