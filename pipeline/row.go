// Package pipeline owns one file's journey: its rows become bookings
// (validated, with a deterministic integrator ID), bad rows become
// RowErrors with a stable code, and the file's accounting balances: rows in
// = accepted + rejected + skipped. The Ingester then takes the bookings
// through the ledger (pipeline/ledger) to the submitter (pipeline/submit);
// pipeline/inbox hands it files. The readers live in internal/sheet.
package pipeline

import (
	"fmt"

	"github.com/flabsync/flabsync/internal/sheet"
)

// Rejection codes: stable, part of the product's interface (they appear in
// the --json output, the exception workbook and partner reject files).
const (
	CodeMissingName      = "missing_name"
	CodeMissingGender    = "missing_gender"
	CodeBadGender        = "bad_gender"
	CodeMissingAge       = "missing_age"
	CodeBadAge           = "bad_age"
	CodeBadDOB           = "bad_dob"
	CodeBadBookingDate   = "bad_booking_date"
	CodeNoTests          = "no_tests"
	CodeDuplicateBarcode = "duplicate_barcode"
	CodeDuplicateRow     = "duplicate_row"
	CodeDuplicateRef     = "duplicate_ref"
	CodeConflictingGroup = "conflicting_group"
	// CodeReferenceTooLong: the booking reference would make an integrator
	// ID (partner:reference) over flabs.MaxIntegratorIDLen bytes.
	CodeReferenceTooLong = "reference_too_long"
	// CodeLineBreak: a single-line field (name, tests, reference, barcode,
	// age, gender) holds a line break — in a CSV, most likely a quote left
	// open that swallowed the next rows. The message names the line.
	CodeLineBreak = sheet.ProblemLineBreak
	// CodeBadCharacters: a cell holds a NUL, a control character or bytes
	// that are not text; the message names the column.
	CodeBadCharacters = sheet.ProblemBadCharacters
)

// RowError is a row kept out of submission, with the reason. It is data,
// collected per file, not a failure of the run.
type RowError struct {
	File  string // file name as received
	Sheet string // XLSX sheet, "" for CSV
	Row   int    // the row number a person sees in the sheet
	Rows  []int  // every row the rejection covers (a grouped booking has several)
	Ref   string // the sheet's booking reference, if any
	Field string // the field at fault, e.g. "age"
	Code  string // one of the Code constants
	Msg   string // a sentence for a person
}

func (e *RowError) Error() string {
	where := e.File
	if e.Sheet != "" {
		where += " sheet " + e.Sheet
	}
	return fmt.Sprintf("%s row %d: %s: %s", where, e.Row, e.Code, e.Msg)
}
