package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
)

func TestOpenMigratesAndReopens(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sub", "dir", "flabsync.db")
	db, err := store.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := db.SchemaVersion(ctx)
	if err != nil || v < 1 {
		t.Fatalf("SchemaVersion = %d, %v; want >= 1", v, err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES ('x', 'h', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err = store.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	v2, _ := db.SchemaVersion(ctx)
	if v2 != v {
		t.Errorf("reopen changed schema version %d -> %d", v, v2)
	}
	leases, err := db.Leases(ctx)
	if err != nil || len(leases) != 1 {
		t.Errorf("data lost across reopen: %v, %v", leases, err)
	}
	var mode string
	if err := db.GetContext(ctx, &mode, "PRAGMA journal_mode"); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}

func TestOpenErrorsAreOneClearSentence(t *testing.T) {
	ctx := t.Context()
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dsn  string
		want       []string
		notWant    string
		unreachble bool
	}{
		{"postgres down", "postgres://flabsync:hunter2@127.0.0.1:1/flabsync?sslmode=disable", []string{"cannot reach PostgreSQL", "127.0.0.1:1", "xxxxx"}, "hunter2", true},
		{"sqlite under a file", "sqlite:" + filepath.Join(blocker, "x.db"), []string{"open database sqlite:"}, "", true},
		{"unknown scheme", "mysql://x", []string{"want sqlite:PATH or postgres://"}, "", false},
		{"empty sqlite", "sqlite:", []string{"needs a file path"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := store.Open(ctx, tt.dsn)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%q) succeeded", tt.dsn)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if tt.notWant != "" && strings.Contains(msg, tt.notWant) {
				t.Errorf("error %q shows the password", msg)
			}
			if strings.Count(msg, "\n") > 0 {
				t.Errorf("error spans lines: %q", msg)
			}
			if errors.Is(err, store.ErrUnreachable) != tt.unreachble {
				t.Errorf("errors.Is(ErrUnreachable) = %v, want %v", !tt.unreachble, tt.unreachble)
			}
		})
	}
}

// The same migrations must give the same tables and columns on both
// backends; otherwise code tested on SQLite breaks on PostgreSQL.
func TestSchemaParity(t *testing.T) {
	lite := columns(t, storetest.OpenSQLite(t))
	if len(lite) < 15 {
		t.Fatalf("SQLite has %d tables, want the full schema: %v", len(lite), lite)
	}
	for _, want := range []string{"files", "sheet_rows", "bookings", "booking_tests", "mappings", "catalogue", "labs", "webhook_raw", "webhook_events", "booking_state", "exceptions", "job_runs", "leases"} {
		if _, ok := lite[want]; !ok {
			t.Errorf("schema lacks table %s", want)
		}
	}
	pg := columns(t, storetest.OpenPostgres(t))
	if !reflect.DeepEqual(lite, pg) {
		for table, cols := range lite {
			if !reflect.DeepEqual(cols, pg[table]) {
				t.Errorf("table %s: sqlite %v, postgres %v", table, cols, pg[table])
			}
		}
		for table := range pg {
			if _, ok := lite[table]; !ok {
				t.Errorf("table %s only on postgres", table)
			}
		}
	}
}

func columns(t *testing.T, db *store.DB) map[string][]string {
	t.Helper()
	ctx := t.Context()
	var rows []struct {
		Table  string `db:"tbl"`
		Column string `db:"col"`
	}
	var q string
	if db.Dialect() == store.SQLite {
		q = `SELECT m.name AS tbl, p.name AS col FROM sqlite_master m, pragma_table_info(m.name) p
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> 'goose_db_version'`
	} else {
		q = `SELECT table_name AS tbl, column_name AS col FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name <> 'goose_db_version'`
	}
	if err := db.SelectContext(ctx, &rows, q); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, r := range rows {
		out[r.Table] = append(out[r.Table], r.Column)
	}
	for _, c := range out {
		sort.Strings(c)
	}
	return out
}

func TestInTx(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		insert := func(tx *sqlx.Tx, name string) error {
			_, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES (?, 'h', ?, ?)`), name, store.T(time.Now()), store.T(time.Now()))
			return err
		}
		if err := db.InTx(ctx, func(tx *sqlx.Tx) error { return insert(tx, "committed") }); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		err := db.InTx(ctx, func(tx *sqlx.Tx) error {
			if err := insert(tx, "rolled-back"); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Errorf("InTx error = %v, want the callback's error", err)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Error("InTx swallowed a panic")
				}
			}()
			_ = db.InTx(ctx, func(tx *sqlx.Tx) error {
				_ = insert(tx, "panicked")
				panic("callback panic")
			})
		}()
		leases, err := db.Leases(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(leases) != 1 || leases[0].Name != "committed" {
			t.Errorf("after commit, error and panic: leases = %+v, want only 'committed'", leases)
		}
	})
}

func TestForeignKeysEnforced(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		_, err := db.ExecContext(t.Context(), db.Rebind(`INSERT INTO sheet_rows (file_id, sheet, row_num, status) VALUES (?, '', 2, 'valid')`), 999)
		if err == nil {
			t.Error("a row for a file that does not exist was accepted")
		}
	})
}

func TestTimeRoundTripAndOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		ist := time.FixedZone("IST", 5*3600+1800)
		base := time.Date(2026, 11, 25, 23, 59, 59, 123456789, ist)
		times := []time.Time{base, base.Add(-time.Hour), base.Add(9 * time.Second), base.Add(time.Microsecond)}
		for i, tm := range times {
			if _, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES (?, 'h', ?, ?)`), fmt.Sprint(i), store.T(tm), store.T(tm)); err != nil {
				t.Fatal(err)
			}
		}
		var got store.Time
		if err := db.GetContext(ctx, &got, db.Rebind(`SELECT acquired_at FROM leases WHERE name = ?`), "0"); err != nil {
			t.Fatal(err)
		}
		want := base.UTC().Truncate(time.Microsecond)
		if !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("round trip: got %v, want %v in UTC", got.Time, want)
		}
		var order []string
		if err := db.SelectContext(ctx, &order, db.Rebind(`SELECT name FROM leases WHERE expires_at > ? ORDER BY expires_at`), store.T(base.Add(-time.Minute))); err != nil {
			t.Fatal(err)
		}
		if want := []string{"0", "3", "2"}; !reflect.DeepEqual(order, want) {
			t.Errorf("time order = %v, want %v", order, want)
		}
		var null store.Time
		if err := db.GetContext(ctx, &null, `SELECT finished_at FROM job_runs UNION ALL SELECT NULL`); err != nil || !null.IsZero() {
			t.Errorf("NULL time = %v, %v; want zero", null, err)
		}
	})
}

func TestLeases(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		now := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
		step := func(holder string, at time.Time, want bool) {
			t.Helper()
			got, err := db.AcquireLease(ctx, "nightly", holder, time.Minute, at)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s acquire at %s = %v, want %v", holder, at.Format("15:04:05"), got, want)
			}
		}
		step("a", now, true)
		step("b", now.Add(30*time.Second), false) // held by a
		step("a", now.Add(50*time.Second), true)  // renewal
		step("b", now.Add(100*time.Second), false)
		step("b", now.Add(111*time.Second), true) // a's renewal expired at 110s
		if err := db.ReleaseLease(ctx, "nightly", "a"); err != nil {
			t.Fatal(err)
		}
		step("a", now.Add(112*time.Second), false) // a cannot release b's lease
		if err := db.ReleaseLease(ctx, "nightly", "b"); err != nil {
			t.Fatal(err)
		}
		step("a", now.Add(113*time.Second), true)
	})
}

// Many processes racing for one job: exactly one may run it.
func TestLeaseRace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		now := time.Now()
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins int
		)
		for i := range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := db.AcquireLease(ctx, "reconcile", fmt.Sprintf("host-%d", i), time.Minute, now)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Errorf("%d holders won the same lease, want 1", wins)
		}
	})
}

func TestJobRuns(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		t0 := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
		id1, err := db.StartJobRun(ctx, "reconcile", "host-a", t0)
		if err != nil {
			t.Fatal(err)
		}
		id2, err := db.StartJobRun(ctx, "reconcile", "host-a", t0.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.StartJobRun(ctx, "inbox", "host-a", t0); err != nil {
			t.Fatal(err)
		}
		if err := db.FinishJobRun(ctx, id1, store.JobPartial, "3 exceptions", "", t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := db.FinishJobRun(ctx, 424242, store.JobOK, "", "", t0); err == nil {
			t.Error("finishing a run that does not exist succeeded")
		}
		runs, err := db.JobRuns(ctx, "reconcile", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 2 || runs[0].ID != id2 || runs[1].ID != id1 {
			t.Fatalf("runs = %+v, want newest first [%d %d]", runs, id2, id1)
		}
		r := runs[1]
		if r.Status != store.JobPartial || r.Summary != "3 exceptions" || !r.FinishedAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("finished run = %+v", r)
		}
		if runs[0].Status != store.JobRunning || !runs[0].FinishedAt.IsZero() {
			t.Errorf("running run = %+v", runs[0])
		}
		all, _ := db.JobRuns(ctx, "", 10)
		if len(all) != 3 {
			t.Errorf("all runs = %d, want 3", len(all))
		}
	})
}

// SQLite serialises writers; with busy_timeout and immediate transactions
// concurrent writers queue instead of failing with "database is locked".
func TestConcurrentWriters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 25 {
					err := db.InTx(ctx, func(tx *sqlx.Tx) error {
						var n int
						if err := tx.GetContext(ctx, &n, `SELECT COUNT(*) FROM leases`); err != nil {
							return err
						}
						_, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES (?, 'h', ?, ?)`), fmt.Sprintf("%d-%d", w, i), store.T(time.Now()), store.T(time.Now()))
						return err
					})
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("concurrent write: %v", err)
		}
		var n int
		if err := db.GetContext(ctx, &n, `SELECT COUNT(*) FROM leases`); err != nil || n != 200 {
			t.Errorf("rows = %d, %v; want 200", n, err)
		}
	})
}

// TestSQLiteFilesAreOwnerOnly: the ledger holds patient data; its file
// and the -wal and -shm beside it are created 0600 whatever the umask.
func TestSQLiteFilesAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "flabsync.db")
	db, err := store.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.StartJobRun(context.Background(), "import", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(p), err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s is %v, want -rw-------", filepath.Base(p), mode)
		}
	}
}
