// Package csvsafe keeps a spreadsheet from reading a CSV cell flabsync
// writes as a formula (CSV injection): a cell starting with = + - @, tab
// or CR gets a leading apostrophe, as OWASP advises. Excel shows the text
// as written; Unescape takes the apostrophe off a cell read back.
package csvsafe

import "strings"

const leaders = "=+-@\t\r"

// Escape returns s safe to put in a CSV cell.
func Escape(s string) string {
	if s != "" && strings.ContainsRune(leaders, rune(s[0])) {
		return "'" + s
	}
	return s
}

// Unescape undoes Escape.
func Unescape(s string) string {
	if len(s) > 1 && s[0] == '\'' && strings.ContainsRune(leaders, rune(s[1])) {
		return s[1:]
	}
	return s
}
