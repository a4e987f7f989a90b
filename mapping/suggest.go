package mapping

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/flabsync/flabsync/internal/textdist"
)

// Suggestion is a catalogue entry that might be what an unmapped name
// means. It is shown to people and never applied.
type Suggestion struct {
	Target string // the Flabs ID it would map to
	Name   string // its catalogue name
	Kind   Kind
	Score  float64 // 0..1, higher is likelier
	Reason string  // why it was suggested, and any warning
}

// MaxSuggestions is how many suggestions Suggest returns at most.
const MaxSuggestions = 3

// minScore is the lowest score worth showing. It is low on purpose: a
// near-miss flagged CAUTION (Trop T → Troponin I) still tells ops where
// to look.
const minScore = 0.15

// shortlist is how many trigram candidates get a full score.
const shortlist = 12

// sitem is what scoring needs of one catalogue entry, worked out once.
type sitem struct {
	key     string   // Key(name)
	base    string   // key without its "(abbreviation)": a prefix of key
	abbr    string   // Abbreviation(name)
	code    string   // Key(code)
	tokens  []word   // words of key
	bwords  []string // words of base
	nGrams  int
	baseLen int // len(base) in runes, as textdist counts
}

// word is a token with what tokenSim needs of it.
type word struct {
	s       string
	code    bool   // codeLike(s)
	letters string // letters(s), for codes
}

func newWord(t string) word {
	w := word{s: t, code: codeLike(t)}
	if w.code {
		w.letters = letters(t)
	}
	return w
}

type suggester struct {
	items   []CatalogueItem
	si      []sitem
	grams   map[string][]int32 // trigram → items
	byAbbr  map[string][]int
	scratch sync.Pool // *scratch: Suggest runs concurrently
}

// scratch is one Suggest call's working memory, reused: counts is all
// zero between calls.
type scratch struct {
	counts  []uint16 // shared trigrams per item
	touched []int32  // items with counts > 0
}

func newSuggester(items []CatalogueItem) *suggester {
	s := &suggester{items: items, si: make([]sitem, len(items)), grams: map[string][]int32{}, byAbbr: map[string][]int{}}
	for i, it := range items {
		k := Key(it.Name)
		e := sitem{key: k, abbr: Abbreviation(it.Name), code: Key(it.Code)}
		for _, t := range tokens(k) {
			e.tokens = append(e.tokens, newWord(t))
		}
		e.base = strings.TrimSpace(strings.TrimSuffix(k, "("+e.abbr+")"))
		e.bwords = tokens(e.base)
		e.baseLen = utf8.RuneCountInString(e.base)
		if e.abbr != "" {
			s.byAbbr[e.abbr] = append(s.byAbbr[e.abbr], i)
		}
		if e.code != "" && e.code != e.abbr {
			s.byAbbr[e.code] = append(s.byAbbr[e.code], i)
		}
		gs := trigrams(k)
		e.nGrams = len(gs)
		for _, g := range gs {
			s.grams[g] = append(s.grams[g], int32(i))
		}
		s.si[i] = e
	}
	s.scratch.New = func() any { return &scratch{counts: make([]uint16, len(items))} }
	return s
}

// query is an unmapped name, prepared for scoring.
type query struct {
	key     string
	words   []word
	tokens  []string
	compact string
	inits   string
}

// Suggest returns up to MaxSuggestions catalogue entries for an unmapped
// name, best first, each with a score and a reason. Entries of kind rank
// above the other kind. Codes that differ (T4 vs FT4, Hb vs HbA1c,
// Vitamin D vs Vitamin D3) pull a score down hard and say so in the
// reason, so a near-miss never looks like a match.
func (ix *Index) Suggest(kind Kind, name string) []Suggestion {
	s := ix.sugg
	k := Key(name)
	if k == "" || len(s.items) == 0 {
		return nil
	}
	q := &query{key: k, tokens: tokens(k), compact: compact(k)}
	for _, t := range q.tokens {
		q.words = append(q.words, newWord(t))
	}
	q.inits = initials(q.tokens)
	qGrams := trigrams(k)
	sc := s.scratch.Get().(*scratch)
	defer s.scratch.Put(sc)
	counts, touched := sc.counts, sc.touched[:0]
	defer func() {
		for _, i := range touched { // leave counts zeroed for the next call
			counts[i] = 0
		}
		sc.touched = touched
	}()
	for _, g := range qGrams {
		for _, i := range s.grams[g] {
			if counts[i] == 0 {
				touched = append(touched, i)
			}
			counts[i]++
		}
	}
	type cand struct {
		i    int
		dice float64
	}
	// Keep the best `shortlist` by trigram overlap (Dice), ties by index:
	// a bounded insertion, not a sort of every item touched.
	better := func(a, b cand) bool { return a.dice > b.dice || a.dice == b.dice && a.i < b.i }
	cands := make([]cand, 0, shortlist+4)
	for _, i := range touched {
		c := cand{int(i), 2 * float64(counts[i]) / float64(len(qGrams)+s.si[i].nGrams)}
		if len(cands) == shortlist && !better(c, cands[shortlist-1]) {
			continue
		}
		if len(cands) < shortlist {
			cands = append(cands, c)
		} else {
			cands[shortlist-1] = c
		}
		for j := len(cands) - 1; j > 0 && better(cands[j], cands[j-1]); j-- {
			cands[j], cands[j-1] = cands[j-1], cands[j]
		}
	}
	// Abbreviation candidates: the name is an entry's abbreviation or code
	// (shared, or it would have mapped), or the initials of its words are.
	for _, ab := range [2]string{k, q.inits} {
		for _, i := range s.byAbbr[ab] {
			if !slices.ContainsFunc(cands, func(c cand) bool { return c.i == i }) {
				cands = append(cands, cand{i: i})
			}
		}
	}
	type scored struct {
		i     int
		score float64
		why   why
	}
	all := make([]scored, 0, len(cands))
	for _, c := range cands {
		score, w := s.score(q, c.i)
		if s.items[c.i].Kind != kind {
			score *= 0.8
			w.otherKind = true
		}
		if score < minScore {
			continue
		}
		all = append(all, scored{c.i, math.Round(score*100) / 100, w})
	}
	slices.SortStableFunc(all, func(a, b scored) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return strings.Compare(s.items[a.i].Name, s.items[b.i].Name)
	})
	if len(all) > MaxSuggestions {
		all = all[:MaxSuggestions]
	}
	out := make([]Suggestion, len(all))
	for n, c := range all {
		it := s.items[c.i]
		out[n] = Suggestion{Target: it.ID, Name: it.Name, Kind: it.Kind, Score: c.score, Reason: c.why.String(s.si[c.i].abbr, it.Kind)}
	}
	return out
}

// why records how a score came about; only the suggestions kept are
// turned into words.
type why struct {
	abbrev    int // >0: the query is the abbreviation or code of this many entries
	initials  bool
	written   bool // the abbreviation written differently ("t-4")
	exact     int  // words shared exactly
	edit      float64
	namesAbbr bool     // the query names the entry's abbreviation
	diffs     []string // codes on one side only
	otherKind bool
}

// String is the reason shown to people.
func (w why) String(abbr string, kind Kind) string {
	var r string
	switch {
	case w.abbrev == 1:
		r = "abbreviation"
	case w.abbrev > 1:
		r = fmt.Sprintf("abbreviation shared by %d entries", w.abbrev)
	case w.initials:
		r = "initials match the abbreviation " + strings.ToUpper(abbr)
	case w.written:
		r = "abbreviation, written differently"
	default:
		var parts []string
		if w.namesAbbr {
			parts = append(parts, "names its abbreviation "+strings.ToUpper(abbr))
		}
		if w.exact > 0 {
			parts = append(parts, fmt.Sprintf("%d shared word(s)", w.exact))
		}
		parts = append(parts, fmt.Sprintf("spelling %.0f%% alike", w.edit*100))
		if len(w.diffs) > 0 {
			parts = append(parts, "CAUTION differs in "+strings.Join(dedupe(w.diffs), ", "))
		}
		r = strings.Join(parts, ", ")
	}
	if w.otherKind {
		r += "; is a " + string(kind)
	}
	return r
}

// score rates catalogue item i against the query.
func (s *suggester) score(q *query, i int) (float64, why) {
	e := &s.si[i]
	k := q.key
	// Abbreviation: the query is the entry's abbreviation or code.
	if k == e.abbr || (e.code != "" && k == e.code) {
		n := len(s.byAbbr[k])
		return 0.9 - 0.05*float64(min(n-1, 4)), why{abbrev: n}
	}
	if len(q.tokens) > 1 && q.inits != "" && q.inits == e.abbr {
		return 0.85, why{initials: true}
	}
	if q.compact != "" && (q.compact == compact(e.abbr) || q.compact == compact(e.code)) {
		return 0.85, why{written: true}
	}
	// Spelling of the whole name (with and without its abbreviation), and
	// how well the query's words are covered by the entry's words.
	// One pass of the edit-distance table gives both.
	full, base := textdist.SimilarityPrefix(k, e.key, e.baseLen)
	w := why{edit: max(full, base)}
	cover := 0.0
	for _, t := range q.words {
		best := 0.0
		for _, c := range e.tokens {
			best = max(best, tokenSim(t, c))
			if c.s == t.s {
				w.exact++
				break
			}
		}
		cover += best
	}
	cover /= float64(max(1, len(q.words)))
	candFrac := 0.0
	for _, c := range e.bwords {
		if slices.Contains(q.tokens, c) {
			candFrac++
		}
	}
	candFrac /= float64(max(1, len(e.bwords)))
	score := 0.4*w.edit + 0.6*cover*(0.7+0.3*candFrac)
	if e.abbr != "" && slices.Contains(q.tokens, e.abbr) {
		score = max(score, 0.75)
		w.namesAbbr = true
	}
	// Codes must agree: a code-like token on one side missing on the other.
	for _, t := range q.words {
		if t.code && t.s != e.abbr && !slices.ContainsFunc(e.tokens, func(c word) bool { return c.s == t.s || shortFor(t.s, c.s) }) {
			w.diffs = append(w.diffs, strings.ToUpper(t.s))
		}
	}
	for _, t := range e.bwords { // the entry's own abbreviation may be absent from the query
		if codeLike(t) && !slices.Contains(q.tokens, t) {
			w.diffs = append(w.diffs, strings.ToUpper(t))
		}
	}
	if len(w.diffs) > 0 {
		score *= 0.5
	}
	return score, w
}

// tokenSim compares two words: codes by their letters (D3 is a kind of
// D, B12 is not), other words by spelling.
func tokenSim(a, b word) float64 {
	if a.s == b.s {
		return 1
	}
	if shortFor(a.s, b.s) || shortFor(b.s, a.s) {
		return 0.85
	}
	if a.code || b.code {
		la, lb := a.letters, b.letters
		if !a.code {
			la = letters(a.s)
		}
		if !b.code {
			lb = letters(b.s)
		}
		if la != "" && la == lb {
			return 0.7
		}
		return 0
	}
	return textdist.Similarity(a.s, b.s)
}

// shortFor reports whether a is b shortened: at least three letters and
// no digits, a prefix of the longer b ("vit" for vitamin, "trop" for
// troponin). Codes with digits never are: T4 is not short for T45.
func shortFor(a, b string) bool {
	if len(a) < 3 || len(a) >= len(b) || !strings.HasPrefix(b, a) {
		return false
	}
	for _, r := range a {
		if !unicode.IsLetter(r) {
			return false
		}
	}
	return true
}

func letters(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) {
			return r
		}
		return -1
	}, s)
}

// compact drops everything but letters and digits: "t-4" → "t4".
func compact(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return -1
	}, s)
}

// codeLike reports whether a token reads as a code (T4, D3, HbA1c, B12,
// a short word such as Hb): those must match exactly.
func codeLike(t string) bool {
	digit, letters := false, 0
	for _, r := range t {
		if unicode.IsDigit(r) {
			digit = true
		} else if unicode.IsLetter(r) {
			letters++
		}
	}
	return digit || (letters > 0 && letters <= 3)
}

func dedupe(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// tokens splits a key into words of letters and digits.
func tokens(k string) []string {
	return strings.FieldsFunc(k, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// initials of a multi-word name: "complete blood count" → "cbc".
func initials(ts []string) string {
	if len(ts) < 2 {
		return ""
	}
	var b strings.Builder
	for _, t := range ts {
		for _, r := range t {
			b.WriteRune(r)
			break
		}
	}
	return b.String()
}

// trigrams of " key " (padded so short keys have some).
func trigrams(k string) []string {
	r := []rune(" " + k + " ")
	if len(r) < 3 {
		return nil
	}
	out := make([]string, 0, len(r)-2)
	for i := 0; i+3 <= len(r); i++ {
		g := string(r[i : i+3])
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out
}
