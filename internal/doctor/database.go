package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/store"
)

// checkDatabase opens the database as every command does (applying
// pending migrations: so it proves this flabsync may migrate it, which
// serve does when it starts), then compares the schema version with the
// newest migration this build knows. A SQLite file, its -wal and -shm
// files and its folder must not be readable or writable by others: the
// ledger holds patient data.
func checkDatabase(ctx context.Context, cfg *config.Config, _ Options) Check {
	db, err := store.Open(ctx, cfg.Database)
	if err != nil {
		if strings.HasPrefix(cfg.Database, "sqlite:") {
			return fail(NameDatabase, "%v: the database setting must name a file this user may create and write, in a folder it may write", err)
		}
		return fail(NameDatabase, "%v: check the database URL (host, port, user, password), that the database exists and that this user may create tables in it", err)
	}
	defer db.Close()
	applied, err := db.SchemaVersion(ctx)
	if err != nil {
		return fail(NameDatabase, "%v", err)
	}
	latest, err := db.LatestSchemaVersion()
	if err != nil {
		return fail(NameDatabase, "%v", err)
	}
	switch {
	case applied > latest:
		return fail(NameDatabase, "%s: schema version %d is newer than this flabsync knows (%d): a newer flabsync migrated it; run that version (or this one against a copy restored from before)", db, applied, latest)
	case applied < latest:
		return fail(NameDatabase, "%s: schema version %d after migrating, want %d", db, applied, latest)
	}
	if db.Dialect() == store.SQLite {
		if problems := sqliteModes(strings.TrimPrefix(cfg.Database, "sqlite:")); len(problems) > 0 {
			return fail(NameDatabase, "%s: %s", db, strings.Join(problems, "; "))
		}
		return pass(NameDatabase, "%s answers; schema version %d, the latest; file and folder private to their owner", db, applied)
	}
	return pass(NameDatabase, "%s answers; schema version %d, the latest", db, applied)
}

// privateMask are the permission bits others must not have: read and
// write.
const privateMask fs.FileMode = 0o006

// sqliteModes lists, with what to do, the database's files and folder
// that others may read or write.
func sqliteModes(path string) []string {
	if path == ":memory:" {
		return nil
	}
	var problems, open, names []string
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist) && p != path:
		case err != nil:
			problems = append(problems, err.Error())
		case fi.Mode().Perm()&privateMask != 0:
			open = append(open, fmt.Sprintf("%s (mode %04o)", p, fi.Mode().Perm()))
			names = append(names, p)
		}
	}
	if len(open) > 0 {
		problems = append(problems, fmt.Sprintf("%s readable or writable by others: chmod 600 %s", strings.Join(open, ", "), strings.Join(names, " ")))
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return append(problems, err.Error())
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return append(problems, err.Error())
	}
	if m := fi.Mode().Perm(); m&privateMask != 0 {
		problems = append(problems, fmt.Sprintf("its folder %s (mode %04o) readable or writable by others: chmod 750 %s, or move the database into a private folder", dir, m, dir))
	}
	return problems
}
