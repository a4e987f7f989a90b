package report

import (
	"archive/zip"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/flabsync/flabsync/internal/sheet"
	"github.com/flabsync/flabsync/reconcile"
)

// ErrNoDecisionSheets: the workbook has no sheet with the ID and Action
// columns of a category sheet.
var ErrNoDecisionSheets = errors.New("no sheet with ID and Action columns: is this a flabsync exceptions workbook?")

// ReadDecisions reads what people wrote in the Action and Note columns of
// a nightly workbook, as flabsync wrote it or after Excel, LibreOffice or
// another program saved it again: columns are found by their header, so
// added or moved columns, other styles, shared strings and extra sheets
// do not matter. Rows with an empty Action are skipped. Every bad cell is
// reported (sheet and row), and then no decision is returned: all or
// nothing. Snooze days are read in loc.
func ReadDecisions(path string, loc *time.Location) ([]reconcile.Decision, error) {
	f, err := sheet.OpenWorkbook(path, 0)
	if errors.Is(err, zip.ErrFormat) {
		return nil, fmt.Errorf("read %s: it is not an .xlsx workbook; save it from Excel or LibreOffice as .xlsx (%w)", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	var (
		out      []reconcile.Decision
		problems []error
		seen     = map[string]string{} // ID → where it was decided
		found    bool
	)
	for _, sheet := range f.GetSheetList() {
		ds, ok, errs := readSheet(f, sheet, loc)
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
		return nil, fmt.Errorf("read %s: %w", path, ErrNoDecisionSheets)
	case len(problems) > 0:
		return nil, fmt.Errorf("read %s: %w (nothing was applied)", path, errors.Join(problems...))
	}
	return out, nil
}

// readSheet reads one sheet's decisions; ok is false for a sheet without
// the ID and Action columns.
func readSheet(f *excelize.File, sheet string, loc *time.Location) (out []reconcile.Decision, ok bool, problems []error) {
	rows, err := f.Rows(sheet)
	if err != nil {
		return nil, false, nil
	}
	defer rows.Close()
	col := map[string]int{}
	for n := 1; rows.Next(); n++ {
		cells, err := rows.Columns()
		if err != nil {
			return out, true, append(problems, fmt.Errorf("sheet %q row %d: %w", sheet, n, err))
		}
		if n == 1 {
			for i, c := range cells {
				col[strings.ToLower(strings.TrimSpace(c))] = i + 1
			}
			if col["id"] == 0 || col[strings.ToLower(ColumnAction)] == 0 {
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
		d, act, err := reconcile.ParseAction(cell(ColumnAction), loc)
		where := fmt.Sprintf("sheet %q row %d", sheet, n)
		switch {
		case err != nil:
			problems = append(problems, fmt.Errorf("%s: %w", where, err))
			continue
		case !act:
			continue
		case cell("ID") == "":
			problems = append(problems, fmt.Errorf("%s: an action with no exception ID", where))
			continue
		}
		d.ID, d.Note, d.Where, d.Detail = cell("ID"), cell(ColumnNote), where, cell("Detail")
		out = append(out, d)
	}
	if err := rows.Error(); err != nil {
		problems = append(problems, fmt.Errorf("sheet %q: %w", sheet, err))
	}
	return out, true, problems
}
