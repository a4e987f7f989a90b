package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"

	"github.com/flabsync/flabsync/internal/logging"
	"github.com/flabsync/flabsync/internal/store"
)

// Status is what became of a delivery.
type Status string

// The outcomes of a delivery that reached the store.
const (
	StatusStored    Status = "stored"    // a new event, stored
	StatusDuplicate Status = "duplicate" // an event already stored; its delivery counted
	StatusInvalid   Status = "invalid"   // not a Flabs event
)

// delivery is one body on its way to the store.
type delivery struct {
	body     []byte
	remote   string
	received time.Time
	ev       *Event // nil when the body did not parse
	reason   string // why it did not
	keep     bool   // store the body even when it did not parse
	// otherLab: the event names a labID other than flabs.lab_id: stored,
	// never folded into our bookings, never an orphan.
	otherLab bool
	done     chan error

	// Set by the write.
	status  Status
	orphan  bool
	repeats int // later copies of the same event in the same batch
}

// batchTimeout bounds one write transaction.
const batchTimeout = 30 * time.Second

// write is one writer goroutine: it takes every delivery queued, up to
// MaxBatch, writes them in one transaction and answers each only after the
// commit. While a transaction commits the next batch gathers, so the
// commit (and its fsync) is shared by all the deliveries that came
// meanwhile: group commit.
func (r *Receiver) write() {
	defer r.writers.Done()
	c := &committer{r: r}
	batch := make([]*delivery, 0, r.opts.MaxBatch)
	for {
		select {
		case d := <-r.queue:
			batch = append(batch[:0], d)
		case <-r.stop: // every submitter has returned: write what they left, then stop
			for {
				select {
				case d := <-r.queue:
					c.flush(r.fill(append(batch[:0], d)))
				default:
					return
				}
			}
		}
		c.flush(r.fill(batch))
	}
}

// fill adds what is already queued to batch, without waiting.
func (r *Receiver) fill(batch []*delivery) []*delivery {
	for len(batch) < r.opts.MaxBatch {
		select {
		case d := <-r.queue:
			batch = append(batch, d)
		default:
			return batch
		}
	}
	return batch
}

// committer runs one writer's transactions, each on a connection taken
// from the pool for the batch (holding one per writer could starve the
// pool). On SQLite the connection is switched to synchronous=FULL for the
// batch, so a commit is on disk — not only in the WAL's page cache —
// before anyone is told 200; the rest of the process keeps the store's
// NORMAL. On PostgreSQL the pgx connection under it is driven directly,
// so each stage of a batch is one round trip.
type committer struct {
	r *Receiver
}

// flush writes batch and answers every delivery in it. A batch that fails
// is retried (deadlocks and serialization failures are expected now and
// then on PostgreSQL), then split, so one delivery the database refuses
// cannot fail the others.
func (c *committer) flush(batch []*delivery) {
	err := c.commitRetrying(batch)
	if err != nil && len(batch) > 1 {
		c.r.log.Warn("webhook batch failed, writing its deliveries one by one", "deliveries", len(batch), logging.Err(err))
		for _, d := range batch {
			d.done <- c.commitRetrying([]*delivery{d})
		}
		return
	}
	for _, d := range batch {
		d.done <- err
	}
}

func (c *committer) commitRetrying(batch []*delivery) error {
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 10 * time.Millisecond)
		}
		if err = c.commit(batch); err == nil || !retryable(err) {
			return err
		}
	}
	return err
}

func (c *committer) commit(batch []*delivery) error {
	ctx, cancel := context.WithTimeout(c.r.ctx, batchTimeout)
	defer cancel()
	conn, err := c.r.db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("store webhooks: connect: %w", err)
	}
	defer conn.Close()
	now := c.r.opts.Now()
	if c.r.db.Dialect() == store.SQLite {
		err = commitSQLite(ctx, conn, batch, now)
	} else {
		err = conn.Raw(func(dc any) error {
			pc, ok := dc.(*stdlib.Conn)
			if !ok {
				return errNotPgx
			}
			p := newPgxPipe(pc.Conn())
			if err := writeBatch(ctx, p, batch, now); err != nil {
				return errors.Join(err, p.rollback())
			}
			if err := p.commit(ctx); err != nil {
				return errors.Join(fmt.Errorf("commit: %w", err), p.rollback())
			}
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("store webhooks: %w", err)
	}
	return nil
}

// commitSQLite writes batch in one transaction on conn, with
// synchronous=FULL for its commit.
func commitSQLite(ctx context.Context, conn *sqlx.Conn, batch []*delivery, now time.Time) error {
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous=FULL"); err != nil {
		return fmt.Errorf("synchronous=FULL: %w", err)
	}
	defer func() {
		// Back to the store's setting for whoever takes the connection
		// next. Best effort: failing leaves it more careful, not less, and
		// must not turn a committed batch into an error.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = conn.ExecContext(rctx, "PRAGMA synchronous=NORMAL")
	}()
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	p := &txPipe{tx: tx}
	if err := writeBatch(ctx, p, batch, now); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := p.commit(ctx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return nil
}

// retryable reports a PostgreSQL deadlock or serialization failure: the
// transaction did nothing and can simply run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}
