package store

import (
	"context"
	"fmt"
	"time"
)

// AcquireLease takes the named lease for holder until now+ttl if it is free,
// expired, or already held by holder (which renews it). It reports whether
// holder has the lease. One statement, so two processes cannot both win.
func (db *DB) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error) {
	q := db.Rebind(`
INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES (?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE
   SET holder = excluded.holder, acquired_at = excluded.acquired_at, expires_at = excluded.expires_at
 WHERE leases.expires_at <= excluded.acquired_at OR leases.holder = excluded.holder`)
	res, err := db.ExecContext(ctx, q, name, holder, T(now), T(now.Add(ttl)))
	if err != nil {
		return false, fmt.Errorf("acquire lease %s for %s: %w", name, holder, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("acquire lease %s for %s: %w", name, holder, err)
	}
	return n == 1, nil
}

// ReleaseLease gives the lease up if holder has it.
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := db.ExecContext(ctx, db.Rebind(`DELETE FROM leases WHERE name = ? AND holder = ?`), name, holder); err != nil {
		return fmt.Errorf("release lease %s for %s: %w", name, holder, err)
	}
	return nil
}

// Lease is a row of the leases table.
type Lease struct {
	Name       string `db:"name"`
	Holder     string `db:"holder"`
	AcquiredAt Time   `db:"acquired_at"`
	ExpiresAt  Time   `db:"expires_at"`
}

// Leases lists every lease, expired or not, by name.
func (db *DB) Leases(ctx context.Context) ([]Lease, error) {
	var out []Lease
	if err := db.SelectContext(ctx, &out, `SELECT name, holder, acquired_at, expires_at FROM leases ORDER BY name`); err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	return out, nil
}
