package webhook

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/flabsync/flabsync/internal/store"
)

// DefaultPruneBatch is how many raw bodies one prune transaction empties.
const DefaultPruneBatch = 5000

// PrunedBodies counts the raw bodies a prune emptied (or, counting, would
// empty) and their size.
type PrunedBodies struct {
	Bodies int64 `json:"bodies"`
	Bytes  int64 `json:"bytes"`
}

// PruneBodies empties the raw bodies (webhook_raw.body, which may carry
// patient data Flabs sent along) received before before and marks them
// (pruned_at), in batches of batch (default DefaultPruneBatch), each its
// own transaction: a prune stopped half-way is
// finished by the next. The parsed events — integrator and bill IDs, event
// types, times, states and delivery counts — stay, so reconciliation is
// unchanged. Replay reads bodies from files, never from webhook_raw, and
// a replayed body whose event is stored is a repeat: its new raw row is
// dropped as any repeat's is.
func PruneBodies(ctx context.Context, db *store.DB, before time.Time, batch int) (PrunedBodies, error) {
	var p PrunedBodies
	if batch <= 0 {
		batch = DefaultPruneBatch
	}
	empty := `X''`
	if db.Dialect() == store.Postgres {
		empty = `''::BYTEA`
	}
	for {
		n, size, err := pruneBatch(ctx, db, empty, before, batch)
		if err != nil {
			return p, fmt.Errorf("webhook: prune raw bodies before %s: %w", before.UTC().Format(time.DateOnly), err)
		}
		p.Bodies, p.Bytes = p.Bodies+n, p.Bytes+size
		if n == 0 {
			return p, nil
		}
	}
}

// pruneBatch empties one batch of bodies in one transaction.
func pruneBatch(ctx context.Context, db *store.DB, empty string, before time.Time, batch int) (n, size int64, err error) {
	err = db.InTx(ctx, func(tx *sqlx.Tx) error {
		var rows []struct {
			ID   int64 `db:"id"`
			Size int64 `db:"size"`
		}
		q := tx.Rebind(`SELECT id, LENGTH(body) AS size FROM webhook_raw WHERE pruned_at IS NULL AND received_at < ? ORDER BY received_at LIMIT ?`)
		if err := tx.SelectContext(ctx, &rows, q, store.T(before), batch); err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		ids := make([]int64, len(rows))
		for i, r := range rows {
			ids[i], size = r.ID, size+r.Size
		}
		uq, args, err := sqlx.In(`UPDATE webhook_raw SET body = `+empty+`, pruned_at = ? WHERE id IN (?)`, store.T(time.Now()), ids)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, tx.Rebind(uq), args...)
		n = int64(len(rows))
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	return n, size, nil
}

// CountPrunableBodies counts what PruneBodies would empty, changing
// nothing.
func CountPrunableBodies(ctx context.Context, db *store.DB, before time.Time) (PrunedBodies, error) {
	var p PrunedBodies
	q := db.Rebind(`SELECT COUNT(*) AS bodies, COALESCE(SUM(LENGTH(body)), 0) AS bytes FROM webhook_raw WHERE pruned_at IS NULL AND received_at < ?`)
	if err := db.QueryRowxContext(ctx, q, store.T(before)).Scan(&p.Bodies, &p.Bytes); err != nil {
		return p, fmt.Errorf("webhook: count raw bodies before %s: %w", before.UTC().Format(time.DateOnly), err)
	}
	return p, nil
}
