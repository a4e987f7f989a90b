package submit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/flabsync/flabsync/internal/store"
)

// LimiterFor is the limiter of a process using db for the Flabs account
// named account: on PostgreSQL one shared by every process on that
// database (SharedLimiter), on SQLite (one process) one of its own
// (NewLimiter).
func LimiterFor(db *store.DB, account string, perSecond float64, burst int) *Limiter {
	if db.Dialect() == store.Postgres {
		return SharedLimiter(db, account, perSecond, burst)
	}
	return NewLimiter(perSecond, burst)
}

// SharedLimiter is a limiter kept in db's flabs_limit table, under the
// name account: every process on db sending to that Flabs account shares
// its rate and its slow-downs. It is one token bucket for the lab, not a
// share per process: a process takes slots as it needs them (a tenth of a
// second's worth per transaction, at least one), so a busy process gets
// what an idle one leaves, and a process that dies holds nothing (at
// most the slots it had taken, a tenth of a second). A 429 any process
// meets cuts the rate and pauses every process; the clock is the
// database's, so the processes' own clocks need not agree.
func SharedLimiter(db *store.DB, account string, perSecond float64, burst int) *Limiter {
	if account == "" {
		account = "flabs"
	}
	return newLimiter(perSecond, burst, &pgStore{db: db, name: account}, func(rate float64) int {
		return max(1, min(50, int(math.Ceil(rate/10))))
	})
}

// pgStore keeps a labState in a row of flabs_limit.
type pgStore struct {
	db   *store.DB
	name string
}

func (p *pgStore) update(ctx context.Context, fn func(*labState, time.Time)) error {
	return p.db.InTx(ctx, func(tx *sqlx.Tx) error {
		// Losing the last few milliseconds of the limit's state in a
		// crash costs nothing; waiting for the disk on every slot would.
		if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit TO OFF`); err != nil {
			return err
		}
		var raw string
		err := tx.GetContext(ctx, &raw, `SELECT state FROM flabs_limit WHERE name = $1 FOR UPDATE`, p.name)
		if errors.Is(err, sql.ErrNoRows) {
			if _, err := tx.ExecContext(ctx, `INSERT INTO flabs_limit (name, state, updated_at) VALUES ($1, '{}', clock_timestamp())
ON CONFLICT (name) DO NOTHING`, p.name); err != nil {
				return err
			}
			err = tx.GetContext(ctx, &raw, `SELECT state FROM flabs_limit WHERE name = $1 FOR UPDATE`, p.name)
		}
		if err != nil {
			return err
		}
		var st labState
		if err := json.Unmarshal([]byte(raw), &st); err != nil {
			return fmt.Errorf("flabs_limit %s: %w", p.name, err)
		}
		// The time is read once the row is ours: the slots are planned
		// from it.
		var now time.Time
		if err := tx.GetContext(ctx, &now, `SELECT clock_timestamp()`); err != nil {
			return err
		}
		st.Now = now
		fn(&st, now)
		out, err := json.Marshal(st)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE flabs_limit SET state = $2, updated_at = $3 WHERE name = $1`, p.name, string(out), now)
		return err
	})
}
