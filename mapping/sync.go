package mapping

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/store"
)

// Source is where a catalogue comes from: the Flabs client.
type Source interface {
	Labs(ctx context.Context) ([]flabs.Lab, error)
	Tests(ctx context.Context, branchID string) ([]flabs.CatalogueItem, error)
	Packages(ctx context.Context, branchID string) ([]flabs.CatalogueItem, error)
}

// ErrEmptyCatalogue is returned when Flabs answers with no tests and no
// packages: stored as is, it would unmap everything, so the sync stops.
var ErrEmptyCatalogue = errors.New("Flabs returned no tests and no packages")

// Change is a catalogue entry that was added, removed or renamed.
type Change struct {
	Kind    Kind   `json:"kind"`
	ID      string `json:"id"`
	Name    string `json:"name"`               // the name now (or, if removed, the last name)
	OldName string `json:"old_name,omitempty"` // renamed: the name before
	Code    string `json:"code,omitempty"`
	OldCode string `json:"old_code,omitempty"` // the code changed
}

// SyncReport says what a sync changed.
type SyncReport struct {
	LabID    string   `json:"lab_id"`
	LabName  string   `json:"lab_name"`
	Tests    int      `json:"tests"`
	Packages int      `json:"packages"`
	Added    []Change `json:"added"`
	Removed  []Change `json:"removed"`
	Renamed  []Change `json:"renamed"`
	// Skipped counts list items with no usable ID, or repeated IDs.
	Skipped int `json:"skipped"`
	// Orphaned are table entries whose target is not in the catalogue any
	// more: names that mapped through them are now sent unmapped.
	Orphaned []Entry `json:"orphaned"`
}

// PickLab chooses the lab to sync: the configured one, which must be in
// the list, or the only one there is.
func PickLab(labs []flabs.Lab, configured string) (flabs.Lab, error) {
	names := func() string {
		var b strings.Builder
		for _, l := range labs {
			fmt.Fprintf(&b, "\n  %s  %s", l.ID, l.Name)
		}
		return b.String()
	}
	if configured != "" {
		for _, l := range labs {
			if l.ID == configured {
				return l, nil
			}
		}
		return flabs.Lab{}, fmt.Errorf("flabs.lab_id %q is not one of this account's labs:%s", configured, names())
	}
	switch len(labs) {
	case 0:
		return flabs.Lab{}, errors.New("Flabs lists no labs for this account")
	case 1:
		return labs[0], nil
	}
	return flabs.Lab{}, fmt.Errorf("this account has %d labs; set flabs.lab_id to one of:%s", len(labs), names())
}

// Sync pulls the labs, tests and packages of the chosen lab from src and
// stores them in one transaction: new entries are added, changed ones
// updated, vanished ones marked inactive (kept, never deleted, so a
// workbook can still name them). It reports the changes and the table
// entries whose target vanished.
func (s *Store) Sync(ctx context.Context, src Source, labID string, now time.Time) (*SyncReport, error) {
	labs, err := src.Labs(ctx)
	if err != nil {
		return nil, fmt.Errorf("list labs: %w", err)
	}
	lab, err := PickLab(labs, labID)
	if err != nil {
		return nil, err
	}
	tests, err := src.Tests(ctx, lab.ID)
	if err != nil {
		return nil, fmt.Errorf("list tests of lab %s: %w", lab.ID, err)
	}
	pkgs, err := src.Packages(ctx, lab.ID)
	if err != nil {
		return nil, fmt.Errorf("list packages of lab %s: %w", lab.ID, err)
	}
	if len(tests) == 0 && len(pkgs) == 0 {
		return nil, fmt.Errorf("sync lab %s: %w; the stored catalogue is left as it was", lab.ID, ErrEmptyCatalogue)
	}
	rep := &SyncReport{LabID: lab.ID, LabName: lab.Name}
	type item struct {
		kind Kind
		flabs.CatalogueItem
	}
	fresh := map[catID]item{}
	var order []catID
	for _, l := range []struct {
		kind  Kind
		items []flabs.CatalogueItem
	}{{KindTest, tests}, {KindPackage, pkgs}} {
		for _, it := range l.items {
			id := catID{l.kind, it.ID}
			if _, dup := fresh[id]; dup || it.ID == "" {
				rep.Skipped++
				continue
			}
			if strings.TrimSpace(it.Name) == "" {
				it.Name = it.ID // nameless: keep it addressable, never matched by a partner's name
			}
			fresh[id] = item{l.kind, it}
			order = append(order, id)
			if l.kind == KindTest {
				rep.Tests++
			} else {
				rep.Packages++
			}
		}
	}
	err = s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		old, err := storedCatalogue(ctx, tx)
		if err != nil {
			return err
		}
		for id, o := range old {
			n, ok := fresh[id]
			switch {
			case !ok && o.Active:
				rep.Removed = append(rep.Removed, Change{Kind: id.kind, ID: id.id, Name: o.Name, Code: o.Code})
			case ok && !o.Active:
				rep.Added = append(rep.Added, Change{Kind: id.kind, ID: id.id, Name: n.Name, Code: n.Code})
			case ok && (o.Name != n.Name || o.Code != n.Code):
				c := Change{Kind: id.kind, ID: id.id, Name: n.Name, Code: n.Code}
				if o.Name != n.Name {
					c.OldName = o.Name
				}
				if o.Code != n.Code {
					c.OldCode = o.Code
				}
				rep.Renamed = append(rep.Renamed, c)
			}
		}
		for _, id := range order {
			if _, ok := old[id]; !ok {
				n := fresh[id]
				rep.Added = append(rep.Added, Change{Kind: id.kind, ID: id.id, Name: n.Name, Code: n.Code})
			}
		}
		up := tx.Rebind(`INSERT INTO catalogue (kind, id, flabs_id, code, name, norm_key, cost, lab_id, active, raw, synced_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (kind, id) DO UPDATE SET flabs_id = excluded.flabs_id, code = excluded.code, name = excluded.name,
	norm_key = excluded.norm_key, cost = excluded.cost, lab_id = excluded.lab_id, active = excluded.active,
	raw = excluded.raw, synced_at = excluded.synced_at`)
		stmt, err := tx.PreparexContext(ctx, up)
		if err != nil {
			return fmt.Errorf("store catalogue: %w", err)
		}
		defer stmt.Close()
		for _, id := range order {
			n := fresh[id]
			if _, err := stmt.ExecContext(ctx, string(id.kind), id.id, n.Code, n.Code, n.Name, Key(n.Name), n.Cost, lab.ID,
				true, string(n.Raw), store.T(now)); err != nil {
				return fmt.Errorf("store catalogue %s %s: %w", id.kind, id.id, err)
			}
		}
		gone := tx.Rebind(`UPDATE catalogue SET active = ?, synced_at = ? WHERE kind = ? AND id = ?`)
		for _, c := range rep.Removed {
			if _, err := tx.ExecContext(ctx, gone, false, store.T(now), string(c.Kind), c.ID); err != nil {
				return fmt.Errorf("retire catalogue %s %s: %w", c.Kind, c.ID, err)
			}
		}
		labQ := tx.Rebind(`INSERT INTO labs (id, name, raw, synced_at) VALUES (?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET name = excluded.name, raw = excluded.raw, synced_at = excluded.synced_at`)
		if _, err := tx.ExecContext(ctx, labQ, lab.ID, lab.Name, string(lab.Raw), store.T(now)); err != nil {
			return fmt.Errorf("store lab %s: %w", lab.ID, err)
		}
		es, err := entries(ctx, tx)
		if err != nil {
			return err
		}
		var items []CatalogueItem
		for _, id := range order {
			n := fresh[id]
			items = append(items, CatalogueItem{Kind: id.kind, ID: id.id, Code: n.Code, Name: n.Name})
		}
		rep.Orphaned = Orphans(es, NewIndex(nil, items))
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, cs := range [][]Change{rep.Added, rep.Removed, rep.Renamed} {
		slices.SortFunc(cs, func(a, b Change) int {
			return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
		})
	}
	return rep, nil
}

// Orphans returns the entries whose target is not in ix's catalogue.
func Orphans(es []Entry, ix *Index) []Entry {
	var out []Entry
	for _, e := range es {
		if !ix.Known(e.Kind, e.Target, e.TargetKey) {
			out = append(out, e)
		}
	}
	return out
}

type catID struct {
	kind Kind
	id   string
}

type storedItem struct {
	Name   string
	Code   string
	Active bool
}

func storedCatalogue(ctx context.Context, tx *sqlx.Tx) (map[catID]storedItem, error) {
	var rows []struct {
		Kind   string `db:"kind"`
		ID     string `db:"id"`
		Code   string `db:"code"`
		Name   string `db:"name"`
		Active bool   `db:"active"`
	}
	if err := tx.SelectContext(ctx, &rows, `SELECT kind, id, code, name, active FROM catalogue`); err != nil {
		return nil, fmt.Errorf("read catalogue: %w", err)
	}
	out := make(map[catID]storedItem, len(rows))
	for _, r := range rows {
		out[catID{Kind(r.Kind), r.ID}] = storedItem{r.Name, r.Code, r.Active}
	}
	return out, nil
}
