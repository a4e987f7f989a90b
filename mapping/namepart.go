package mapping

import (
	"slices"
	"strings"
	"unicode"
)

// A catalogue name "X (Y)" is usually a test's name followed by its
// abbreviation, and clinics often write X alone. X alone — its name part —
// maps only when all of these hold:
//
//  1. Y is an abbreviation, not a qualifier: the initials of X's words
//     ("Complete Blood Count (CBC)"; a word with digits counts whole, so
//     "Free T4 (FT4)"), or, in a catalogue that writes its names in mixed
//     case, one word of two or more capital letters and digits, starting
//     with a letter, that is not a specimen, fraction or time of day
//     ("SGPT (ALT)", "Thyroxine (T4)"; not "CSF", "AM", "TOTAL"). Anything
//     else is a qualifier and X stays a suggestion: "Vitamin D (25-OH)",
//     "Cortisol (Morning)", "Haemoglobin (Hb)", "Prothrombin Time (PT/INR)".
//  2. No other entry, of either kind, claims X: as its name, its
//     abbreviation, its code, or its own name part (whatever its Y).
//  3. X is not, word for word, inside another entry's name: "Thyroxine"
//     does not map to "Thyroxine (T4)" while "Free Thyroxine" exists.
//
// In an all-capitals catalogue the capitals say nothing ("CORTISOL
// (MORNING)"), so only initials count there. An abbreviation that is also
// another entry's name part maps to neither.

// splitName splits a catalogue name "X (Y)" into X and Y as written,
// trimmed. ok is false when the name does not end with a parenthesised
// part after a non-empty X.
func splitName(name string) (x, y string, ok bool) {
	s := strings.TrimRightFunc(name, trimmable)
	if !strings.HasSuffix(s, ")") {
		return "", "", false
	}
	open := strings.LastIndexByte(s, '(')
	if open < 0 {
		return "", "", false
	}
	x, y = strings.TrimSpace(s[:open]), strings.TrimSpace(s[open+1:len(s)-1])
	if strings.ContainsAny(y, "()") {
		return "", "", false
	}
	return x, y, x != "" && y != ""
}

// capsQualifiers are specimens that, even in capitals, qualify a test
// rather than abbreviate it, besides the qualifiers suggestions know
// (SERUM, URINE, TOTAL, FREE, AM, PP …).
var capsQualifiers = map[string]bool{"edta": true, "bal": true}

// isAbbreviation reports whether y, written after x (whose key is xk), is
// an abbreviation of it rather than a qualifier; rule 1 above.
func isAbbreviation(xk, y string, mixedCase bool) bool {
	yk := compact(Key(y))
	if len(yk) >= 2 {
		ts := tokens(xk)
		if yk == initialsWhole(ts, false) || yk == initialsWhole(ts, true) {
			return true
		}
	}
	if !mixedCase || len(y) < 2 || y[0] < 'A' || y[0] > 'Z' {
		return false
	}
	for i := 0; i < len(y); i++ {
		if c := y[i]; (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	low := strings.ToLower(y)
	_, qual := qualifiers[low]
	return !qual && !capsQualifiers[low]
}

// initialsWhole is the first letter of each word, a word with digits
// whole: "free t4" → "ft4". With skipFiller, words such as "and", "of"
// and "for" are left out.
func initialsWhole(ts []string, skipFiller bool) string {
	if len(ts) < 2 {
		return ""
	}
	var b strings.Builder
	for _, t := range ts {
		switch {
		case skipFiller && filler[t]:
		case strings.IndexFunc(t, unicode.IsDigit) >= 0:
			b.WriteString(t)
		default:
			for _, r := range t {
				b.WriteRune(r)
				break
			}
		}
	}
	return b.String()
}

// mixedCase reports whether most of the catalogue's names have a
// lower-case letter: then capitals in a name are a choice and say
// "abbreviation".
func mixedCase(items []CatalogueItem) bool {
	lower, named := 0, 0
	for _, it := range items {
		if strings.IndexFunc(it.Name, unicode.IsLetter) < 0 {
			continue
		}
		named++
		if strings.IndexFunc(it.Name, unicode.IsLower) >= 0 {
			lower++
		}
	}
	return 2*lower >= named && named > 0
}

// nameParts returns the name parts that map (rules 1–3), each with its
// item, and makes each abbreviation that is also another entry's name
// part ambiguous in abbrevs. s holds the items' words.
func nameParts(items []CatalogueItem, s *suggester, abbrevs [2]map[string][]int) map[string]int {
	mixed := mixedCase(items)
	claims := make(map[string][]int, 3*len(items)) // key → items that claim it
	claim := func(k string, i int) {
		if k != "" && !slices.Contains(claims[k], i) {
			claims[k] = append(claims[k], i)
		}
	}
	partOf := make(map[string][]int) // name part → items, whatever their Y
	type cand struct {
		i int
		x string
	}
	var cands []cand
	for i, it := range items {
		claim(s.si[i].key, i)
		claim(s.si[i].abbr, i)
		claim(s.si[i].code, i)
		x, y, ok := splitName(it.Name)
		if !ok {
			continue
		}
		xk := Key(x)
		if xk == "" {
			continue
		}
		claim(xk, i)
		partOf[xk] = append(partOf[xk], i)
		if isAbbreviation(xk, y, mixed) {
			cands = append(cands, cand{i, xk})
		}
	}
	for kd := range abbrevs {
		for a, is := range abbrevs[kd] {
			for _, j := range partOf[a] {
				if !slices.Contains(is, j) {
					is = append(is, j)
				}
			}
			abbrevs[kd][a] = is
		}
	}
	out := make(map[string]int, len(cands))
	for _, c := range cands {
		if cl := claims[c.x]; len(cl) == 1 && cl[0] == c.i && !s.insideOther(c.x, c.i) {
			out[c.x] = c.i
		}
	}
	return out
}

// insideOther reports whether the words of key x occur in a row in the
// name of an item other than i (rule 3).
func (s *suggester) insideOther(x string, i int) bool {
	xt := tokens(x)
	if len(xt) == 0 {
		return false
	}
	// Only items that have x's rarest word can hold it.
	rare := s.byWord[xt[0]]
	for _, t := range xt[1:] {
		if p := s.byWord[t]; len(p) < len(rare) {
			rare = p
		}
	}
	for _, j := range rare {
		if int(j) == i {
			continue
		}
		ts := s.si[j].tokens
		for at := 0; at+len(xt) <= len(ts); at++ {
			if slices.EqualFunc(ts[at:at+len(xt)], xt, func(w word, t string) bool { return w.s == t }) {
				return true
			}
		}
	}
	return false
}
