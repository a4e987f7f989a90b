package mapping

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/flabsync/flabsync/internal/store"
)

// Store keeps the mapping table and the catalogue last synced from Flabs
// in the database.
type Store struct {
	db *store.DB
}

// NewStore returns a Store on db.
func NewStore(db *store.DB) *Store { return &Store{db: db} }

type entryRow struct {
	Scope     string     `db:"scope"`
	Kind      string     `db:"kind"`
	LocalName string     `db:"local_name"`
	NormKey   string     `db:"norm_key"`
	Target    string     `db:"target"`
	TargetKey string     `db:"target_key"`
	Source    string     `db:"source"`
	CreatedAt store.Time `db:"created_at"`
	CreatedBy string     `db:"created_by"`
}

func (r entryRow) entry() Entry {
	return Entry{Scope: r.Scope, Kind: Kind(r.Kind), LocalName: r.LocalName, Key: r.NormKey, Target: r.Target,
		TargetKey: TargetKey(r.TargetKey), Source: r.Source, CreatedAt: r.CreatedAt.Time, CreatedBy: r.CreatedBy}
}

// Entries returns the whole table, ordered by scope, kind and name.
func (s *Store) Entries(ctx context.Context) ([]Entry, error) {
	return entries(ctx, s.db.DB)
}

func entries(ctx context.Context, q sqlx.QueryerContext) ([]Entry, error) {
	var rows []entryRow
	err := sqlx.SelectContext(ctx, q, &rows, `SELECT scope, kind, local_name, norm_key, target, target_key, source, created_at, created_by
FROM mappings ORDER BY scope, kind, norm_key`)
	if err != nil {
		return nil, fmt.Errorf("read mapping table: %w", err)
	}
	out := make([]Entry, len(rows))
	for i, r := range rows {
		out[i] = r.entry()
	}
	return out, nil
}

// Catalogue returns the active catalogue entries, tests then packages, by
// name.
func (s *Store) Catalogue(ctx context.Context) ([]CatalogueItem, error) {
	return catalogue(ctx, s.db.DB)
}

// queryer is a *sqlx.DB or a *sqlx.Tx.
type queryer interface {
	sqlx.QueryerContext
	Rebind(string) string
}

func catalogue(ctx context.Context, q queryer) ([]CatalogueItem, error) {
	var rows []struct {
		Kind string `db:"kind"`
		ID   string `db:"id"`
		Code string `db:"code"`
		Name string `db:"name"`
	}
	query := q.Rebind(`SELECT kind, id, code, name FROM catalogue WHERE active = ? ORDER BY kind DESC, norm_key, id`)
	if err := sqlx.SelectContext(ctx, q, &rows, query, true); err != nil {
		return nil, fmt.Errorf("read catalogue: %w", err)
	}
	out := make([]CatalogueItem, len(rows))
	for i, r := range rows {
		out[i] = CatalogueItem{Kind: Kind(r.Kind), ID: r.ID, Code: r.Code, Name: r.Name}
	}
	return out, nil
}

// Index builds the lookup index from the table and the catalogue as
// stored now. Build it once per run.
func (s *Store) Index(ctx context.Context) (*Index, error) {
	es, err := s.Entries(ctx)
	if err != nil {
		return nil, err
	}
	cat, err := s.Catalogue(ctx)
	if err != nil {
		return nil, err
	}
	return NewIndex(es, cat), nil
}

// CatalogueInfo says what catalogue is stored: its lab and when it was
// last synced (zero if never).
type CatalogueInfo struct {
	LabID    string
	LabName  string
	Tests    int
	Packages int
	SyncedAt time.Time
}

// Info reports the stored catalogue.
func (s *Store) Info(ctx context.Context) (CatalogueInfo, error) {
	var info CatalogueInfo
	var rows []struct {
		Kind string `db:"kind"`
		N    int    `db:"n"`
	}
	q := s.db.Rebind(`SELECT kind, COUNT(*) AS n FROM catalogue WHERE active = ? GROUP BY kind`)
	if err := s.db.SelectContext(ctx, &rows, q, true); err != nil {
		return info, fmt.Errorf("read catalogue: %w", err)
	}
	for _, r := range rows {
		switch Kind(r.Kind) {
		case KindTest:
			info.Tests = r.N
		case KindPackage:
			info.Packages = r.N
		}
	}
	var lab struct {
		ID       string     `db:"id"`
		Name     string     `db:"name"`
		SyncedAt store.Time `db:"synced_at"`
	}
	err := s.db.GetContext(ctx, &lab, `SELECT id, name, synced_at FROM labs ORDER BY synced_at DESC, id LIMIT 1`)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return info, fmt.Errorf("read labs: %w", err)
	default:
		info.LabID, info.LabName, info.SyncedAt = lab.ID, lab.Name, lab.SyncedAt.Time
	}
	return info, nil
}

// putEntries inserts or replaces entries (matched on scope, kind and key)
// inside tx.
func putEntries(ctx context.Context, tx *sqlx.Tx, es []Entry) error {
	q := tx.Rebind(`INSERT INTO mappings (scope, kind, local_name, norm_key, target, target_key, source, created_at, created_by)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (scope, kind, norm_key) DO UPDATE SET local_name = excluded.local_name, target = excluded.target,
	target_key = excluded.target_key, source = excluded.source, created_at = excluded.created_at, created_by = excluded.created_by`)
	stmt, err := tx.PreparexContext(ctx, q)
	if err != nil {
		return fmt.Errorf("write mapping table: %w", err)
	}
	defer stmt.Close()
	for _, e := range es {
		key := e.Key
		if key == "" {
			key = Key(e.LocalName)
		}
		if _, err := stmt.ExecContext(ctx, e.Scope, string(e.Kind), e.LocalName, key, e.Target, string(e.TargetKey),
			e.Source, store.T(e.CreatedAt), e.CreatedBy); err != nil {
			return fmt.Errorf("write mapping %s/%s %q: %w", scopeName(e.Scope), e.Kind, e.LocalName, err)
		}
	}
	return nil
}

// Delete removes the entry for name (in scope and kind) and reports
// whether there was one.
func (s *Store) Delete(ctx context.Context, scope string, kind Kind, name string) (bool, error) {
	q := s.db.Rebind(`DELETE FROM mappings WHERE scope = ? AND kind = ? AND norm_key = ?`)
	res, err := s.db.ExecContext(ctx, q, scope, string(kind), Key(name))
	if err != nil {
		return false, fmt.Errorf("delete mapping %s/%s %q: %w", scopeName(scope), kind, name, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// scopeName is how a scope reads in messages.
func scopeName(scope string) string {
	if scope == "" {
		return "(all partners)"
	}
	return scope
}
