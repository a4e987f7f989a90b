// Package rules is the nightly reconciliation: it compares what flabsync
// sent (the ledger) with what Flabs said back (the state folded from
// webhooks) and turns every problem into an exception — a work item with
// a stable ID, so the same problem is the same row every night, with
// first and last seen, an age bucket and a status (new, open, resolved).
// Items still inside their window are not exceptions. Run is the night's
// run, as of now; Look works the same rules out as of any time and
// stores nothing.
package rules

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/reconcile"
)

// Config holds the windows.
type Config struct {
	BillCreatedWithin   time.Duration // submitted → bill.created
	BillCompletedWithin time.Duration // bill.created → bill.completed
	// RejectsFor is how long a rejected row stays an exception without a
	// correction (default 7 days).
	RejectsFor time.Duration
	// ListWalkInBills lists bills made inside Flabs (events with no
	// integrator ID) as orphan_event exceptions; off, they are only
	// counted (Result.WalkInBills).
	ListWalkInBills bool
}

// Result is what a run found.
type Result struct {
	At                  time.Time
	New, Open, Resolved int                                   // Resolved: by this run
	Counts              map[reconcile.Category]map[string]int // category → partner → new + open
	// Closed and Snoozed count what people settled or put off: not open,
	// not in the workbook's sheets, counted apart.
	Closed, Snoozed int
	// WalkInBills counts the bills made inside Flabs (events with no
	// integrator ID) in the window: kept and counted, not exceptions
	// unless Config.ListWalkInBills.
	WalkInBills int
}

// Run applies every rule as of at (names that map through ix now are no
// longer unmapped_test exceptions) and brings the exceptions table up to
// date: problems found are inserted (new) or refreshed (open; a resolved
// one that comes back is new again), and open ones no rule found any more
// are resolved — whatever earlier runs recorded, the open exceptions after
// a run are exactly what its rules found at its time. It records the run's
// counts for the trend. Missing drops are kept by the expected-drops job
// and only counted here. Run is the nightly run, as of now: a look at
// another time is Look, which writes nothing.
func Run(ctx context.Context, db *store.DB, cfg Config, ix *mapping.Index, at time.Time) (*Result, error) {
	cfg, at = cfg.withDefaults(), at.UTC().Truncate(time.Microsecond)
	var res *Result
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := find(ctx, tx, db.Dialect(), cfg, ix, at); err != nil {
			return err
		}
		var err error
		res, err = summarize(ctx, tx, cfg, at)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	if err := recordRun(ctx, db, res); err != nil {
		return nil, err
	}
	return res, nil
}

// Looked is what Look found: the run's figures, its exceptions (new,
// open and those it would resolve, in Each's order) and the oldest open
// ones, held in memory since nothing of them is stored.
type Looked struct {
	Result     *Result
	Exceptions []reconcile.Exception
	Oldest     []reconcile.Exception
}

// errLook ends Look's transaction: rolled back, whatever it found.
var errLook = errors.New("a look writes nothing")

// Look is Run as of any time, read-only: the rules are applied in a
// transaction that is rolled back, so no exception, no trend row and no
// first-seen date changes, and a later run finds what it would have found
// without it. oldest is how many of the longest-open exceptions to keep.
func Look(ctx context.Context, db *store.DB, cfg Config, ix *mapping.Index, at time.Time, oldest int) (*Looked, error) {
	cfg, at = cfg.withDefaults(), at.UTC().Truncate(time.Microsecond)
	var out *Looked
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := find(ctx, tx, db.Dialect(), cfg, ix, at); err != nil {
			return err
		}
		res, err := summarize(ctx, tx, cfg, at)
		if err != nil {
			return err
		}
		out = &Looked{Result: res}
		err = scan(ctx, tx, eachWhere, eachArgs(at), sheetOrder, at, func(l Listed) error {
			out.Exceptions = append(out.Exceptions, l.Exception)
			return nil
		})
		if err != nil {
			return err
		}
		if out.Oldest, err = oldestOpen(ctx, tx, at, oldest); err != nil {
			return err
		}
		return errLook
	})
	if !errors.Is(err, errLook) {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	return out, nil
}

// withDefaults fills the windows left unset.
func (cfg Config) withDefaults() Config {
	if cfg.RejectsFor <= 0 {
		cfg.RejectsFor = 7 * 24 * time.Hour
	}
	return cfg
}

// find applies every rule as of at in tx and resolves what none found.
func find(ctx context.Context, tx *sqlx.Tx, dialect store.Dialect, cfg Config, ix *mapping.Index, at time.Time) error {
	refused, replaced, err := refusals(ctx, tx, at)
	if err != nil {
		return err
	}
	for _, r := range ruleSet(cfg, at, dialect, refused) {
		if _, err := apply(ctx, tx, dialect, r, at); err != nil {
			return err
		}
	}
	if err := unmappedRule(ctx, tx, dialect, ix, cfg, at); err != nil {
		return err
	}
	// apply stamped what it found with last_seen = at: the rest is gone.
	q := tx.Rebind(`UPDATE exceptions SET status = ?, resolved_at = ? WHERE status <> ? AND last_seen <> ? AND category <> ?`)
	if _, err := tx.ExecContext(ctx, q, reconcile.StatusResolved, store.T(at), reconcile.StatusResolved, store.T(at), reconcile.CategoryMissingDrop); err != nil {
		return fmt.Errorf("resolve exceptions: %w", err)
	}
	if err := noteReplaced(ctx, tx, at, replaced); err != nil {
		return err
	}
	return noteCorrections(ctx, tx, at)
}

// querier is a database or a transaction: what the reads need.
type querier interface {
	sqlx.QueryerContext
	Rebind(string) string
}

// Total is the number of new and open exceptions of category, over all
// partners.
func (r *Result) Total(category reconcile.Category) int {
	n := 0
	for _, v := range r.Counts[category] {
		n += v
	}
	return n
}

// summarize counts the exceptions as a run at at left them, and the
// bills made inside Flabs in the window.
func summarize(ctx context.Context, q querier, cfg Config, at time.Time) (*Result, error) {
	res := &Result{At: at, Counts: map[reconcile.Category]map[string]int{}}
	var rows []struct {
		Category reconcile.Category `db:"category"`
		Partner  string             `db:"partner"`
		Status   reconcile.Status   `db:"status"`
		N        int                `db:"n"`
	}
	err := sqlx.SelectContext(ctx, q, &rows, q.Rebind(`SELECT category, partner, status, COUNT(*) AS n FROM exceptions
WHERE status <> ? OR resolved_at = ? GROUP BY category, partner, status`), reconcile.StatusResolved, store.T(at))
	if err != nil {
		return nil, fmt.Errorf("count exceptions: %w", err)
	}
	for _, r := range rows {
		switch r.Status {
		case reconcile.StatusNew:
			res.New += r.N
		case reconcile.StatusOpen:
			res.Open += r.N
		case reconcile.StatusResolved:
			res.Resolved += r.N
			continue
		case reconcile.StatusClosed:
			res.Closed += r.N
			continue
		case reconcile.StatusSnoozed:
			res.Snoozed += r.N
			continue
		}
		if res.Counts[r.Category] == nil {
			res.Counts[r.Category] = map[string]int{}
		}
		res.Counts[r.Category][r.Partner] += r.N
	}
	err = sqlx.GetContext(ctx, q, &res.WalkInBills, q.Rebind(`SELECT COUNT(DISTINCT e.bill_id) FROM webhook_events e WHERE `+walkIn),
		true, store.T(at.Add(-cfg.RejectsFor)))
	if err != nil {
		return nil, fmt.Errorf("count bills made in Flabs: %w", err)
	}
	return res, nil
}

// Each streams the exceptions that are new or open (and those this run
// resolved) in the workbook's order — categories as the Summary lists
// them, then partner, file and row number — without holding them.
func Each(ctx context.Context, db *store.DB, at time.Time, fn func(reconcile.Exception) error) error {
	return scan(ctx, db, eachWhere, eachArgs(at), sheetOrder, at, func(l Listed) error { return fn(l.Exception) })
}

// eachWhere selects what Each streams; eachArgs are its parameters.
const eachWhere = `e.status IN (?, ?) OR (e.status = ? AND e.resolved_at = ?)`

func eachArgs(at time.Time) []any {
	return []any{reconcile.StatusNew, reconcile.StatusOpen, reconcile.StatusResolved, store.T(at.UTC().Truncate(time.Microsecond))}
}

// scan streams the exceptions where says, in order, with their age at at.
func scan(ctx context.Context, db querier, where string, args []any, order string, at time.Time, fn func(Listed) error) error {
	q := db.Rebind(`SELECT e.id, e.category, e.status, e.partner, e.integrator_id, COALESCE(f.name, '') AS file,
	e.row_num, e.detail, e.suggested_action, COALESCE(e.occurred_at, e.first_seen) AS since, e.first_seen, e.last_seen,
	e.note, e.closed_by, e.closed_at, e.snoozed_until
FROM exceptions e LEFT JOIN files f ON f.id = e.file_id
WHERE ` + where + `
ORDER BY ` + order)
	rows, err := db.QueryxContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("reconcile: read exceptions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var l Listed
		e := &l.Exception
		var since, first, last, closed, snoozed store.Time
		if err := rows.Scan(&e.ID, &e.Category, &e.Status, &e.Partner, &e.IntegratorID, &e.File, &e.Row, &e.Detail,
			&e.SuggestedAction, &since, &first, &last, &e.Note, &l.ClosedBy, &closed, &snoozed); err != nil {
			return fmt.Errorf("reconcile: read exception: %w", err)
		}
		// The one door out of the exceptions table: what leaves it
		// holds no partner's cell (reconcile.ShownDetail).
		e.Detail = reconcile.ShownDetail(e.Category, e.Detail)
		e.Since, e.FirstSeen, e.LastSeen = since.Time, first.Time, last.Time
		e.AgeBucket = reconcile.AgeBucket(e.Since, at)
		if !closed.IsZero() {
			l.ClosedAt = &closed.Time
		}
		if !snoozed.IsZero() {
			l.SnoozedUntil = &snoozed.Time
		}
		if err := fn(l); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Exceptions is Each as an iterator, the form the report streams: an
// error ends it as its last pair.
func Exceptions(ctx context.Context, db *store.DB, at time.Time) iter.Seq2[reconcile.Exception, error] {
	return func(yield func(reconcile.Exception, error) bool) {
		errStop := errors.New("stop")
		err := Each(ctx, db, at, func(e reconcile.Exception) error {
			if !yield(e, nil) {
				return errStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			yield(reconcile.Exception{}, err)
		}
	}
}

// OpenByCategory counts the exceptions that still need a person (new or
// open), by category.
func OpenByCategory(ctx context.Context, db *store.DB) (map[reconcile.Category]int, error) {
	var rows []struct {
		Category reconcile.Category `db:"category"`
		N        int                `db:"n"`
	}
	q := db.Rebind(`SELECT category, COUNT(*) AS n FROM exceptions WHERE status IN (?, ?) GROUP BY category`)
	if err := db.SelectContext(ctx, &rows, q, reconcile.StatusNew, reconcile.StatusOpen); err != nil {
		return nil, fmt.Errorf("reconcile: count open exceptions: %w", err)
	}
	out := make(map[reconcile.Category]int, len(rows))
	for _, r := range rows {
		out[r.Category] = r.N
	}
	return out, nil
}
