package reconcile

import "strings"

// ShownDetail is an exception's detail as the workbook shows it. A
// rejected row's detail quotes the partner's cells — an age, a date of
// birth, a barcode, a booking reference — which are a patient's: the
// workbook is mailed and kept past retention.patient_data_days, so it
// shows "…" in their place. The reject file sent back to the partner, and
// `exceptions list`, keep them.
func ShownDetail(category Category, detail string) string {
	if category != CategoryRejectedRow {
		return detail
	}
	return elideQuoted(detail)
}

// elideQuoted replaces the text of every double-quoted string (Go's %q
// quoting: a quote inside is escaped with a backslash) with "…". An
// unclosed quote elides to the end.
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
				b.WriteString("…")
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
