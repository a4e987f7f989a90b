package pipeline

import "strings"

// SplitItems splits a cell listing tests or packages on , ; + | and line
// breaks, never inside parentheses or brackets, so "Vitamin D (25-OH,
// total)" stays one test. Items are trimmed; empty ones and repeats (same
// text, any case) are dropped; the first spelling is kept.
func SplitItems(cell string) []string {
	var items []string
	depth := 0
	start := 0
	add := func(s string) {
		s = squeeze(s)
		if s == "" {
			return
		}
		for _, it := range items {
			if strings.EqualFold(it, s) {
				return
			}
		}
		items = append(items, s)
	}
	for i := 0; i < len(cell); i++ {
		switch cell[i] {
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

// squeeze trims s and turns each run of white space inside it into one
// space, without allocating when there is nothing to change.
func squeeze(s string) string {
	s = strings.TrimSpace(s)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\t' || c == '\n' || c == '\r' || c >= 0x80 || (c == ' ' && i+1 < len(s) && s[i+1] == ' ') {
			return strings.Join(strings.Fields(s), " ")
		}
	}
	return s
}
