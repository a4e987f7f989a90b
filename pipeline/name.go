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
// dropped. "Surname, Given Names" (one comma) is surname first. Single
// names keep an empty last name, and so do "Baby of …" / "B/O …"
// newborn registrations; names in scripts that do not separate words with
// spaces are kept whole as the first name.
func SplitName(full string) (first, last string) {
	// "Kumar, Suresh" is written surname first.
	if before, after, ok := strings.Cut(full, ","); ok && strings.TrimSpace(before) != "" && strings.TrimSpace(after) != "" && !strings.Contains(after, ",") {
		f, l := SplitName(after)
		return strings.TrimSpace(strings.Join([]string{f, l}, " ")), strings.Join(strings.Fields(before), " ")
	}
	words := strings.Fields(full)
	// A newborn registered as "Baby of Lakshmi" or "B/O Lakshmi" has no
	// first name of its own: keep the whole as the first name.
	if len(words) > 1 {
		w0 := strings.ToLower(words[0])
		if w0 == "b/o" || w0 == "b.o." || (w0 == "baby" && strings.EqualFold(words[1], "of")) {
			return strings.Join(words, " "), ""
		}
	}
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
