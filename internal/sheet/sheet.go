// Package sheet reads partner booking sheets — CSV in whatever encoding and
// delimiter a clinic's system exported, or XLSX streamed row by row — finds
// the header row, and hands each data row over by meaning (name, age,
// tests, …) with the row number a person sees in the sheet.
//
// It refuses what it cannot read (old .xls, .ods, anything that is not a
// sheet) with a message saying what to do instead, and never holds a whole
// sheet in memory: a cell, a row and each part of a workbook have bounds
// (MaxCell, MaxRowBytes, MaxColumns, MaxUnzipRatio and the rest, see
// LimitError), checked as the file streams by, so a small file cannot
// make a large read. A bad cell (a character that is not text, a line
// break where one line belongs) does not stop the read: it is made safe
// and reported on its record (Record.Problems) for the caller to reject
// the row.
//
// It is the project's one CSV/XLSX reader, and a leaf: it imports nothing
// of the project, so pipeline and mapping both build on it. Read hands
// over booking rows by meaning; ReadGrid and ReadGridCSV hand over any
// other table (a mapping table, a review sheet) as plain rows of cells
// with their row numbers, through the same format detection, encoding and
// delimiter sniffing, and size limits, leaving the columns to the caller.
//
// It is also the one gate for every file from outside: every file is
// opened through the same guard (a regular file only: a FIFO, device,
// socket, directory or symbolic link is refused without being opened, and
// nothing blocks), and a workbook's rows are read by the package's own
// streaming reader, which checks each part in the pass that reads it.
// OpenWorkbook hands callers that read a workbook with excelize themselves
// (ops' workbooks of decisions) an *excelize.File checked the same way,
// and Open a checked descriptor to callers that read a file's bytes.
package sheet

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Field is a column's meaning.
type Field int

// The fields a sheet can carry. Their names (String) are the keys of
// partners.<name>.columns in the config.
const (
	Name Field = iota
	FirstName
	LastName
	Age
	AgeUnit
	DOB
	Gender
	Mobile
	Email
	Tests
	Packages
	Barcode
	Ref
	BookingDate
	numFields
)

var fieldNames = [numFields]string{
	"name", "first_name", "last_name", "age", "age_unit", "dob", "gender",
	"mobile", "email", "tests", "packages", "barcode", "ref", "booking_date",
}

func (f Field) String() string {
	if f < 0 || f >= numFields {
		return fmt.Sprintf("field(%d)", int(f))
	}
	return fieldNames[f]
}

// ParseField returns the field named s (as in the config).
func ParseField(s string) (Field, bool) {
	for i, n := range fieldNames {
		if n == s {
			return Field(i), true
		}
	}
	return 0, false
}

// Fields lists every field in order.
func Fields() []Field {
	out := make([]Field, numFields)
	for i := range out {
		out[i] = Field(i)
	}
	return out
}

// Record is one data row: its number as a person sees it in the sheet
// (1-based, counting title and header rows) and its cells by meaning,
// trimmed. A field the sheet has no column for is "".
//
// Cell values are always text: characters that are not (NUL, control
// characters, bytes of another encoding) are replaced by U+FFFD and listed
// in Problems, as are line breaks in a field that holds one line. A reader
// of bookings rejects a record with problems (see CellProblem).
type Record struct {
	Row   int
	Line  int      // CSV: the line of the file the row begins on; 0 for XLSX
	Sheet string   // the XLSX worksheet; "" for CSV
	Raw   []string // the row's cells as written (made safe), when Options.KeepRaw
	// Problems lists the cells read into a field that must not be taken
	// as they are, in field order; nil for most rows. The callback may
	// keep the slice.
	Problems []CellProblem
	cells    [numFields]string
}

// Get returns the record's value for f.
func (r *Record) Get(f Field) string { return r.cells[f] }

// Set sets the record's value for f (for tests and callers building rows).
func (r *Record) Set(f Field, v string) { r.cells[f] = v }

// Skip is a row that was passed over on purpose, with why.
type Skip struct {
	Row int
	Why string
}

// Summary describes what a read found.
type Summary struct {
	Format    string // "csv" or "xlsx"
	Encoding  string // csv: utf-8, utf-8-bom, utf-16le, utf-16be, windows-1252
	Delimiter string // csv: the sniffed delimiter, written as "," ";" "tab" "|"
	Sheet     string // xlsx: the worksheet read
	HeaderRow int
	Headers   []string       // the header row as written
	Columns   map[string]int // field name → 0-based column index
	Records   int            // data rows handed to the callback
	Blank     int            // blank or all-empty rows skipped
	Skipped   []Skip         // other rows passed over (totals, repeated headers)
}

// Options tunes a read.
type Options struct {
	// Sheet names the XLSX worksheet; empty picks the first visible sheet
	// with a recognisable header.
	Sheet string
	// Aliases adds header names per field (config partners.<name>.columns).
	Aliases map[Field][]string
	// MaxUnzipSize bounds the uncompressed size of any XLSX (zip bomb
	// guard); 0 means DefaultMaxUnzipSize. Within it, an XLSX may unpack
	// to MaxUnzipRatio times its own size (at least MinUnzipBudget).
	MaxUnzipSize int64
	// KeepRaw keeps each record's cells as written in Record.Raw (for
	// a partner's reject file); it costs a copy per row.
	KeepRaw bool
}

// DefaultMaxUnzipSize bounds an XLSX's uncompressed size: 1 GiB holds
// several million booking rows.
const DefaultMaxUnzipSize int64 = 1 << 30

// ErrRefused marks a file that is not a sheet flabsync reads; the message
// says what to do.
var ErrRefused = errors.New("not a readable sheet")

// ErrNoHeader marks a sheet whose header row could not be found or lacks
// required columns.
var ErrNoHeader = errors.New("no usable header row")

// Read reads the sheet at path, calling fn for every data row in order. An
// error from fn stops the read and is returned. Errors name the file (and
// row where there is one); ErrRefused (a *LimitError among them) and
// ErrNoHeader mark files that need a person. Problems of single cells are
// not errors: they come with their record (Record.Problems).
func Read(ctx context.Context, path string, opts Options, fn func(*Record) error) (Summary, error) {
	base := filepath.Base(path)
	format, err := Detect(path)
	if err != nil {
		return Summary{}, fmt.Errorf("read %s: %w", base, err)
	}
	dict := newDictionary(opts.Aliases)
	var sum Summary
	switch format {
	case "csv":
		sum, err = readCSV(ctx, path, opts, dict, fn)
	case "xlsx":
		sum, err = readXLSX(ctx, path, opts, dict, fn)
	}
	if err != nil {
		return sum, fmt.Errorf("read %s: %w", base, err)
	}
	return sum, nil
}

// isBlank reports whether every cell is empty after trimming.
func isBlank(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}
