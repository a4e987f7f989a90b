package sheet

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The bounds every read keeps to, whatever the file: no cell, row or part
// of a workbook costs more memory or time than these allow, so a small
// file cannot make a large read.
const (
	// MaxCell is the most bytes one cell may hold, in CSV and XLSX alike
	// (Excel itself stops at 32,767 characters). A longer cell refuses
	// the file: in a booking sheet it is a quote never closed, or a file
	// made to hurt.
	MaxCell = 32 << 10
	// MaxRowBytes is the most text one row may hold, all its cells
	// together (for a CSV, the row's text as written).
	MaxRowBytes = 1 << 20
	// MaxColumns is the most cells a row may have: Excel's 16,384
	// columns (A to XFD).
	MaxColumns = 16384

	// MaxUnzipRatio bounds how much larger than the file itself an XLSX
	// may unpack to. Workbooks as Excel writes them unpack to 3–10 times
	// their size; a zip bomb to a thousand times.
	MaxUnzipRatio = 40
	// MinUnzipBudget is what any XLSX may unpack to, whatever its size
	// (small workbooks compress less predictably).
	MinUnzipBudget = 64 << 20
	// MaxSharedStrings bounds the unpacked size of an XLSX's shared-strings
	// table (xl/sharedStrings.xml), the text of every cell in one part.
	MaxSharedStrings = 32 << 20
	// MaxSharedStringItems bounds how many texts the shared-strings table
	// holds: reading costs memory and time per text.
	MaxSharedStringItems = 1 << 20
)

// Bounds inside the workbook reader, below the public ones.
const (
	// xmlInMemory is the largest worksheet or shared-strings part excelize
	// unpacks into memory; larger ones go to a temporary file.
	xmlInMemory = 4 << 20
	// maxPart bounds any other part of a workbook (styles, drawings,
	// images), which excelize always holds in memory.
	maxPart = 16 << 20
	// maxInMemory bounds all the parts excelize holds in memory together.
	maxInMemory = 64 << 20
	// maxXMLToken bounds one XML token (a text run, a tag with its
	// attributes, a comment): more than any cell Excel can write.
	maxXMLToken = 256 << 10
	// maxSharedString bounds one text of the shared-strings table: Excel
	// writes at most 32,767 characters, at most 4 bytes each.
	maxSharedString = 4 * 32767
	// maxParts bounds how many parts a workbook's zip may have (Excel
	// writes tens).
	maxParts = 10000
	// maxQuoted bounds, in bytes, a header, sheet name or other text a
	// message quotes.
	maxQuoted = 40
)

// unzipBudget is what an XLSX of size bytes may unpack to: MaxUnzipRatio
// times its size, at least MinUnzipBudget, at most maxUnzip
// (0: DefaultMaxUnzipSize).
func unzipBudget(size, maxUnzip int64) int64 {
	if maxUnzip <= 0 {
		maxUnzip = DefaultMaxUnzipSize
	}
	b := int64(MinUnzipBudget)
	if size > b/MaxUnzipRatio {
		b = size * MaxUnzipRatio
	}
	return min(b, maxUnzip)
}

// A LimitError is a file refused because something in it is larger than
// a sheet flabsync reads can be: a cell, a row, or a part of a workbook
// (which is refused from the sizes its zip declares, before anything is
// unpacked). It wraps ErrRefused; Error says what to do and never quotes
// a cell.
type LimitError struct {
	// What is what is too large: "cell", "row", "columns", "workbook",
	// "worksheet", "shared strings", "shared string count", "part",
	// "shared string" (one text of the table), "part count", "xml token",
	// "styles" (elements of the styles part), "rows" (a row numbered past
	// the sheet's 1,048,576), "workbook file" (OpenWorkbook's file size).
	What   string
	Part   string // XLSX: the part of the zip, e.g. "xl/sharedStrings.xml"; "" for a CSV
	Sheet  string // XLSX: the worksheet, when known
	Row    int    // the sheet row, when known
	Column string // the column letter, when known
	Line   int    // CSV: the line the cell began on (where its quote opened)
	// Size is how large the thing is: for a part of a workbook, its
	// unpacked size as the zip declares it (nothing was unpacked); else
	// how much had been read when the read stopped, just past Limit.
	// (Sizes are in bytes; for "columns", "shared string count" and
	// "part count", a count.)
	Size  int64
	Limit int64
	Hint  string // what to do
}

func (e *LimitError) Error() string {
	var where []string
	switch {
	case e.Sheet != "":
		where = append(where, fmt.Sprintf("sheet %q", excerpt(e.Sheet, maxQuoted)))
	case e.Part != "":
		where = append(where, "part "+excerpt(e.Part, 80))
	}
	if e.Row > 0 {
		where = append(where, "row "+strconv.Itoa(e.Row))
	}
	if e.Column != "" {
		where = append(where, "column "+e.Column)
	}
	var b strings.Builder
	if len(where) > 0 {
		b.WriteString(strings.Join(where, " "))
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "%s %s", e.noun(), e.amount(e.Limit))
	if e.Size > e.Limit+e.Limit/10 { // more than just past the bound
		fmt.Fprintf(&b, " (%s)", e.amount(e.Size))
	}
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

func (e *LimitError) noun() string {
	switch e.What {
	case "cell":
		return "a cell is over"
	case "row":
		return "the row is over"
	case "columns":
		return "the row has more columns than a spreadsheet holds,"
	case "shared string count":
		return "the shared-strings table holds more texts than"
	case "part count":
		return "the workbook's zip holds more parts than"
	case "styles":
		return "the styles part holds more elements than"
	case "rows":
		return "a row is numbered beyond the sheet's last,"
	case "xml token":
		return "a text or tag in the XML is over"
	case "workbook":
		return "the workbook unpacks to more than"
	case "worksheet", "shared strings", "part":
		return "the " + e.What + " part unpacks to more than"
	}
	return "the " + e.What + " is over"
}

// Unwrap makes a LimitError an ErrRefused.
func (e *LimitError) Unwrap() error { return ErrRefused }

// amount writes n as what e measures: columns, texts or bytes.
func (e *LimitError) amount(n int64) string {
	switch e.What {
	case "columns", "shared string count", "part count", "styles", "rows":
		return strconv.FormatInt(n, 10)
	}
	return sizeText(n)
}

// sizeText writes a byte count as a person reads it: 900 MB, 1.5 MB,
// 32 KB, 512 bytes.
func sizeText(n int64) string {
	unit := func(u int64, name string) string {
		if n%u == 0 || n >= 10*u {
			return strconv.FormatInt(n/u, 10) + " " + name
		}
		return strconv.FormatFloat(float64(n)/float64(u), 'f', 1, 64) + " " + name
	}
	switch {
	case n >= 1<<20:
		return unit(1<<20, "MB")
	case n >= 1<<10:
		return unit(1<<10, "KB")
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// excerpt cuts s to at most n bytes on a character boundary, marking the
// cut with "…" (so at most n+3 bytes in all). Text that is not UTF-8 is
// cut at a byte boundary of the same kind: no sequence is split.
func excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n < 0 {
		n = 0
	}
	cut := n
	// Back up to the start of the character that straddles the cut
	// (a UTF-8 sequence is at most 4 bytes: at most 3 continuation bytes
	// to pass over).
	for i := 0; i < utf8.UTFMax-1 && cut > 0 && !utf8.RuneStart(s[cut]); i++ {
		cut--
	}
	if !utf8.RuneStart(s[cut]) {
		cut = n // not UTF-8 here: any cut is as good
	}
	return s[:cut] + "…"
}

// columnName writes a 0-based column index as a spreadsheet's column
// letters: 0 → A, 25 → Z, 26 → AA.
func columnName(i int) string {
	if i < 0 {
		return "?"
	}
	var b [8]byte
	p := len(b)
	for n := i + 1; n > 0; n = (n - 1) / 26 {
		p--
		b[p] = byte('A' + (n-1)%26)
	}
	return string(b[p:])
}
