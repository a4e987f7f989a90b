package mapping

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// Problem is a line of an import that cannot be applied.
type Problem struct {
	Row     int    `json:"row"`
	Column  string `json:"column,omitempty"`
	Value   string `json:"value,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Column != "" {
		return fmt.Sprintf("row %d: %s %q: %s", p.Row, p.Column, p.Value, p.Message)
	}
	return fmt.Sprintf("row %d: %s", p.Row, p.Message)
}

// Plan is a checked import: what it would add and change, or why it
// cannot be applied. An import is all or nothing: with any problem,
// nothing is applied.
type Plan struct {
	Entries   []Entry   `json:"-"`         // what would be written
	Added     int       `json:"added"`     // names new to the table
	Changed   int       `json:"changed"`   // names that map to a different target now
	Unchanged int       `json:"unchanged"` // already in the table as given
	Repeated  int       `json:"repeated"`  // lines that repeat an earlier line exactly
	Unfilled  int       `json:"unfilled"`  // review lines left without a target (SkipUnfilled)
	Problems  []Problem `json:"problems"`
	// Overrides are names that are also a catalogue name, abbreviation or
	// name part and that the import maps elsewhere: allowed (an alias wins), but
	// worth a second look.
	Overrides []string `json:"overrides"`
}

// OK reports whether the plan can be applied.
func (p *Plan) OK() bool { return len(p.Problems) == 0 }

// ImportOptions say how lines become entries.
type ImportOptions struct {
	// Partners are the partner names the config knows; a line for any
	// other partner is a problem (most likely a typo). Nil: no check.
	Partners []string
	Source   string // SourceImport unless set (SourceReview for the review workbook)
	By       string // who imports
	Now      time.Time
	DryRun   bool // check only
	// SkipUnfilled passes over lines with neither id nor flabs_id instead
	// of refusing them: a review sheet comes back with only the names a
	// person decided on filled in.
	SkipUnfilled bool
}

// CheckImport checks every line against the catalogue in ix (built
// without aliases) and the
// table as it stands (existing), and plans the import. It reports every
// problem, not just the first: unknown kind, missing name, neither or both
// of id and flabs_id, flabs_id on a package, a target that is not in the
// catalogue, an unknown partner, and two lines giving one name different
// targets.
func CheckImport(lines []Line, ix *Index, existing []Entry, opts ImportOptions) *Plan {
	if opts.Source == "" {
		opts.Source = SourceImport
	}
	plan := &Plan{}
	type seenAt struct {
		row int
		e   Entry
	}
	seen := map[[3]string]seenAt{}
	have := map[[3]string]Entry{}
	for _, e := range existing {
		k := e.Key
		if k == "" {
			k = Key(e.LocalName)
		}
		have[[3]string{e.Scope, string(e.Kind), k}] = e
	}
	for _, l := range lines {
		if opts.SkipUnfilled && l.ID == "" && l.FlabsID == "" {
			plan.Unfilled++
			continue
		}
		bad := func(col, val, msg string) { plan.Problems = append(plan.Problems, Problem{l.Row, col, val, msg}) }
		n := len(plan.Problems)
		kind, ok := ParseKind(l.Kind)
		if !ok {
			bad("kind", l.Kind, "want test or package")
		}
		name := strings.TrimSpace(l.LocalName)
		key := Key(name)
		if key == "" {
			bad("local_name", l.LocalName, "empty: say which name the partner writes")
		}
		if opts.Partners != nil && l.Partner != "" && !slices.Contains(opts.Partners, l.Partner) {
			bad("partner", l.Partner, fmt.Sprintf("not a partner in the config (known: %s); leave it empty for all partners", strings.Join(opts.Partners, ", ")))
		}
		var target string
		var tkey TargetKey
		switch {
		case l.ID == "" && l.FlabsID == "":
			bad("", "", "neither id nor flabs_id: give exactly one")
		case l.ID != "" && l.FlabsID != "":
			bad("", "", fmt.Sprintf("both id %q and flabs_id %q: give exactly one", l.ID, l.FlabsID))
		case l.FlabsID != "" && kind == KindPackage:
			bad("flabs_id", l.FlabsID, "packages are sent by id only; put the package's id in the id column")
		case l.ID != "":
			target, tkey = l.ID, KeyID
		default:
			target, tkey = l.FlabsID, KeyFlabsID
		}
		if target != "" && ok && !ix.Known(kind, target, tkey) {
			msg := fmt.Sprintf("no %s in the catalogue has this %s", kind, tkey)
			other := KindPackage
			if kind == KindPackage {
				other = KindTest
			}
			if ix.Known(other, target, tkey) {
				msg += fmt.Sprintf(" (it is a %s: fix the kind column)", other)
			} else {
				msg += "; run 'flabsync mapping sync' if the catalogue is old"
			}
			bad(string(tkey), target, msg)
		}
		if len(plan.Problems) > n {
			continue
		}
		e := Entry{Scope: l.Partner, Kind: kind, LocalName: name, Key: key, Target: target, TargetKey: tkey,
			Source: opts.Source, CreatedAt: opts.Now, CreatedBy: opts.By}
		id := [3]string{e.Scope, string(kind), key}
		if prev, dup := seen[id]; dup {
			if prev.e.Target == target && prev.e.TargetKey == tkey {
				plan.Repeated++
				continue
			}
			bad("local_name", name, fmt.Sprintf("row %d maps the same name (%s, %s) to %s %q; this row says %s %q",
				prev.row, scopeName(e.Scope), kind, prev.e.TargetKey, prev.e.Target, tkey, target))
			continue
		}
		seen[id] = seenAt{l.Row, e}
		switch old, ok := have[id]; {
		case !ok:
			plan.Added++
		case old.Target == target && old.TargetKey == tkey:
			plan.Unchanged++
			continue
		default:
			plan.Changed++
		}
		if m := ix.Lookup("", kind, name); m.How == MatchCatalogue || m.How == MatchAbbreviation || m.How == MatchNamePart {
			if m.Target != target {
				plan.Overrides = append(plan.Overrides, fmt.Sprintf("row %d: %q is the catalogue's %q, mapped here to %s %s instead",
					l.Row, name, m.Catalogue, tkey, target))
			}
		}
		plan.Entries = append(plan.Entries, e)
	}
	return plan
}

// Import checks lines against the stored catalogue and table and, when
// every line is good and opts.DryRun is off, applies them in the same
// transaction: all or nothing. The plan says what was (or would be) done,
// or lists every problem.
func (s *Store) Import(ctx context.Context, lines []Line, opts ImportOptions) (*Plan, error) {
	var plan *Plan
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		es, err := entries(ctx, tx)
		if err != nil {
			return err
		}
		cat, err := catalogue(ctx, tx)
		if err != nil {
			return err
		}
		plan = CheckImport(lines, NewIndex(nil, cat), es, opts)
		if !plan.OK() || opts.DryRun {
			return nil
		}
		return putEntries(ctx, tx, plan.Entries)
	})
	if err != nil {
		return nil, fmt.Errorf("import mapping table: %w", err)
	}
	return plan, nil
}

// Lines turns entries into table lines, for export.
func Lines(es []Entry) []Line {
	out := make([]Line, len(es))
	for i, e := range es {
		l := Line{Partner: e.Scope, Kind: string(e.Kind), LocalName: e.LocalName}
		if e.TargetKey == KeyFlabsID {
			l.FlabsID = e.Target
		} else {
			l.ID = e.Target
		}
		out[i] = l
	}
	return out
}
