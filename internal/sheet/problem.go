package sheet

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Cell problem codes: stable, for a caller's rejection codes.
const (
	// ProblemLineBreak is a line break in a cell of a field that holds
	// one line (Field.SingleLine). In a CSV it is what a quote closed too
	// late looks like: the rows after it read as part of the cell.
	ProblemLineBreak = "line_break"
	// ProblemBadCharacters is a cell holding characters that are not text:
	// NUL or another control character (tab and line breaks aside), or
	// bytes that are not UTF-8 once the file's encoding is decoded. They
	// are replaced by U+FFFD (�) in the value handed over.
	ProblemBadCharacters = "bad_characters"
)

// A CellProblem is a cell of a record that must not be taken as it is.
// The record is still handed over (with the cell's value made safe); the
// caller decides, and a booking reader rejects the row. It never carries
// the cell's contents.
type CellProblem struct {
	Field  Field  // the field the cell is read into
	Column int    // the cell's 0-based column
	Header string // the column's header as written (cut short if long)
	Code   string // ProblemLineBreak or ProblemBadCharacters
	// Line is, in a CSV, the line of the file the cell begins on: for a
	// quoted cell, the line where its quote (") opened. 0 for XLSX.
	Line int
}

// ColumnName is the cell's column as a spreadsheet names it: A, B, …, AA.
func (p CellProblem) ColumnName() string { return columnName(p.Column) }

// Msg says what is wrong and what to do, for a person, without the cell's
// contents.
func (p CellProblem) Msg() string {
	where := fmt.Sprintf("the %s cell (column %s", p.Field, p.ColumnName())
	if p.Header != "" {
		where += fmt.Sprintf(", %q", p.Header)
	}
	where += ")"
	switch p.Code {
	case ProblemLineBreak:
		if p.Line > 0 {
			return fmt.Sprintf("%s holds a line break: the double quote mark opened on line %d closes on a later line, "+
				"so the lines between (probably the next rows) were read into this cell; close the quote where the cell ends", where, p.Line)
		}
		return where + " holds a line break; write it on one line"
	case ProblemBadCharacters:
		s := where + " holds characters that are not text (a NUL or control character, or bytes of another encoding)"
		if p.Line > 0 {
			s += fmt.Sprintf(" on line %d", p.Line)
		}
		return s + "; retype the cell"
	}
	return where + ": " + p.Code
}

// SingleLine reports whether f holds one line of text. A line break in a
// cell of such a field is a CellProblem; only the mobile and email cells
// may hold several lines (two numbers, two addresses). Tests and packages
// are lists and may be written one per line; their cell is a problem only
// when a line of it looks like a whole row of the sheet.
func (f Field) SingleLine() bool { return f != Mobile && f != Email }

// cleanCell replaces what is not text in s — NUL and the other C0 control
// characters but tab, CR and LF, and bytes that are not UTF-8 — with
// U+FFFD, and reports whether it replaced anything.
func cleanCell(s string) (string, bool) {
	i := 0
	for i < len(s) {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf || c == '\t' || c == '\n' || c == '\r' {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			if r, n := utf8.DecodeRuneInString(s[i:]); r != utf8.RuneError || n > 1 {
				i += n
				continue
			}
		}
		break
	}
	if i == len(s) {
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for _, r := range s[i:] {
		// Ranging over a string yields U+FFFD for each byte that is not
		// UTF-8.
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String(), true
}

// hasLineBreak reports a CR or LF in s.
func hasLineBreak(s string) bool { return strings.ContainsAny(s, "\r\n") }
