package report

import "strings"

// EscapeCSV keeps a spreadsheet from reading a CSV cell as a formula: a
// cell starting with = + - @ tab or CR gets a leading apostrophe, as
// mapping's table files do (and as OWASP advises). Excel shows the text
// as written; `mapping import` takes the apostrophe off again.
func EscapeCSV(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
