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

// shortlist is how many trigram candidates get a full score. Entries
// found by abbreviation, spacing or a rare word join them (maxExtra), so
// trigrams need to bring fewer than the 12 they once did.
const shortlist = 8

// rareWord: a word of the name carried by at most this many entries
// brings them all to scoring, however few trigrams they share ("Serum
// Prolactin" reaches "Prolactin (PRL)" past a dozen "Serum …" entries).
const rareWord = 8

// maxExtra is how many entries at most join the trigram shortlist by
// abbreviation, spacing or rare word: a long name costs no more than that.
const maxExtra = 12

// maxWords is how many words of a name are compared word by word.
const maxWords = 16

// sitem is what scoring needs of one catalogue entry, worked out once.
type sitem struct {
	key     string // Key(name)
	base    string // key without its "(abbreviation)": a prefix of key
	abbr    string // Abbreviation(name)
	code    string // Key(code)
	ckey    string // compact(key)
	cbase   string // compact(base)
	cabbr   string // compact(abbr)
	ccode   string // compact(code)
	tokens  []word // words of key
	nb      int    // tokens[:nb] are the words of base
	na      int    // tokens[nb:nb+na] are the words of abbr
	inits   string // the first byte of each token (0 when not ASCII)
	sorted  string // the words of base, sorted
	quals   qualSet
	free    bool // "free" is stated or implied (FT4)
	nGrams  int
	baseLen int // len(base) in runes, as textdist counts
}

// word is a token with what scoring needs of it.
type word struct {
	s       string
	code    bool    // codeLike(s), and not a filler or qualifier word
	letters string  // letters(s), for codes
	weight  float64 // rarer words in the catalogue weigh more; 0 for fillers
	syn     string  // the catalogue's other name for it: "thyroxine" ↔ "t4"
	qual    qual
}

type suggester struct {
	items   []CatalogueItem
	si      []sitem
	grams   map[uint64][]int32 // trigram → items
	byAbbr  map[string][]int   // abbreviation or code → items
	byComp  map[string][]int32 // compact abbreviation, code, name or base → items
	byWord  map[string][]int32 // word of a name or code → items
	weights map[string]float64 // word → weight
	syn     map[string]string  // word → the catalogue's other name for it
	scratch sync.Pool          // *scratch: Suggest runs concurrently
}

// scratch is one Suggest call's working memory, reused: counts is all
// zero between calls.
type scratch struct {
	counts  []uint16 // shared trigrams per item
	touched []int32  // items with counts > 0
	grams   []uint64
}

func newSuggester(items []CatalogueItem) *suggester {
	n := len(items)
	s := &suggester{items: items, si: make([]sitem, n), grams: make(map[uint64][]int32, 4*n), byAbbr: make(map[string][]int, 2*n),
		byComp: make(map[string][]int32, 3*n), byWord: make(map[string][]int32, 2*n), syn: map[string]string{}}
	var gs []uint64
	toks := make([][]string, len(items))
	for i, it := range items {
		k := Key(it.Name)
		e := sitem{key: k, abbr: Abbreviation(it.Name), code: Key(it.Code)}
		e.base = strings.TrimSpace(strings.TrimSuffix(k, "("+e.abbr+")"))
		e.baseLen = utf8.RuneCountInString(e.base)
		e.ckey, e.cbase, e.cabbr, e.ccode = compact(k), compact(e.base), compact(e.abbr), compact(e.code)
		toks[i] = tokens(k)
		e.nb, e.na = len(tokens(e.base)), len(tokens(e.abbr))
		if e.nb > 1 {
			e.sorted = sortedWords(toks[i][:e.nb])
		}
		if e.code != "" && !slices.Contains(toks[i], e.code) && len(tokens(e.code)) == 1 { // the code stands for the name too
			toks[i] = append(toks[i], e.code)
		}
		if e.abbr != "" {
			s.byAbbr[e.abbr] = append(s.byAbbr[e.abbr], i)
		}
		if e.code != "" && e.code != e.abbr {
			s.byAbbr[e.code] = append(s.byAbbr[e.code], i)
		}
		for _, c := range [...]string{e.cabbr, e.ccode, e.cbase, e.ckey} {
			if c != "" && !slices.Contains(s.byComp[c], int32(i)) {
				s.byComp[c] = append(s.byComp[c], int32(i))
			}
		}
		for _, t := range toks[i] {
			if !slices.Contains(s.byWord[t], int32(i)) {
				s.byWord[t] = append(s.byWord[t], int32(i))
			}
		}
		// "X (Y)" with one word on each side gives two names for one
		// thing: "Thyroxine (T4)", "Haemoglobin (Hb)".
		if x, y, ok := splitName(it.Name); ok {
			xk, yk := Key(x), Key(y)
			if len(tokens(xk)) == 1 && len(tokens(yk)) == 1 && codeLike(yk) && xk != yk {
				for _, p := range [2][2]string{{xk, yk}, {yk, xk}} {
					if old, seen := s.syn[p[0]]; seen && old != p[1] {
						p[1] = "" // two meanings: none
					}
					s.syn[p[0]] = p[1]
				}
			}
		}
		gs = appendTrigrams(gs[:0], k)
		e.nGrams = len(gs)
		for _, g := range gs {
			s.grams[g] = append(s.grams[g], int32(i))
		}
		s.si[i] = e
	}
	// A word's weight falls with the number of entries that have it.
	s.weights = make(map[string]float64, len(s.byWord))
	logN := math.Log(float64(max(2, n)))
	for t, is := range s.byWord {
		s.weights[t] = 0.3 + 0.7*math.Log(float64(max(2, n))/float64(len(is)))/logN
	}
	for i := range s.si {
		e := &s.si[i]
		e.tokens = s.words(toks[i])
		e.inits, e.quals, e.free = firstBytes(e.tokens), qualsOf(e.tokens), freeIn(e.tokens)
	}
	s.scratch.New = func() any { return &scratch{counts: make([]uint16, len(items))} }
	return s
}

// words makes the words of a name from its tokens.
func (s *suggester) words(ts []string) []word {
	ws := make([]word, len(ts))
	for i, t := range ts {
		w := word{s: t, weight: 1, qual: qualifiers[t]}
		if v, ok := s.weights[t]; ok {
			w.weight = v
		}
		if i == 0 && t == "s" && len(ts) > 1 { // "S. Creatinine": serum
			w.qual = qualBlood
		}
		switch {
		case filler[t]:
			w.weight = 0
		case w.qual.group != 0: // compared as qualifiers, not codes
			if w.qual == qualBlood || w.qual == qualTotal {
				w.weight = min(w.weight, 0.5) // added or dropped, they matter little
			}
		default:
			w.code = codeLike(t)
		}
		if w.code {
			w.letters = letters(t)
		}
		w.syn = s.syn[t]
		ws[i] = w
	}
	return ws
}

// query is an unmapped name, prepared for scoring.
type query struct {
	key     string
	words   []word
	tokens  []string
	compact string
	inits   string // initials() of the tokens
	first   string // firstBytes of the words
	sorted  string // the words, sorted
	quals   qualSet
	free    bool
	hasCode bool // a word is a code or a qualifier: its initials are no abbreviation ("PP Sugar")
}

func (s *suggester) newQuery(k string) query {
	q := query{key: k, tokens: tokens(k), compact: compact(k)}
	q.words = s.words(q.tokens)
	q.inits, q.first, q.quals, q.free = initials(q.tokens), firstBytes(q.words), qualsOf(q.words), freeIn(q.words)
	q.hasCode = slices.ContainsFunc(q.words, func(w word) bool { return w.code || w.qual.group != 0 })
	if len(q.tokens) > 1 {
		q.sorted = sortedWords(q.tokens)
	}
	return q
}

// Suggest returns up to MaxSuggestions catalogue entries for an unmapped
// name, best first, each with a score and a reason. Entries of kind rank
// above the other kind. Codes that differ (T4 vs FT4, Hb vs HbA1c,
// Vitamin D vs Vitamin D3) and qualifiers that contradict (Urine vs
// Serum, Free vs Total, Fasting vs PP) pull a score down hard and say so
// in the reason, so a near-miss never looks like a match.
func (ix *Index) Suggest(kind Kind, name string) []Suggestion {
	s := ix.sugg
	k := Key(name)
	if k == "" || len(s.items) == 0 {
		return nil
	}
	q := s.newQuery(k)
	sc := s.scratch.Get().(*scratch)
	defer s.scratch.Put(sc)
	sc.grams = appendTrigrams(sc.grams[:0], k)
	counts, touched := sc.counts, sc.touched[:0]
	defer func() {
		for _, i := range touched { // leave counts zeroed for the next call
			counts[i] = 0
		}
		sc.touched = touched
	}()
	for _, g := range sc.grams {
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
	cands := make([]cand, 0, shortlist+maxExtra)
	nq := len(sc.grams)
	for _, i := range touched {
		c := cand{int(i), 2 * float64(counts[i]) / float64(nq+s.si[i].nGrams)}
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
	add := func(i int) {
		if len(cands) < shortlist+maxExtra && !slices.ContainsFunc(cands, func(c cand) bool { return c.i == i }) {
			cands = append(cands, cand{i: i})
		}
	}
	// Whatever trigrams say: the name is an entry's abbreviation or code
	// (shared, or it would have mapped), or the initials of its words are;
	// it is an entry's name, abbreviation or code spaced or punctuated
	// differently; or it has a word few entries have.
	for _, ab := range [2]string{k, q.inits} {
		for _, i := range s.byAbbr[ab] {
			add(i)
		}
	}
	for _, i := range s.byComp[q.compact] {
		add(int(i))
	}
	for _, t := range q.words {
		if is := s.byWord[t.s]; len(is) <= rareWord {
			for _, i := range is {
				add(int(i))
			}
		}
		if t.code && len(t.s) >= 3 { // "iPTH", "TT3": a letter before a code
			for _, i := range s.byAbbr[t.s[1:]] {
				add(i)
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
		score, w := s.score(&q, c.i)
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
	spaced    bool // the name written with other spaces or punctuation ("D Dimer")
	exact     int  // words shared exactly
	edit      float64
	namesAbbr bool     // the query names the entry's abbreviation
	diffs     []string // codes on one side only, or qualifiers that contradict (as keyed)
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
	case w.spaced:
		r = "same name, spaced or punctuated differently"
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
			parts = append(parts, "CAUTION differs in "+strings.ToUpper(strings.Join(dedupe(w.diffs), ", ")))
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
	if len(q.tokens) > 2 && q.inits == e.abbr && !q.hasCode {
		return 0.8, why{initials: true}
	}
	if q.compact != "" && (q.compact == e.cabbr || q.compact == e.ccode) {
		return 0.85, why{written: true}
	}
	if q.compact != "" && q.compact == e.ckey {
		return 0.9, why{spaced: true}
	}
	// Spelling of the whole name (with and without its abbreviation), and
	// how well the query's words are covered by the entry's words and the
	// other way round. One pass of the edit-distance table gives both
	// spellings.
	full, base := textdist.SimilarityPrefix(k, e.key, e.baseLen)
	w := why{edit: max(full, base)}
	if q.compact == e.cbase { // the name before its parenthesis, spaced differently
		w.edit = 1
	}
	qw, ew := q.words[:min(len(q.words), maxWords)], e.tokens[:min(len(e.tokens), maxWords)]
	var qbArr, ebArr [maxWords]float64
	qb, eb := qbArr[:len(qw)], ebArr[:len(ew)]
	reordered, last := false, -1 // the words both have, in another order
	for a, t := range qw {
		for b, c := range ew {
			if c.s == t.s {
				if qb[a] < 1 {
					reordered = reordered || b < last
					last = b
				}
				qb[a], eb[b] = 1, 1
				continue
			}
			if sim := tokenSim(t, c, max(qb[a], eb[b])); sim > 0 {
				qb[a], eb[b] = max(qb[a], sim), max(eb[b], sim)
			}
		}
	}
	for a, t := range qw {
		if qb[a] == 1 {
			w.exact++
		}
		// Words run together or split: "preoperative" ↔ "pre operative".
		for b := 0; b+1 < len(ew); b++ {
			if joined(t.s, ew[b].s, ew[b+1].s) {
				qb[a], eb[b], eb[b+1] = 1, 1, 1
			}
		}
		if a+1 < len(qw) {
			for b, c := range ew {
				if joined(c.s, t.s, qw[a+1].s) {
					qb[a], qb[a+1], eb[b] = 1, 1, 1
				}
			}
		}
	}
	// The same words in another order: "Total Bilirubin".
	if reordered && w.edit < 0.9 {
		if q.sorted == e.sorted {
			w.edit = 1
		} else if la, lb := len(q.sorted), len(e.sorted); float64(min(la, lb))/float64(max(la, lb)) > w.edit {
			w.edit = max(w.edit, textdist.Similarity(q.sorted, e.sorted))
		}
	}
	// An abbreviation on one side spelled out on the other: "PP" ↔ "Post
	// Prandial", "C/S" ↔ "Culture & Sensitivity", "Anti CCP" ↔ "Anti
	// Cyclic Citrullinated Peptide".
	spelledOut(qw, qb, ew, eb, e.inits)
	spelledOut(ew, eb, qw, qb, q.first)
	if e.abbr != "" && e.base != e.key && containsRun(q.tokens, ew[e.nb:min(len(ew), e.nb+e.na)]) {
		w.namesAbbr = true
		for b := range eb[:min(e.nb, len(eb))] {
			eb[b] = max(eb[b], 0.9)
		}
	}
	cover, sum := 0.0, 0.0
	for a, t := range qw {
		cover += t.weight * qb[a]
		sum += t.weight
	}
	cover /= max(sum, 1e-9)
	candFrac, sum := 0.0, 0.0
	for b, c := range ew[:min(e.nb, len(ew))] {
		if eb[b] >= 0.6 {
			candFrac += c.weight * eb[b]
		}
		sum += c.weight
	}
	candFrac /= max(sum, 1e-9)
	score := 0.4*w.edit + 0.6*cover*(0.7+0.3*candFrac)
	if w.namesAbbr {
		score = max(score, 0.45+0.4*cover)
	}
	// Codes must agree: a code-like word on one side that nothing on the
	// other side stands for.
	for a, t := range qw {
		if t.code && qb[a] < 0.85 {
			w.diffs = append(w.diffs, t.s)
		}
	}
	for b, c := range ew[:min(e.nb, len(ew))] { // the entry's own abbreviation may be absent from the query
		if c.code && eb[b] < 0.85 {
			w.diffs = append(w.diffs, c.s)
		}
	}
	// Qualifiers must not contradict: Urine vs Serum, Free vs Total,
	// Fasting vs PP. "Free" stated on one side only differs too.
	for g := range q.quals {
		if q.quals[g] != 0 && e.quals[g] != 0 && q.quals[g]&e.quals[g] == 0 {
			w.diffs = qualWords(w.diffs, qw, uint8(g))
			w.diffs = qualWords(w.diffs, ew, uint8(g))
		}
	}
	if q.free != e.free {
		w.diffs = append(w.diffs, "free")
	}
	if len(w.diffs) > 0 {
		score *= 0.5
	}
	return min(score, 1), w
}

// tokenSim compares two words that differ: codes by their letters (D3 is
// a kind of D, B12 is not), other words by spelling. A result no better
// than floor may come back as 0: the caller keeps its best.
func tokenSim(a, b word, floor float64) float64 {
	if a.syn == b.s || b.syn == a.s {
		if a.syn != "" || b.syn != "" {
			return 0.9
		}
	}
	if a.qual.group != 0 && a.qual == b.qual { // "AM" ↔ "Morning"
		return 0.9
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
		if la != "" && la == lb || oneMore(a.s, b.s) || oneMore(b.s, a.s) {
			return 0.7
		}
		return 0
	}
	// Similarity is at most the shorter length over the longer.
	la, lb := len(a.s), len(b.s)
	if float64(min(la, lb))/float64(max(la, lb, 1)) <= floor {
		return 0
	}
	return textdist.Similarity(a.s, b.s)
}

// oneMore reports whether code a is code b with a letter before it
// ("tt3", "t3"; "ipth", "pth"): near, never the same.
func oneMore(a, b string) bool {
	return len(b) >= 2 && len(a) == len(b)+1 && a[1:] == b && a[0] >= 'a' && a[0] <= 'z'
}

// containsRun reports whether the words ws, in order, are a run of ts.
func containsRun(ts []string, ws []word) bool {
	if len(ws) == 0 {
		return false
	}
	for at := 0; at+len(ws) <= len(ts); at++ {
		if slices.EqualFunc(ts[at:at+len(ws)], ws, func(t string, w word) bool { return t == w.s }) {
			return true
		}
	}
	return false
}

// sortedWords joins the words in order: "total bilirubin" → "bilirubin total".
func sortedWords(ts []string) string {
	ts = slices.Clone(ts)
	slices.Sort(ts)
	return strings.Join(ts, " ")
}

// joined reports whether t is a and b run together.
func joined(t, a, b string) bool {
	return len(t) == len(a)+len(b) && t[:len(a)] == a && t[len(a):] == b
}

// spelledOut marks words of one side that abbreviate a run of words on
// the other, whose first bytes are inits: a code word of letters ("pp",
// "ccp"), or a run of single letters ("c s" from "C/S").
func spelledOut(xs []word, xb []float64, ys []word, yb []float64, inits string) {
	for a := 0; a < len(xs); a++ {
		end := a + 1
		ab := xs[a].s
		switch {
		case len(ab) == 1 && isLetters(ab):
			for end < len(xs) && len(xs[end].s) == 1 && isLetters(xs[end].s) {
				end++
			}
			if end-a < 2 {
				continue
			}
			var buf [maxWords]byte
			n := 0
			for _, x := range xs[a:end] {
				buf[n] = x.s[0]
				n++
			}
			ab = string(buf[:n])
		case len(ab) >= 2 && len(ab) <= 5 && (xs[a].code || xs[a].qual.group != 0) && isLetters(ab):
		default:
			continue
		}
		at := strings.Index(inits, ab)
		if at < 0 || at+len(ab) > len(ys) {
			a = end - 1
			continue
		}
		run := ys[at : at+len(ab)]
		if slices.ContainsFunc(run, func(y word) bool { return codeLike(y.s) }) { // words spelled out, not codes
			a = end - 1
			continue
		}
		for j := a; j < end; j++ {
			xb[j] = max(xb[j], 0.9)
		}
		for j := at; j < at+len(ab); j++ {
			yb[j] = max(yb[j], 0.9)
		}
		a = end - 1
	}
}

func isLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 'a' || c > 'z' {
			return false
		}
	}
	return s != ""
}

// firstBytes is the first byte of each word, 0 for one not in ASCII.
func firstBytes(ws []word) string {
	b := make([]byte, len(ws))
	for i, w := range ws {
		if c := w.s[0]; c < utf8.RuneSelf {
			b[i] = c
		}
	}
	return string(b)
}

// shortFor reports whether a is b shortened: at least three letters, a
// prefix of the longer b, both without digits ("vit" for vitamin, "trop"
// for troponin). Codes with digits never are: T4 is not short for T45,
// HbA for HbA1c.
func shortFor(a, b string) bool {
	if len(a) < 3 || len(a) >= len(b) || !strings.HasPrefix(b, a) {
		return false
	}
	for _, r := range b {
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

// filler words carry nothing: they are neither scored nor codes.
var filler = map[string]bool{"and": true, "for": true, "of": true, "the": true, "in": true, "with": true, "by": true,
	"on": true, "to": true, "per": true, "via": true}

// qual is a qualifier word: its group and its value in the group.
type qual struct{ group, value uint8 }

// The qualifier groups.
const (
	_ = iota
	qualSpecimen
	qualFraction
	qualTime
	qualGroups
)

// qualifiers are words that say which specimen, fraction or time a test
// is for. Two names that give different values in a group name different
// tests; a name that gives none says nothing ("Creatinine" may be "Serum
// Creatinine").
var qualifiers = map[string]qual{
	"serum": {qualSpecimen, 1}, "sr": {qualSpecimen, 1}, "plasma": {qualSpecimen, 1}, "blood": {qualSpecimen, 1},
	"urine": {qualSpecimen, 2}, "urinary": {qualSpecimen, 2},
	"stool": {qualSpecimen, 3}, "faecal": {qualSpecimen, 3}, "fecal": {qualSpecimen, 3},
	"csf": {qualSpecimen, 4}, "sputum": {qualSpecimen, 5}, "semen": {qualSpecimen, 6},
	"free": {qualFraction, 1}, "total": {qualFraction, 2}, "direct": {qualFraction, 3}, "indirect": {qualFraction, 4},
	"fasting": {qualTime, 1}, "pp": {qualTime, 2}, "prandial": {qualTime, 2}, "postprandial": {qualTime, 2},
	"random": {qualTime, 3}, "morning": {qualTime, 4}, "am": {qualTime, 4}, "evening": {qualTime, 5}, "pm": {qualTime, 5},
}

// Qualifiers that are often left out: "Creatinine" is "Serum Creatinine".
var (
	qualBlood = qualifiers["serum"]
	qualTotal = qualifiers["total"]
)

// qualSet holds, per group, the values a name gives as bits.
type qualSet [qualGroups]uint8

func qualsOf(ws []word) qualSet {
	var qs qualSet
	for _, w := range ws {
		if w.qual.group != 0 {
			qs[w.qual.group] |= 1 << w.qual.value
		}
	}
	return qs
}

// freeIn reports whether a name says "free", in words or by a code with
// digits that starts with F for it (FT3, FT4).
func freeIn(ws []word) bool {
	for _, w := range ws {
		if w.s == "free" || len(w.s) >= 3 && w.s[0] == 'f' && strings.IndexFunc(w.s, unicode.IsDigit) > 0 {
			return true
		}
	}
	return false
}

// qualWords appends the words of ws in qualifier group g.
func qualWords(dst []string, ws []word, g uint8) []string {
	for _, w := range ws {
		if w.qual.group == g {
			dst = append(dst, w.s)
		}
	}
	return dst
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

// appendTrigrams appends the distinct trigrams of " key " (padded so
// short keys have some), each packed into a uint64 as three 21-bit runes.
func appendTrigrams(dst []uint64, k string) []uint64 {
	start := len(dst)
	var g uint64
	n := 0
	step := func(r rune) {
		g = (g<<21 | uint64(r)) & (1<<63 - 1)
		if n++; n >= 3 && !slices.Contains(dst[start:], g) {
			dst = append(dst, g)
		}
	}
	step(' ')
	for _, r := range k {
		step(r)
	}
	step(' ')
	return dst
}
