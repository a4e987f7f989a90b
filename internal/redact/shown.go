package redact

import (
	"log/slog"
	"strings"
)

// Shown is text that leaves the ledger: a log line's reason, the note
// beside a refused file, a file's recorded reason, an exception's detail,
// the workbook, the digest, a receipt's body, the command line's lists.
// It cannot carry a sheet cell's value: its one constructor, Show,
// replaces every double-quoted span with "…".
//
// That is the project's one convention for text about sheets: a cell's
// value is quoted with double quotes (%q) wherever a message names it
// (`age "Asha" is not a number`), and nothing else is. Words of flabsync's
// own — column names it knows, a config key, a test's or a lead source's
// name — are quoted with Term ('…'), and stay readable when shown. The
// clinic's own reject file and a receipt's attached rows, which are the
// clinic's data until the prune, are the only outputs that carry the
// unshown text.
type Shown struct{ s string }

// Show makes s fit to leave the ledger: every double-quoted span (Go's %q
// quoting: an escaped quote stays inside) becomes "…"; an unclosed quote
// hides the rest.
func Show(s string) Shown { return Shown{elideQuoted(s)} }

// ShowErr is Show(err.Error()), and the empty Shown for a nil error.
func ShowErr(err error) Shown {
	if err == nil {
		return Shown{}
	}
	return Show(err.Error())
}

// String returns the shown text.
func (t Shown) String() string { return t.s }

// LogValue logs the shown text, so a Shown can be logged as it is.
func (t Shown) LogValue() slog.Value { return slog.StringValue(t.s) }

// Term quotes one of flabsync's own words — a column name it knows, a
// config key, a test's name — so that Show keeps it: 'patient name'.
func Term(s string) string { return "'" + s + "'" }

// Elided is what a hidden value is shown as, inside its quotes.
const Elided = "…"

func elideQuoted(s string) string {
	if !strings.Contains(s, `"`) {
		return s
	}
	var b strings.Builder
	in, esc := false, false
	for _, r := range s {
		switch {
		case !in:
			b.WriteRune(r)
			if r == '"' {
				in = true
				b.WriteString(Elided)
			}
		case esc:
			esc = false
		case r == '\\':
			esc = true
		case r == '"':
			in = false
			b.WriteRune(r)
		}
	}
	if in {
		b.WriteRune('"')
	}
	return b.String()
}
