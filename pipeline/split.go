package pipeline

import "strings"

// SplitItems splits a cell listing tests or packages on , ; + | and line
// breaks, never inside parentheses or brackets, so "Vitamin D (25-OH,
// total)" stays one test. Items are trimmed; empty ones and repeats (same
// text, any case) are dropped; the first spelling is kept.
func SplitItems(cell string) []string {
	var items []string
	seen := map[string]bool{}
	depth := 0
	start := 0
	add := func(s string) {
		s = strings.Join(strings.Fields(s), " ")
		k := strings.ToLower(s)
		if s != "" && !seen[k] {
			seen[k] = true
			items = append(items, s)
		}
	}
	for i, r := range cell {
		switch r {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			if depth > 0 {
				depth--
			}
		case ',', ';', '+', '|', '\n', '\r':
			if depth == 0 {
				add(cell[start:i])
				start = i + 1
			}
		}
	}
	add(cell[start:])
	return items
}
