package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jmoiron/sqlx"

	"github.com/flabsync/flabsync/internal/store"
)

// scanner reads one result row (sql.Rows and pgx.Rows both are).
type scanner interface{ Scan(dest ...any) error }

// pipe runs one write transaction's statements in stages: run sends
// everything queued and reads the results in order. On PostgreSQL a stage
// is one network round trip (a pgx pipeline), which is what lets the
// receiver keep up: a batch is three round trips instead of a dozen. On
// SQLite, in-process, the statements simply run one after another.
type pipe interface {
	dialect() store.Dialect
	// queue adds a statement, its placeholders already bound for the
	// dialect (see bound); scan, if not nil, is called for each row it
	// returns.
	queue(query string, args []any, scan func(scanner) error)
	// run executes what is queued, in order, and stops at the first error.
	run(ctx context.Context) error
	// commit runs what is still queued and commits. After an error from
	// run or commit, the transaction is rolled back.
	commit(ctx context.Context) error
}

// arg returns how t is passed to d: store.Time's fixed-width text on
// SQLite; time.Time on PostgreSQL, which pgx encodes natively; NULL for
// the zero time on both.
func arg(d store.Dialect, t time.Time) any {
	if d == store.SQLite {
		return store.T(t)
	}
	if t.IsZero() {
		return nil
	}
	return t.UTC().Truncate(time.Microsecond)
}

type queued struct {
	query string
	args  []any
	scan  func(scanner) error
}

// txPipe runs statements in a database/sql transaction (SQLite).
type txPipe struct {
	tx *sqlx.Tx
	q  []queued
}

func (p *txPipe) dialect() store.Dialect { return store.SQLite }

func (p *txPipe) queue(query string, args []any, scan func(scanner) error) {
	p.q = append(p.q, queued{query, args, scan})
}

func (p *txPipe) run(ctx context.Context) error {
	q := p.q
	p.q = nil
	for _, s := range q {
		if s.scan == nil {
			if _, err := p.tx.ExecContext(ctx, s.query, s.args...); err != nil {
				return err
			}
			continue
		}
		rows, err := p.tx.QueryContext(ctx, s.query, s.args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := s.scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (p *txPipe) commit(ctx context.Context) error {
	if err := p.run(ctx); err != nil {
		return err
	}
	if err := p.tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// pgxPipe runs statements as pgx pipelines on one PostgreSQL connection,
// the transaction begun and committed by statements of the pipeline.
type pgxPipe struct {
	c *pgx.Conn
	q []queued
}

func newPgxPipe(c *pgx.Conn) *pgxPipe {
	p := &pgxPipe{c: c}
	p.queue("BEGIN", nil, nil)
	// The batch statements come in a few fixed shapes (see chunk): plan
	// each once per connection rather than at every execution. Every
	// lookup is by primary or unique key: a plan made while a table was
	// small must not stay a sequential scan once it has grown.
	p.queue("SET LOCAL plan_cache_mode = force_generic_plan", nil, nil)
	p.queue("SET LOCAL enable_seqscan = off", nil, nil)
	return p
}

func (p *pgxPipe) dialect() store.Dialect { return store.Postgres }

func (p *pgxPipe) queue(query string, args []any, scan func(scanner) error) {
	p.q = append(p.q, queued{query, args, scan})
}

func (p *pgxPipe) run(ctx context.Context) (err error) {
	q := p.q
	p.q = nil
	if len(q) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, s := range q {
		b.Queue(s.query, s.args...)
	}
	br := p.c.SendBatch(ctx, b)
	defer func() {
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}()
	for _, s := range q {
		if s.scan == nil {
			if _, err := br.Exec(); err != nil {
				return err
			}
			continue
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := s.scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (p *pgxPipe) commit(ctx context.Context) error {
	p.queue("COMMIT", nil, nil)
	if err := p.run(ctx); err != nil {
		return err
	}
	return nil
}

// rollback ends a transaction an error left open. A pipeline stops at
// its first failing statement, so a COMMIT queued after it never ran.
func (p *pgxPipe) rollback() error {
	if p.c.PgConn().TxStatus() == 'I' {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := p.c.Exec(ctx, "ROLLBACK")
	return err
}

var errNotPgx = errors.New("the PostgreSQL connection is not a pgx connection")
