package mapping

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
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

// shortlist is how many trigram candidates get a full score.
const shortlist = 24

type suggester struct {
	items   []CatalogueItem
	keys    []string   // Key(name) per item
	tokens  [][]string // tokens of each key
	abbrevs []string
	grams   map[string][]int32 // trigram → items
	nGrams  []int              // trigrams per item
	byAbbr  map[string][]int
}

func newSuggester(items []CatalogueItem) *suggester {
	s := &suggester{items: items, keys: make([]string, len(items)), tokens: make([][]string, len(items)),
		abbrevs: make([]string, len(items)), grams: map[string][]int32{}, nGrams: make([]int, len(items)), byAbbr: map[string][]int{}}
	for i, it := range items {
		k := Key(it.Name)
		s.keys[i] = k
		s.tokens[i] = tokens(k)
		s.abbrevs[i] = Abbreviation(it.Name)
		if s.abbrevs[i] != "" {
			s.byAbbr[s.abbrevs[i]] = append(s.byAbbr[s.abbrevs[i]], i)
		}
		if it.Code != "" {
			c := Key(it.Code)
			if c != s.abbrevs[i] {
				s.byAbbr[c] = append(s.byAbbr[c], i)
			}
		}
		gs := trigrams(k)
		s.nGrams[i] = len(gs)
		for _, g := range gs {
			s.grams[g] = append(s.grams[g], int32(i))
		}
	}
	return s
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
	qTokens := tokens(k)
	qGrams := trigrams(k)
	counts := make([]uint16, len(s.items))
	var touched []int32
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
		c := cand{int(i), 2 * float64(counts[i]) / float64(len(qGrams)+s.nGrams[i])}
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
	for _, ab := range []string{k, initials(qTokens)} {
		for _, i := range s.byAbbr[ab] {
			if !slices.ContainsFunc(cands, func(c cand) bool { return c.i == i }) {
				cands = append(cands, cand{i: i})
			}
		}
	}
	out := make([]Suggestion, 0, len(cands))
	for _, c := range cands {
		it := s.items[c.i]
		score, reason := s.score(k, qTokens, c.i)
		if it.Kind != kind {
			score *= 0.8
			reason += fmt.Sprintf("; is a %s", it.Kind)
		}
		if score < 0.2 {
			continue
		}
		out = append(out, Suggestion{Target: it.ID, Name: it.Name, Kind: it.Kind, Score: math.Round(score*100) / 100, Reason: reason})
	}
	slices.SortStableFunc(out, func(a, b Suggestion) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	if len(out) > MaxSuggestions {
		out = out[:MaxSuggestions]
	}
	return out
}

// score rates catalogue item i against the query key and says why.
func (s *suggester) score(k string, q []string, i int) (float64, string) {
	ck, ct := s.keys[i], s.tokens[i]
	var reasons []string
	// Abbreviation: the query is the entry's abbreviation or code.
	abbr := s.abbrevs[i]
	code := Key(s.items[i].Code)
	if k == abbr || (code != "" && k == code) {
		n := len(s.byAbbr[k])
		r := "abbreviation"
		if n > 1 {
			r = fmt.Sprintf("abbreviation shared by %d entries", n)
		}
		return 0.9 - 0.05*float64(min(n-1, 4)), r
	}
	if ini := initials(q); len(q) > 1 && ini != "" && ini == abbr {
		return 0.85, "initials match the abbreviation " + strings.ToUpper(abbr)
	}
	if c := compact(k); c != "" && (c == compact(abbr) || c == compact(code)) {
		return 0.85, "abbreviation, written differently"
	}
	// Spelling of the whole name (with and without its abbreviation), and
	// how well the query's words are covered by the entry's words.
	base := strings.TrimSpace(strings.TrimSuffix(ck, "("+abbr+")"))
	bt := tokens(base)
	edit := max(similarity(k, ck), similarity(k, base))
	cover, exact := 0.0, 0
	for _, t := range q {
		best := 0.0
		for _, c := range ct {
			best = max(best, tokenSim(t, c))
		}
		cover += best
		if slices.Contains(ct, t) {
			exact++
		}
	}
	cover /= float64(max(1, len(q)))
	candFrac := 0.0
	for _, c := range bt {
		if slices.Contains(q, c) {
			candFrac++
		}
	}
	candFrac /= float64(max(1, len(bt)))
	score := 0.4*edit + 0.6*cover*(0.7+0.3*candFrac)
	if exact > 0 {
		reasons = append(reasons, fmt.Sprintf("%d shared word(s)", exact))
	}
	reasons = append(reasons, fmt.Sprintf("spelling %.0f%% alike", edit*100))
	if abbr != "" && slices.Contains(q, abbr) {
		score = max(score, 0.75)
		reasons = append([]string{"names its abbreviation " + strings.ToUpper(abbr)}, reasons...)
	}
	// Codes must agree: a code-like token on one side missing on the other.
	var diffs []string
	for _, t := range q {
		if codeLike(t) && !slices.Contains(ct, t) && t != abbr {
			diffs = append(diffs, strings.ToUpper(t))
		}
	}
	for _, t := range tokens(base) { // the entry's own abbreviation may be absent from the query
		if codeLike(t) && !slices.Contains(q, t) {
			diffs = append(diffs, strings.ToUpper(t))
		}
	}
	if len(diffs) > 0 {
		score *= 0.5
		reasons = append(reasons, "CAUTION differs in "+strings.Join(dedupe(diffs), ", "))
	}
	return score, strings.Join(reasons, ", ")
}

// tokenSim compares two words: codes by their letters (D3 is a kind of
// D, B12 is not), other words by spelling.
func tokenSim(a, b string) float64 {
	if a == b {
		return 1
	}
	if codeLike(a) || codeLike(b) {
		if la := letters(a); la != "" && la == letters(b) {
			return 0.7
		}
		return 0
	}
	return similarity(a, b)
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
	seen := map[string]bool{}
	for i := 0; i+3 <= len(r); i++ {
		g := string(r[i : i+3])
		if !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	return out
}

// similarity is 1 - Levenshtein distance / longer length, on runes.
func similarity(a, b string) float64 {
	ra, rb := []rune(a), []rune(b)
	if len(ra) == 0 && len(rb) == 0 {
		return 1
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return 1 - float64(prev[len(rb)])/float64(max(len(ra), len(rb)))
}
