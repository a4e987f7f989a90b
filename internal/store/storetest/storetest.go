// Package storetest opens real test databases: a SQLite file in the test's
// temporary directory, and a fresh schema on the PostgreSQL named by
// $FLABSYNC_TEST_POSTGRES. Tests that need PostgreSQL skip with a message
// saying how to enable them when it is not set.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/store"
)

// EnvPostgres names the environment variable holding the PostgreSQL URL
// used by tests, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const EnvPostgres = "FLABSYNC_TEST_POSTGRES"

// Backend opens a fresh, migrated database for one test.
type Backend struct {
	Name string
	Open func(tb testing.TB) *store.DB
}

// Backends lists SQLite and PostgreSQL. Run every store-touching test on
// each, so the two schemas cannot drift.
func Backends() []Backend {
	return []Backend{{"sqlite", OpenSQLite}, {"postgres", OpenPostgres}}
}

// Each runs fn as a subtest on every backend.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, b := range Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, b.Open(t)) })
	}
}

// OpenSQLite opens a migrated SQLite file in tb's temporary directory.
func OpenSQLite(tb testing.TB) *store.DB {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "flabsync.db")
	db, err := store.Open(ctx(tb), "sqlite:"+path)
	if err != nil {
		tb.Fatalf("open test SQLite: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// PostgresURL returns the test PostgreSQL URL, skipping tb when unset.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(EnvPostgres)
	if dsn == "" {
		tb.Skipf("PostgreSQL tests skipped: set %s=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run them (.ci/run does)", EnvPostgres)
	}
	return dsn
}

// OpenPostgres creates a schema of its own on the test PostgreSQL, opens a
// migrated store in it and drops it when tb ends.
func OpenPostgres(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(ctx(tb), PostgresSchemaURL(tb))
	if err != nil {
		tb.Fatalf("open test PostgreSQL schema: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// PostgresSchemaURL creates a schema of its own on the test PostgreSQL
// and returns a URL whose connections use it (search_path), for tests
// that hand a database to child processes. The schema is dropped when tb
// ends.
func PostgresSchemaURL(tb testing.TB) string {
	tb.Helper()
	dsn := PostgresURL(tb)
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		tb.Fatalf("open test PostgreSQL: %v", err)
	}
	tb.Cleanup(func() { admin.Close() })
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "flabsync_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx(tb), "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("create test schema on %s: %v", EnvPostgres, err)
	}
	tb.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(c, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop test schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("%s: %v", EnvPostgres, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func ctx(tb testing.TB) context.Context {
	if t, ok := tb.(interface{ Context() context.Context }); ok {
		return t.Context()
	}
	return context.Background()
}
