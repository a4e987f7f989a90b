package doctor_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flabsync/flabsync/internal/doctor"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/internal/store"
)

// TestDatabaseOthersCanRead: a SQLite file others may read fails, saying
// how to fix it.
func TestDatabaseOthersCanRead(t *testing.T) {
	t.Parallel()
	r := newRig(t, flabstest.Options{})
	path := strings.TrimPrefix(r.cfg.Database, "sqlite:")
	openAndClose(t, r.cfg.Database)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	by := only(t, r.run(t), doctor.NameDatabase)
	contains(t, by[doctor.NameDatabase], "(mode 0644)", "chmod 600 "+path)
}

// TestDatabaseNewerThanBinary: a schema migrated by a newer flabsync
// fails (Open leaves it be); the schema this build makes is the latest.
func TestDatabaseNewerThanBinary(t *testing.T) {
	t.Parallel()
	r := newRig(t, flabstest.Options{})
	db := openAndClose(t, r.cfg.Database)
	ctx := context.Background()
	latest, err := db.LatestSchemaVersion()
	if err != nil {
		t.Fatal(err)
	}
	db, err = store.Open(ctx, r.cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := db.SchemaVersion(ctx); err != nil || v != latest {
		t.Fatalf("SchemaVersion = %d, %v; LatestSchemaVersion = %d", v, err, latest)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, 1)`, latest+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	by := only(t, r.run(t), doctor.NameDatabase)
	contains(t, by[doctor.NameDatabase], "is newer than this flabsync knows")
}

// TestDatabaseUnreachable: a folder that cannot hold the file fails the
// database check alone.
func TestDatabaseUnreachable(t *testing.T) {
	t.Parallel()
	r := newRig(t, flabstest.Options{})
	file := filepath.Join(r.dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r.cfg.Database = "sqlite:" + filepath.Join(file, "flabsync.db")
	only(t, r.run(t), doctor.NameDatabase)
}

// openAndClose makes and migrates the database, and returns it closed.
func openAndClose(t *testing.T, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	return db
}
