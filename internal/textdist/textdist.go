// Package textdist measures how alike two strings are by Levenshtein edit
// distance: the fewest single-character insertions, deletions and
// substitutions that turn one into the other, counted in runes.
//
// It is the one edit distance of the project (mapping's suggestions, the
// config's "did you mean"), a leaf that imports nothing of the project.
// ASCII strings are compared byte by byte without conversion to runes;
// the table is one row, on the stack when b is shorter than 128 runes.
package textdist

import "unicode/utf8"

// Distance returns the Levenshtein distance between a and b, in runes.
func Distance(a, b string) int {
	if a == b {
		return 0
	}
	if isASCII(a) && isASCII(b) {
		d, _ := distances([]byte(a), []byte(b), 0)
		return d
	}
	d, _ := distances([]rune(a), []rune(b), 0)
	return d
}

// Similarity returns 1 - Distance(a, b) / the longer length, in runes: 1
// for equal strings (two empty ones included), 0 for nothing in common.
func Similarity(a, b string) float64 {
	full, _ := SimilarityPrefix(a, b, 0)
	return full
}

// SimilarityPrefix returns Similarity(a, b) and the similarity of a to the
// first prefix runes of b, from one pass of the edit-distance table (its
// last row holds the distance from a to every prefix of b). A prefix
// longer than b is b.
func SimilarityPrefix(a, b string, prefix int) (full, pre float64) {
	if isASCII(a) && isASCII(b) {
		return similarities([]byte(a), []byte(b), prefix)
	}
	return similarities([]rune(a), []rune(b), prefix)
}

func similarities[T byte | rune](a, b []T, prefix int) (full, pre float64) {
	prefix = max(0, min(prefix, len(b)))
	d, dp := distances(a, b, prefix)
	return similarity(d, len(a), len(b)), similarity(dp, len(a), prefix)
}

func similarity(d, la, lb int) float64 {
	if la == 0 && lb == 0 {
		return 1
	}
	return 1 - float64(d)/float64(max(la, lb))
}

// stackLen is the longest b whose table row lives on the stack.
const stackLen = 127

// distances returns the edit distance from a to b and from a to
// b[:prefix] (0 <= prefix <= len(b)). It keeps one row of the table: the
// distances from a[:i] to every prefix of b, updated in place, with the
// diagonal cell carried in a variable.
func distances[T byte | rune](a, b []T, prefix int) (full, pre int) {
	var buf [stackLen + 1]int
	var row []int
	if len(b) <= stackLen {
		row = buf[:len(b)+1]
	} else {
		row = make([]int, len(b)+1)
	}
	for j := range row {
		row[j] = j
	}
	cells := row[1:]
	cells = cells[:len(b)] // one per rune of b, without bounds checks below
	for i, ai := range a {
		diag, left := i, i+1 // a[:i] and a[:i+1] to the empty prefix
		row[0] = left
		for j, bj := range b {
			up := cells[j]
			d := diag // equal runes: neighbours never undercut the diagonal by 2
			if ai != bj {
				d = 1 + min(diag, up, left)
			}
			diag, left = up, d
			cells[j] = d
		}
	}
	return row[len(b)], row[prefix]
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
