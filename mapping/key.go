// Package mapping owns the test/package name → Flabs ID table: how names
// are normalised, the order of lookups, and suggestions for what does not
// map. It never guesses: a name maps only through an alias someone made,
// an exact catalogue name, a catalogue abbreviation that exactly one
// entry carries, or the name before an abbreviation ("Complete Blood
// Count" for "Complete Blood Count (CBC)") when nothing else claims it
// (namepart.go). Everything else is sent to Flabs unmapped, for Flabs
// staff to map by hand, and comes back in the exception workbook with
// suggestions for ops. The lookup index, keys and suggestions are pure;
// Store keeps the table and the synced catalogue in the database, and
// table.go reads and writes the table's CSV/XLSX files.
//
// Table files are read through internal/sheet, the project's one CSV/XLSX
// reader (ReadGrid: format, encoding, delimiter, size limits); mapping
// keeps only the table's own columns and checks. Spelling distance comes
// from internal/textdist. mapping depends on nothing under pipeline/.
package mapping

import (
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Kind is what a name names: a test or a package.
type Kind string

// The kinds.
const (
	KindTest    Kind = "test"
	KindPackage Kind = "package"
)

// ParseKind reads "test"/"tests" or "package"/"packages", any case.
func ParseKind(s string) (Kind, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "test", "tests":
		return KindTest, true
	case "package", "packages", "pkg":
		return KindPackage, true
	}
	return "", false
}

var folder = cases.Fold()

// Key normalises a name for matching: Unicode NFKC, case folded, white
// space collapsed, punctuation trimmed from the ends, and no spaces inside
// parentheses but one before them: " Vitamin D(25-OH ) " and
// "vitamin d (25-oh)." give the same key. Nothing else is changed: "T4"
// and "FT4", "Vitamin D" and "Vitamin D3" stay different.
func Key(name string) string {
	if isASCII(name) {
		var arr [64]byte
		return string(appendKeyASCII(arr[:0], name))
	}
	return keyUnicode(name)
}

// appendKey appends Key(name) to dst. Lookups use it with a buffer on the
// stack so that the exact path of a plain-ASCII name allocates nothing.
func appendKey(dst []byte, name string) []byte {
	if isASCII(name) {
		return appendKeyASCII(dst, name)
	}
	return append(dst, keyUnicode(name)...)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// appendKeyASCII is keyUnicode for ASCII input, where NFKC is the
// identity and case folding is lower-casing; FuzzKey holds the two equal.
func appendKeyASCII(dst []byte, s string) []byte {
	start := len(dst)
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c >= '\t' && c <= '\r':
			space = true
			continue
		case c == '(' || c == '[':
			if len(dst) > start {
				dst = append(dst, ' ')
			}
			dst = append(dst, c)
			space = false
			continue
		case c == ')' || c == ']':
			space = false
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		if space && len(dst) > start {
			if last := dst[len(dst)-1]; last != '(' && last != '[' && last != ' ' {
				dst = append(dst, ' ')
			}
		}
		space = false
		dst = append(dst, c)
	}
	// Trim what keyUnicode trims from the ends.
	b := dst[start:]
	for len(b) > 0 && trimmable(rune(b[0])) {
		b = b[1:]
	}
	for len(b) > 0 && trimmable(rune(b[len(b)-1])) {
		b = b[:len(b)-1]
	}
	n := copy(dst[start:], b)
	return dst[:start+n]
}

// trimmable is what Key trims from the ends of a name: space, and
// punctuation or symbols other than brackets and '+' ("HIV 1+2").
func trimmable(r rune) bool {
	return unicode.IsSpace(r) || (unicode.IsPunct(r) && r != '(' && r != ')' && r != '[' && r != ']') || unicode.IsSymbol(r) && r != '+'
}

// keyUnicode is Key for any input.
func keyUnicode(name string) string {
	s := folder.String(norm.NFKC.String(name))
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if r >= 0x13A0 && r <= 0x13FD || r >= 0xAB70 && r <= 0xABBF {
			// Cherokee: x/text's Fold turns each case into the other, so
			// a key would not be its own key (FuzzKey). Lower case it is.
			r = unicode.ToLower(r)
		}
		switch {
		case unicode.IsSpace(r):
			space = true
			continue
		case r == '(' || r == '[':
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteRune(r)
			space = false
			continue
		case r == ')' || r == ']':
			space = false
		}
		if space && b.Len() > 0 {
			last := b.String()[b.Len()-1]
			if last != '(' && last != '[' && last != ' ' {
				b.WriteByte(' ')
			}
		}
		space = false
		b.WriteRune(r)
	}
	return strings.TrimFunc(b.String(), trimmable)
}

// Abbreviation returns the text in the last parentheses of a catalogue
// name, normalised: "Complete Blood Count (CBC)" → "cbc". It returns ""
// when there is none.
func Abbreviation(name string) string {
	open := strings.LastIndexByte(name, '(')
	if open < 0 {
		return ""
	}
	end := strings.IndexByte(name[open:], ')')
	if end < 0 {
		return ""
	}
	return Key(name[open+1 : open+end])
}
