package submit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
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
// database's, so the processes' own clocks need not agree. A process
// stopped while it holds the row holds it at most rowHoldMax: PostgreSQL
// then ends its transaction.
func SharedLimiter(db *store.DB, account string, perSecond float64, burst int) *Limiter {
	if account == "" {
		account = "flabs"
	}
	st := &pgStore{db: db, name: account, lockWait: rowLockWait, holdMax: rowHoldMax}
	return newLimiter(perSecond, burst, st, func(rate float64) int {
		return max(1, min(50, int(math.Ceil(rate/10))))
	})
}

// The shared limit's row lock is held for the few milliseconds of a
// trip. A process that stops or loses the network while holding it must
// not stall the lab's sending for as long as PostgreSQL keeps the lock.
const (
	// rowLockWait is how long a trip waits for the row before it gives
	// up for this round (errRowBusy) and tries again.
	rowLockWait = 2 * time.Second
	// rowHoldMax is how long a trip's transaction may sit idle holding
	// the row before PostgreSQL ends its session, freeing the row.
	rowHoldMax = 2 * time.Second
)

// errRowBusy is a trip that did not get the flabs_limit row within
// rowLockWait: another process holds it. No slots this round; try again.
var errRowBusy = errors.New("flabs_limit row held by another process")

// pgStore keeps a labState in a row of flabs_limit.
type pgStore struct {
	db       *store.DB
	name     string
	lockWait time.Duration // see rowLockWait
	holdMax  time.Duration // see rowHoldMax
}

func (p *pgStore) update(ctx context.Context, fn func(*labState, time.Time)) error {
	err := p.db.InTx(ctx, func(tx *sqlx.Tx) error {
		// Losing the last few milliseconds of the limit's state in a
		// crash costs nothing; waiting for the disk on every slot would.
		// The lock waits and holds are bounded (rowLockWait, rowHoldMax),
		// for this transaction only.
		if _, err := tx.ExecContext(ctx, `SELECT set_config('synchronous_commit', 'off', true),
	set_config('lock_timeout', $1, true), set_config('idle_in_transaction_session_timeout', $2, true)`,
			pgMillis(p.lockWait), pgMillis(p.holdMax)); err != nil {
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
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "55P03" /* lock_not_available */ {
		return fmt.Errorf("%w: waited %s", errRowBusy, p.lockWait)
	}
	return err
}

// pgMillis is d as a PostgreSQL setting in milliseconds (0: no limit).
func pgMillis(d time.Duration) string {
	return strconv.FormatInt(d.Milliseconds(), 10)
}
