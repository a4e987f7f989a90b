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
	b, err := openBook(path, bookOptions{maxUnzip: opts.MaxUnzipSize})
	if err != nil {
		return sum, err
	}
	defer b.Close()

	date1904 := b.date1904
	fix := func(field Field, v string) string { return typeCell(field, v, date1904) }

	var candidates []string
	if opts.Sheet != "" {
		if !b.hasSheet(opts.Sheet) {
			return sum, fmt.Errorf("%w: the workbook has no sheet %q (it has %s); fix partners.<name>.sheet", ErrNoHeader, excerpt(opts.Sheet, maxQuoted), quoteList(b.sheetList()))
		}
		candidates = []string{opts.Sheet}
	} else {
		candidates = b.visibleSheets()
	}
	var failures []string
	for _, name := range candidates {
		s := sum
		s.Sheet = name
		err := readWorksheet(ctx, b, name, dict, &s, fix, opts.KeepRaw, fn)
		if err == nil || !errors.Is(err, ErrNoHeader) || s.HeaderRow != 0 {
			var named namedErr
			if le := (*LimitError)(nil); err != nil && !errors.As(err, &named) && (!errors.As(err, &le) || le.Sheet == "") {
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

// readWorksheet streams one sheet through the emitter.
func readWorksheet(ctx context.Context, b *book, name string, dict dictionary, sum *Summary, fix func(Field, string) string, raw bool, fn func(*Record) error) error {
	em := newEmitter(ctx, dict, sum, fn)
	em.fix = fix
	em.raw = raw
	err := b.rows(ctx, name, false, func(num int, cells []string) error {
		if err := em.row(num, cells); err != nil {
			if errors.Is(err, ErrNoHeader) || sum.HeaderRow != 0 {
				return err
			}
			return fmt.Errorf("row %d: %w", num, err)
		}
		return nil
	})
	if err != nil {
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
