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
	Scope     string // partner name, "" for all partners
	Kind      Kind
	LocalName string
	Key       string // Key(LocalName)
	Target    string // the Flabs ID or code sent
	TargetKey TargetKey
	Source    string
	CreatedAt time.Time
	CreatedBy string
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
	How       string    // MatchAlias, MatchCatalogue, MatchAbbreviation or MatchNone
	Target    string    // the Flabs ID sent; "" for MatchNone
	TargetKey TargetKey // id or flabs_id
	Catalogue string    // the catalogue name of the target, when known
	Scope     string    // for aliases: the partner, or "" for a global alias
}

// How a name mapped.
const (
	MatchAlias        = "alias"
	MatchCatalogue    = "catalogue"
	MatchAbbreviation = "abbreviation"
	MatchNone         = "none"
)

// Mapped reports whether the name maps to a target.
func (m Match) Mapped() bool { return m.How != MatchNone }

type aliasKey struct {
	scope string
	kind  Kind
	key   string
}

type catKey struct {
	kind Kind
	key  string
}

// Index answers lookups. Build one per run with NewIndex; it is read-only
// afterwards and safe for concurrent use.
type Index struct {
	aliases map[aliasKey]Entry
	names   map[catKey][]int // catalogue name key → items
	abbrevs map[catKey][]int // abbreviation key → items
	byID    map[string]int   // ID or code → item
	items   []CatalogueItem
	sugg    *suggester
}

// NewIndex builds the lookup index from the table and the catalogue.
func NewIndex(entries []Entry, catalogue []CatalogueItem) *Index {
	ix := &Index{
		aliases: make(map[aliasKey]Entry, len(entries)),
		names:   make(map[catKey][]int, len(catalogue)),
		abbrevs: make(map[catKey][]int),
		byID:    make(map[string]int, 2*len(catalogue)),
		items:   catalogue,
	}
	for _, e := range entries {
		k := e.Key
		if k == "" {
			k = Key(e.LocalName)
		}
		ix.aliases[aliasKey{e.Scope, e.Kind, k}] = e
	}
	for i, it := range catalogue {
		ck := catKey{it.Kind, Key(it.Name)}
		ix.names[ck] = append(ix.names[ck], i)
		if a := Abbreviation(it.Name); a != "" {
			ak := catKey{it.Kind, a}
			ix.abbrevs[ak] = append(ix.abbrevs[ak], i)
		}
		ix.byID[string(it.Kind)+"\x00id\x00"+it.ID] = i
		if it.Code != "" {
			ix.byID[string(it.Kind)+"\x00code\x00"+it.Code] = i
		}
	}
	ix.sugg = newSuggester(catalogue)
	return ix
}

// Lookup maps one name written by partner in a column of kind. The order
// is: the partner's alias, a global alias, an exact catalogue name, then a
// catalogue abbreviation carried by exactly one entry — first for kind,
// then for the other kind (a package written in the tests column is still
// an exact match). Nothing else maps.
func (ix *Index) Lookup(partner string, kind Kind, name string) Match {
	k := Key(name)
	other := KindPackage
	if kind == KindPackage {
		other = KindTest
	}
	scopes := []string{""}
	if partner != "" {
		scopes = []string{partner, ""}
	}
	for _, kd := range []Kind{kind, other} {
		for _, scope := range scopes {
			if e, ok := ix.aliases[aliasKey{scope, kd, k}]; ok {
				cat, _ := ix.catalogueItem(kd, e.Target, e.TargetKey)
				return Match{Name: name, Kind: kd, How: MatchAlias, Target: e.Target, TargetKey: e.TargetKey,
					Catalogue: cat, Scope: scope}
			}
		}
	}
	for _, kd := range []Kind{kind, other} {
		if is := ix.names[catKey{kd, k}]; len(is) == 1 {
			return ix.catMatch(name, MatchCatalogue, is[0])
		}
	}
	for _, kd := range []Kind{kind, other} {
		if is := ix.abbrevs[catKey{kd, k}]; len(is) == 1 {
			return ix.catMatch(name, MatchAbbreviation, is[0])
		}
	}
	return Match{Name: name, Kind: kind, How: MatchNone}
}

func (ix *Index) catMatch(name, how string, i int) Match {
	it := ix.items[i]
	return Match{Name: name, Kind: it.Kind, How: how, Target: it.ID, TargetKey: KeyID, Catalogue: it.Name}
}

// catalogueItem finds the catalogue name of a target.
func (ix *Index) catalogueItem(kind Kind, target string, key TargetKey) (string, bool) {
	id := string(kind) + "\x00id\x00" + target
	if key == KeyFlabsID {
		id = string(kind) + "\x00code\x00" + target
	}
	if i, ok := ix.byID[id]; ok && ix.items[i].Kind == kind {
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
