// Package store opens flabsync's database — an embedded SQLite file or a
// shared PostgreSQL — through sqlx, brings its schema up to date with
// embedded goose migrations, and runs transactions.
//
// Domain packages own their queries; this package owns the connection, the
// schema, the time encoding both backends agree on, and the generic pieces
// every job needs (leases and job runs).
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/flabsync/flabsync/internal/redact"
)

// Dialect names the backend.
type Dialect string

// The supported backends.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

//go:embed migrations
var migrations embed.FS

// DB is an open, migrated database.
type DB struct {
	*sqlx.DB
	dialect Dialect
	name    string // printable, password masked
}

// Dialect reports the backend.
func (db *DB) Dialect() Dialect { return db.dialect }

// String is the database's printable name, password masked.
func (db *DB) String() string { return db.name }

// ErrUnreachable marks a database that could not be opened or reached.
var ErrUnreachable = errors.New("database unreachable")

// Open connects to dsn ("sqlite:PATH" or "postgres://…"), checks it answers
// and applies pending migrations. Errors are one readable sentence with any
// password masked; they wrap ErrUnreachable when the database cannot be
// reached at all.
func Open(ctx context.Context, dsn string) (*DB, error) {
	var (
		db  *DB
		err error
	)
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		db, err = openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"))
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db, err = openPostgres(ctx, dsn)
	default:
		return nil, fmt.Errorf("open database %q: want sqlite:PATH or postgres://…", redact.URL(dsn))
	}
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, fmt.Errorf("open database: sqlite: needs a file path, e.g. sqlite:flabsync.db")
	}
	if path != ":memory:" {
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("open database sqlite:%s: %w: %w", path, ErrUnreachable, err)
			}
		}
		// The ledger holds patient data: the file is its owner's alone,
		// whatever the umask. SQLite gives its -wal and -shm files the
		// database file's mode.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		switch {
		case err == nil:
			f.Close()
		case !errors.Is(err, os.ErrExist):
			return nil, fmt.Errorf("open database sqlite:%s: %w: %w", path, ErrUnreachable, err)
		}
	}
	// Every connection gets the same pragmas. Transactions take the write
	// lock up front (_txlock=immediate) so two writers queue on
	// busy_timeout instead of failing with SQLITE_BUSY half-way.
	// secure_delete overwrites deleted and updated content with zeros, so
	// patient data erased by a prune leaves no copy in the file's free
	// space (the WAL is truncated after a prune for the same reason).
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)", "secure_delete(1)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	sqldb, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database sqlite:%s: %w: %w", path, ErrUnreachable, err)
	}
	// WAL lets readers run beside the one writer; a handful of
	// connections is plenty for one process.
	sqldb.SetMaxOpenConns(4)
	sqldb.SetMaxIdleConns(4)
	sqldb.SetConnMaxIdleTime(0)
	if err := sqldb.PingContext(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("open database sqlite:%s: %w: %w", path, ErrUnreachable, err)
	}
	var mode string
	if err := sqldb.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("open database sqlite:%s: %w: %w", path, ErrUnreachable, err)
	}
	return &DB{DB: sqlx.NewDb(sqldb, "sqlite"), dialect: SQLite, name: "sqlite:" + path}, nil
}

func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	name := redact.URL(dsn)
	sqldb, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", name, err)
	}
	sqldb.SetMaxOpenConns(16)
	sqldb.SetMaxIdleConns(4)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqldb.PingContext(pingCtx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("cannot reach PostgreSQL at %s: %w: %s", name, ErrUnreachable, reason(err))
	}
	return &DB{DB: sqlx.NewDb(sqldb, "pgx"), dialect: Postgres, name: name}, nil
}

// reason shortens a driver error to its cause, dropping the DSN that some
// drivers echo back.
func reason(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer within 10s"
	}
	return err.Error()
}

func (db *DB) migrate(ctx context.Context) error {
	p, err := db.provider()
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate %s: %w", db.name, err)
	}
	return nil
}

func (db *DB) provider() (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations/"+string(db.dialect))
	if err != nil {
		return nil, err
	}
	dialect := goose.DialectSQLite3
	if db.dialect == Postgres {
		dialect = goose.DialectPostgres
	}
	p, err := goose.NewProvider(dialect, db.DB.DB, sub)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// SchemaVersion reports the applied migration version.
func (db *DB) SchemaVersion(ctx context.Context) (int64, error) {
	p, err := db.provider()
	if err != nil {
		return 0, err
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("schema version of %s: %w", db.name, err)
	}
	return v, nil
}

// InTx runs fn in a transaction, committing if it returns nil and rolling
// back otherwise (also on panic, which is re-raised).
func (db *DB) InTx(ctx context.Context, fn func(tx *sqlx.Tx) error) (err error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
