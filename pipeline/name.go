package pipeline

import "strings"

// titles are honorifics dropped from the front of a full name (billing has
// no title field). "Baby" and "Master" stay: "Baby of Priya" is a name.
var titles = map[string]bool{
	"mr": true, "mrs": true, "ms": true, "miss": true, "dr": true, "smt": true, "shri": true,
	"sri": true, "shree": true, "kum": true, "kumari": true, "mx": true, "prof": true,
}

// SplitName splits a full name into first and last: the first word, and
// the rest as written. A leading title (Mr., Mrs., Dr., Smt., …) is
// dropped. Single names keep an empty last name; names in scripts that do
// not separate words with spaces are kept whole as the first name.
func SplitName(full string) (first, last string) {
	words := strings.Fields(full)
	for len(words) > 1 && titles[strings.ToLower(strings.TrimRight(words[0], "."))] {
		words = words[1:]
	}
	switch len(words) {
	case 0:
		return "", ""
	case 1:
		return words[0], ""
	}
	return words[0], strings.Join(words[1:], " ")
}

// CleanName collapses the white space of a name part.
func CleanName(s string) string { return strings.Join(strings.Fields(s), " ") }
