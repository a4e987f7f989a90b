package sheet

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
)

func readXLSX(ctx context.Context, path string, opts Options, dict dictionary, fn func(*Record) error) (Summary, error) {
	sum := Summary{Format: "xlsx"}
	f, err := openWorkbook(path, opts.MaxUnzipSize)
	if err != nil {
		return sum, err
	}
	defer f.Close()

	date1904 := false
	if p, err := f.GetWorkbookProps(); err == nil && p.Date1904 != nil {
		date1904 = *p.Date1904
	}
	fix := func(field Field, v string) string { return typeCell(field, v, date1904) }

	var candidates []string
	if opts.Sheet != "" {
		idx, err := f.GetSheetIndex(opts.Sheet)
		if err != nil || idx < 0 {
			return sum, fmt.Errorf("%w: the workbook has no sheet %q (it has %s); fix partners.<name>.sheet", ErrNoHeader, excerpt(opts.Sheet, maxQuoted), quoteList(f.GetSheetList()))
		}
		candidates = []string{opts.Sheet}
	} else {
		candidates = visibleSheets(f)
	}
	var failures []string
	for _, name := range candidates {
		s := sum
		s.Sheet = name
		err := readWorksheet(ctx, f, name, dict, &s, fix, opts.KeepRaw, fn)
		if err == nil || !errors.Is(err, ErrNoHeader) || s.HeaderRow != 0 {
			if le := (*LimitError)(nil); err != nil && (!errors.As(err, &le) || le.Sheet == "") {
				err = fmt.Errorf("sheet %q: %w", excerpt(name, maxQuoted), err)
			}
			return s, err
		}
		failures = append(failures, fmt.Sprintf("sheet %q: %v", excerpt(name, maxQuoted), strings.TrimPrefix(err.Error(), ErrNoHeader.Error()+": ")))
	}
	if len(candidates) == 0 {
		return sum, fmt.Errorf("%w: the workbook has no visible sheet", ErrNoHeader)
	}
	return sum, fmt.Errorf("%w: %s", ErrNoHeader, strings.Join(failures, "; "))
}

// openWorkbook opens the XLSX at path for streaming once checkXLSX has
// passed it, refusing (ErrRefused) one that unpacks to more than its size
// allows, with maxUnzip (0: DefaultMaxUnzipSize) the most any may, or one
// that cannot be opened.
func openWorkbook(path string, maxUnzip int64) (*excelize.File, error) {
	budget, err := checkXLSX(path, maxUnzip)
	if err != nil {
		return nil, err
	}
	f, err := excelize.OpenFile(path, excelize.Options{
		UnzipSizeLimit:    budget,
		UnzipXMLSizeLimit: min(xmlInMemory, budget),
		// Date cells in Excel's default short-date format come out as
		// ISO dates, never as ambiguous mm-dd-yy.
		ShortDatePattern: "yyyy-mm-dd",
		LongDatePattern:  "yyyy-mm-dd",
	})
	if err != nil {
		if strings.Contains(err.Error(), "size exceeds") || strings.Contains(err.Error(), "limit") {
			return nil, &LimitError{What: "workbook", Limit: budget, Hint: "it is damaged or made to hurt: open it in Excel and save it again, or save the sheet as .csv"}
		}
		return nil, fmt.Errorf("%w: the workbook cannot be opened (%v); open it in Excel, save it again as .xlsx, or save as .csv", ErrRefused, err)
	}
	return f, nil
}

// checkCells refuses a cell over MaxCell in a row excelize read (checkXLSX
// has refused them already; this holds whatever excelize makes of a cell).
func checkCells(sheet string, row int, cells []string) error {
	for i, c := range cells {
		if len(c) > MaxCell {
			return &LimitError{What: "cell", Sheet: sheet, Row: row, Column: columnName(i), Size: int64(len(c)), Limit: MaxCell,
				Hint: "a booking sheet has no cell this long: shorten or clear it and save the workbook again"}
		}
	}
	return nil
}

// visibleSheets lists the workbook's visible worksheets in order.
func visibleSheets(f *excelize.File) []string {
	var out []string
	for _, name := range f.GetSheetList() {
		if visible, err := f.GetSheetVisible(name); err == nil && visible {
			out = append(out, name)
		}
	}
	return out
}

// readWorksheet streams one sheet through the emitter.
func readWorksheet(ctx context.Context, f *excelize.File, name string, dict dictionary, sum *Summary, fix func(Field, string) string, raw bool, fn func(*Record) error) error {
	rows, err := f.Rows(name)
	if err != nil {
		return err
	}
	defer rows.Close()
	em := newEmitter(ctx, dict, sum, fn)
	em.fix = fix
	em.raw = raw
	num := 0
	for rows.Next() {
		num++
		cells, err := rows.Columns()
		if err != nil {
			return fmt.Errorf("row %d: %w", num, err)
		}
		if err := checkCells(name, num, cells); err != nil {
			return err
		}
		if err := em.row(num, cells); err != nil {
			if errors.Is(err, ErrNoHeader) || sum.HeaderRow != 0 {
				return err
			}
			return fmt.Errorf("row %d: %w", num, err)
		}
	}
	if err := rows.Error(); err != nil {
		return err
	}
	return em.done()
}

// typeCell fixes what a number-typed cell looks like once formatted: an
// integer stored as a float ("32.000000001") reads as "32", and a date
// serial left in General format in a date column reads as an ISO date.
func typeCell(field Field, v string, date1904 bool) string {
	if v == "" || !(v[0] >= '0' && v[0] <= '9' || v[0] == '-') {
		return v
	}
	switch field {
	case Barcode, Ref, Mobile:
		// Identifiers are text; excelize already shows them as written
		// (leading zeros of text cells and "000123" formats kept).
		return v
	}
	x, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return v
	}
	if field == DOB || field == BookingDate {
		if x >= 1 && x < 2958466 {
			if t, err := excelize.ExcelDateToTime(x, date1904); err == nil {
				return t.Format("2006-01-02")
			}
		}
		return v
	}
	if r := math.Round(x); strings.Contains(v, ".") && math.Abs(x-r) < 1e-6 {
		return strconv.FormatFloat(r, 'f', -1, 64)
	}
	return v
}
