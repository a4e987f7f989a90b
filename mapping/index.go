package mapping

import "time"

// TargetKey is the billing field a mapped test is sent under:
// mapped_tests[].id or mapped_tests[].flabs_id (packages only have id).
type TargetKey string

// The target keys.
const (
	KeyID      TargetKey = "id"
	KeyFlabsID TargetKey = "flabs_id"
)

// Sources of a table entry.
const (
	SourceCatalogue = "catalogue"
	SourceAlias     = "alias"
	SourceImport    = "import"
	SourceReview    = "review"
)

// Entry is one row of the mapping table: a local name (for one partner, or
// all when Scope is "") that maps to a Flabs target.
type Entry struct {
	Scope     string    `json:"partner"` // partner name, "" for all partners
	Kind      Kind      `json:"kind"`
	LocalName string    `json:"local_name"`
	Key       string    `json:"-"`      // Key(LocalName)
	Target    string    `json:"target"` // the Flabs ID or code sent
	TargetKey TargetKey `json:"key"`
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

// CatalogueItem is one test or package of the lab's Flabs catalogue.
type CatalogueItem struct {
	Kind Kind
	ID   string // Flabs ObjectId (sent as id)
	Code string // Flabs code, when the catalogue gives one (may be sent as flabs_id)
	Name string
}

// Match is how a name mapped, and to what.
type Match struct {
	Name      string    // the name looked up, as written
	Kind      Kind      // the kind it mapped as (or was looked up as)
	How       string    // MatchAlias, MatchCatalogue, MatchAbbreviation, MatchNamePart or MatchNone
	Target    string    // the Flabs ID sent; "" for MatchNone
	TargetKey TargetKey // id or flabs_id
	Catalogue string    // the catalogue name of the target, when known
	Scope     string    // for aliases: the partner, or "" for a global alias
	// Orphan is set when the name has an alias whose target is not in the
	// catalogue (it vanished, or was never synced): the name does not map
	// — neither to the stale target nor, past the alias, to a catalogue
	// entry a person chose not to use.
	Orphan bool
}

// How a name mapped.
const (
	MatchAlias        = "alias"
	MatchCatalogue    = "catalogue"
	MatchAbbreviation = "abbreviation"
	// MatchNamePart is X of a catalogue name "X (Y)" whose Y is an
	// abbreviation, when nothing else claims X (namepart.go): "Complete
	// Blood Count" for "Complete Blood Count (CBC)".
	MatchNamePart = "name-part"
	MatchNone     = "none"
)

// Mapped reports whether the name maps to a target.
func (m Match) Mapped() bool { return m.How != MatchNone }

// kinds indexes per-kind tables: 0 test, 1 package.
func kindIndex(k Kind) int {
	if k == KindPackage {
		return 1
	}
	return 0
}

// Index answers lookups. Build one per run with NewIndex; it is read-only
// afterwards and safe for concurrent use. Its maps are keyed by the
// normalised name alone so that a lookup can index them with the bytes of
// a stack buffer and allocate nothing.
type Index struct {
	aliases map[string][]alias  // key → aliases of every scope and kind
	names   [2]map[string][]int // per kind: catalogue name key → items
	abbrevs [2]map[string][]int // per kind: abbreviation key → items (and other items that claim the key)
	parts   map[string]int      // name-part key → the one item it maps to
	byID    map[string]int      // kind + ID or code → item
	items   []CatalogueItem
	sugg    *suggester
}

// NewIndex builds the lookup index from the table and the catalogue.
func NewIndex(entries []Entry, catalogue []CatalogueItem) *Index {
	ix := &Index{
		aliases: make(map[string][]alias, len(entries)),
		byID:    make(map[string]int, 2*len(catalogue)),
		items:   catalogue,
	}
	for i := range ix.names {
		ix.names[i] = make(map[string][]int, len(catalogue))
		ix.abbrevs[i] = make(map[string][]int)
	}
	for i, it := range catalogue {
		kd := kindIndex(it.Kind)
		k := Key(it.Name)
		ix.names[kd][k] = append(ix.names[kd][k], i)
		if a := Abbreviation(it.Name); a != "" {
			ix.abbrevs[kd][a] = append(ix.abbrevs[kd][a], i)
		}
		ix.byID[idKey(it.Kind, KeyID, it.ID)] = i
		if it.Code != "" {
			ix.byID[idKey(it.Kind, KeyFlabsID, it.Code)] = i
		}
	}
	ix.sugg = newSuggester(catalogue)
	ix.parts = nameParts(catalogue, ix.sugg, ix.abbrevs)
	for _, e := range entries {
		k := e.Key
		if k == "" {
			k = Key(e.LocalName)
		}
		cat, known := ix.catalogueItem(e.Kind, e.Target, e.TargetKey)
		ix.aliases[k] = append(ix.aliases[k], alias{e, cat, known})
	}
	return ix
}

// alias is a table entry with the catalogue name of its target.
type alias struct {
	Entry
	catalogue string
	known     bool // the target is in the catalogue
}

func idKey(kind Kind, key TargetKey, target string) string {
	return string(kind) + "\x00" + string(key) + "\x00" + target
}

// Lookup maps one name written by partner in a column of kind. The order
// is: the partner's alias, a global alias, an exact catalogue name, a
// catalogue abbreviation that exactly one entry carries (and that is no
// other entry's name part) — each first for kind, then for the other kind
// (a package written in the tests column is still an exact match) — then
// a name part that no entry of either kind claims otherwise (namepart.go).
// Nothing else maps. An alias whose target is not in the catalogue stops
// the lookup: the name does not map (Match.Orphan).
func (ix *Index) Lookup(partner string, kind Kind, name string) Match {
	var arr [96]byte
	k := appendKey(arr[:0], name)
	kinds := [2]Kind{kind, KindPackage}
	if kind == KindPackage {
		kinds[1] = KindTest
	}
	if as := ix.aliases[string(k)]; len(as) > 0 {
		for _, kd := range kinds {
			for _, scope := range [2]string{partner, ""} {
				for _, e := range as {
					if e.Scope == scope && e.Kind == kd {
						if !e.known {
							return Match{Name: name, Kind: kd, How: MatchNone, Scope: scope, Orphan: true}
						}
						return Match{Name: name, Kind: kd, How: MatchAlias, Target: e.Target, TargetKey: e.TargetKey,
							Catalogue: e.catalogue, Scope: scope}
					}
				}
			}
		}
	}
	for _, kd := range kinds {
		if is := ix.names[kindIndex(kd)][string(k)]; len(is) == 1 {
			return ix.catMatch(name, MatchCatalogue, is[0])
		}
	}
	for _, kd := range kinds {
		if is := ix.abbrevs[kindIndex(kd)][string(k)]; len(is) == 1 {
			return ix.catMatch(name, MatchAbbreviation, is[0])
		}
	}
	if i, ok := ix.parts[string(k)]; ok { // unique over both kinds
		return ix.catMatch(name, MatchNamePart, i)
	}
	return Match{Name: name, Kind: kind, How: MatchNone}
}

func (ix *Index) catMatch(name, how string, i int) Match {
	it := ix.items[i]
	return Match{Name: name, Kind: it.Kind, How: how, Target: it.ID, TargetKey: KeyID, Catalogue: it.Name}
}

// catalogueItem finds the catalogue name of a target.
func (ix *Index) catalogueItem(kind Kind, target string, key TargetKey) (string, bool) {
	if i, ok := ix.byID[idKey(kind, key, target)]; ok {
		return ix.items[i].Name, true
	}
	return "", false
}

// Known reports whether target (sent under key) is in the catalogue for
// kind: the check that import and sync apply to table entries.
func (ix *Index) Known(kind Kind, target string, key TargetKey) bool {
	_, ok := ix.catalogueItem(kind, target, key)
	return ok
}
