package report

import (
	"archive/zip"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/flabsync/flabsync/internal/sheet"
	"github.com/flabsync/flabsync/reconcile"
)

// ErrNoDecisionSheets: the workbook has no sheet with the ID and Action
// columns of a category sheet.
var ErrNoDecisionSheets = errors.New("no sheet with ID and Action columns: is this a flabsync exceptions workbook?")

// ReadDecisions opens the workbook at path and reads its decisions
// (ParseDecisions).
func ReadDecisions(path string, loc *time.Location) ([]reconcile.Decision, error) {
	f, err := sheet.OpenWorkbook(path, 0)
	if errors.Is(err, zip.ErrFormat) {
		return nil, fmt.Errorf("read %s: it is not an .xlsx workbook; save it from Excel or LibreOffice as .xlsx (%w)", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	ds, err := ParseDecisions(f, loc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return ds, nil
}

// ParseDecisions reads what people wrote in the Action, Snooze until and
// Note columns of a nightly workbook, as flabsync wrote it or after
// Excel, LibreOffice or another program saved it again: columns are found
// by their header, so added or moved columns, other styles, shared
// strings and extra sheets do not matter. Action is close, snooze (the
// day in Snooze until, a date cell or YYYY-MM-DD text) or reopen, or the
// older "snooze YYYY-MM-DD" in Action itself. Rows with an empty Action
// are skipped.
//
// Each decision carries the row's Fingerprint, from the hidden column
// flabsync wrote beside it: a decision without one (the column deleted,
// the row pasted from elsewhere, a workbook of an older release) is
// refused here, and a stale one when it is applied — whatever was done to
// the columns a person sees. Every bad cell is reported (sheet and row),
// and then no decision is returned: all or nothing. Days are read in loc.
func ParseDecisions(f *excelize.File, loc *time.Location) ([]reconcile.Decision, error) {
	var (
		out      []reconcile.Decision
		problems []error
		seen     = map[string]string{} // ID → where it was decided
		found    bool
	)
	// A workbook saved in the 1904 date system (Excel for Mac's old
	// default) counts its date cells' serial numbers from 1904.
	days := dayReader{loc: loc}
	if props, err := f.GetWorkbookProps(); err == nil && props.Date1904 != nil {
		days.date1904 = *props.Date1904
	}
	for _, sheet := range f.GetSheetList() {
		ds, ok, errs := readSheet(f, sheet, days)
		if !ok {
			continue
		}
		found = true
		problems = append(problems, errs...)
		for _, d := range ds {
			if first, dup := seen[d.ID]; dup {
				problems = append(problems, fmt.Errorf("%s: exception %q is decided twice (also %s)", d.Where, d.ID, first))
				continue
			}
			seen[d.ID] = d.Where
			out = append(out, d)
		}
	}
	switch {
	case !found:
		return nil, ErrNoDecisionSheets
	case len(problems) > 0:
		return nil, fmt.Errorf("%w (nothing was applied)", errors.Join(problems...))
	}
	return out, nil
}

// readSheet reads one sheet's decisions; ok is false for a sheet without
// the ID and Action columns.
func readSheet(f *excelize.File, sheet string, days dayReader) (out []reconcile.Decision, ok bool, problems []error) {
	rows, err := f.Rows(sheet)
	if err != nil {
		return nil, false, nil
	}
	defer rows.Close()
	col := map[string]int{}
	for n := 1; rows.Next(); n++ {
		// Raw values: a day is the serial number a date cell holds,
		// whatever format the program that saved it gave the cell.
		cells, err := rows.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			return out, true, append(problems, fmt.Errorf("sheet %q row %d: %w", sheet, n, err))
		}
		if n == 1 {
			for i, c := range cells {
				if h := strings.ToLower(strings.TrimSpace(c)); col[h] == 0 {
					col[h] = i + 1
				}
			}
			if col[strings.ToLower(ColumnID)] == 0 || col[strings.ToLower(ColumnAction)] == 0 {
				return nil, false, nil
			}
			continue
		}
		cell := func(name string) string {
			if i := col[strings.ToLower(name)]; i > 0 && i <= len(cells) {
				return strings.TrimSpace(cells[i-1])
			}
			return ""
		}
		where := fmt.Sprintf("sheet %q row %d", sheet, n)
		d, act, err := parseAction(cell(ColumnAction), cell(ColumnSnoozeUntil), days)
		switch {
		case err != nil:
			problems = append(problems, fmt.Errorf("%s: %w", where, err))
			continue
		case !act:
			continue
		case cell(ColumnID) == "":
			problems = append(problems, fmt.Errorf("%s: an action with no exception ID", where))
			continue
		case col[strings.ToLower(ColumnFingerprint)] == 0:
			problems = append(problems, fmt.Errorf("%s: exception %q: the sheet has lost its hidden %s column, which says what the decision was made on; decide on the latest workbook as flabsync wrote it", where, cell(ColumnID), ColumnFingerprint))
			continue
		case cell(ColumnFingerprint) == "":
			problems = append(problems, fmt.Errorf("%s: exception %q has no %s (hidden column) on its row; decide on the latest workbook as flabsync wrote it", where, cell(ColumnID), ColumnFingerprint))
			continue
		}
		d.ID, d.Note, d.Where, d.Fingerprint = cell(ColumnID), cell(ColumnNote), where, cell(ColumnFingerprint)
		out = append(out, d)
	}
	if err := rows.Error(); err != nil {
		problems = append(problems, fmt.Errorf("sheet %q: %w", sheet, err))
	}
	return out, true, problems
}

// parseAction reads an Action cell and the Snooze until cell beside it.
func parseAction(action, until string, days dayReader) (reconcile.Decision, bool, error) {
	if strings.EqualFold(action, string(reconcile.ActionSnooze)) {
		if until == "" {
			return reconcile.Decision{}, false, fmt.Errorf("snooze needs the day it comes back in %s (YYYY-MM-DD)", ColumnSnoozeUntil)
		}
		day, err := days.parse(until)
		if err != nil {
			return reconcile.Decision{}, false, err
		}
		return reconcile.Decision{Action: reconcile.ActionSnooze, Until: day}, true, nil
	}
	d, ok, err := reconcile.ParseAction(action, days.loc)
	if ok && d.Action == reconcile.ActionSnooze && until != "" {
		if day, derr := days.parse(until); derr != nil || !day.Equal(d.Until) {
			return d, false, fmt.Errorf("action %q and %s %q name different days: give the day once", action, ColumnSnoozeUntil, until)
		}
	}
	return d, ok, err
}

// dayReader reads the days of one workbook: midnight in loc, date
// cells' serial numbers counted in the workbook's date system.
type dayReader struct {
	loc      *time.Location
	date1904 bool
}

// parse reads a Snooze until cell: a date cell's serial number, or a
// day written YYYY-MM-DD (a time after it, as some programs add, is
// ignored). The day is midnight in r.loc.
func (r dayReader) parse(cell string) (time.Time, error) {
	loc := r.loc
	if serial, err := strconv.ParseFloat(cell, 64); err == nil {
		t, err := excelize.ExcelDateToTime(serial, r.date1904)
		if err != nil || t.Year() < 2000 {
			return time.Time{}, fmt.Errorf("%s %q: not a day", ColumnSnoozeUntil, cell)
		}
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc), nil
	}
	text, _, _ := strings.Cut(cell, " ")
	text, _, _ = strings.Cut(text, "T")
	day, err := time.ParseInLocation(time.DateOnly, text, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: want a day, YYYY-MM-DD", ColumnSnoozeUntil, cell)
	}
	return day, nil
}
