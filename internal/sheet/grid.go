package sheet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
)

// GridRow is one row of a sheet as written, for readers of plain tables
// (ReadGrid) rather than booking sheets.
type GridRow struct {
	Sheet string // the XLSX worksheet; "" for CSV
	// Row is the row's number as a person sees it in the sheet: 1-based,
	// counting title rows, empty lines and multi-line cells as a
	// spreadsheet does.
	Row int
	// Cells are the row's cells as written: untrimmed, untyped (text keeps
	// its leading zeros; numbers and dates appear as the cell's format
	// shows them), but always text: NUL and other control characters
	// (tab and line breaks aside) and bytes that are not UTF-8 are
	// replaced by U+FFFD. The callback may keep the slice.
	Cells []string
}

// GridOptions tunes ReadGrid and ReadGridCSV.
type GridOptions struct {
	// Sheet names the XLSX worksheet to read; empty reads the first
	// visible sheet (or all of them, with AllSheets).
	Sheet string
	// AllSheets reads every visible worksheet in workbook order when
	// Sheet is empty; GridRow.Sheet tells them apart.
	AllSheets bool
	// MaxSize bounds a CSV's size in bytes; 0 means no bound. (An XLSX is
	// bounded by MaxUnzipSize.)
	MaxSize int64
	// MaxUnzipSize bounds the uncompressed size of an XLSX; 0 means
	// DefaultMaxUnzipSize.
	MaxUnzipSize int64
}

// ErrSkipSheet, returned by a ReadGrid callback, passes over the rest of
// the worksheet being read (for a CSV, the rest of the file). The read
// goes on with the next sheet, if there is one to read; ReadGrid does not
// return it.
var ErrSkipSheet = errors.New("skip the rest of this sheet")

// ErrTooLarge marks a CSV over GridOptions.MaxSize.
var ErrTooLarge = errors.New("file too large")

// gridCheckEvery is how many rows pass between checks of the context.
const gridCheckEvery = 1024

// ReadGrid reads the CSV or XLSX file at path as a plain grid, calling fn
// with every row that has at least one cell, in order. It decides the
// format as Detect does, and reads a CSV or XLSX as Read does (encoding
// from the byte-order mark or content, delimiter sniffed, a quote never
// closed refused, the same bounds on cells, rows and workbooks), but finds
// no header and types no cell.
//
// An error from fn stops the read and is returned (except ErrSkipSheet).
// Errors name the file and, where there is one, the row; ErrRefused marks
// a file that is not a sheet, ErrTooLarge one over opts.MaxSize. The
// Summary has the Format, the Encoding and Delimiter of a CSV, the last
// Sheet read of an XLSX, and in Records the rows handed to fn.
func ReadGrid(ctx context.Context, path string, opts GridOptions, fn func(GridRow) error) (Summary, error) {
	base := filepath.Base(path)
	format, err := Detect(path)
	if err != nil {
		return Summary{}, fmt.Errorf("read %s: %w", base, err)
	}
	var sum Summary
	switch format {
	case "csv":
		sum, err = readGridCSVFile(ctx, path, opts, fn)
	case "xlsx":
		sum, err = readGridXLSX(ctx, path, opts, fn)
	}
	if err != nil {
		return sum, fmt.Errorf("read %s: %w", base, err)
	}
	return sum, nil
}

// ReadGridCSV reads CSV text from r as ReadGrid reads a CSV file. Its
// errors name the row, not a file.
func ReadGridCSV(ctx context.Context, r io.Reader, opts GridOptions, fn func(GridRow) error) (Summary, error) {
	sum := Summary{Format: "csv"}
	if opts.MaxSize > 0 {
		r = &sizeLimit{r: r, left: opts.MaxSize, limit: opts.MaxSize}
	}
	rows, err := newCSVRows(r)
	if err != nil {
		return sum, err
	}
	sum.Encoding, sum.Delimiter = rows.enc, delimName(rows.delim)
	for {
		row, rec, _, err := rows.next()
		if errors.Is(err, io.EOF) {
			return sum, nil
		}
		if err != nil {
			return sum, err
		}
		if sum.Records%gridCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return sum, err
			}
		}
		sum.Records++
		if err := fn(GridRow{Row: row, Cells: cleanCells(slices.Clone(rec))}); err != nil {
			if errors.Is(err, ErrSkipSheet) {
				return sum, nil
			}
			return sum, err
		}
	}
}

func readGridCSVFile(ctx context.Context, path string, opts GridOptions, fn func(GridRow) error) (Summary, error) {
	f, st, err := openFile(path)
	if err != nil {
		return Summary{Format: "csv"}, err
	}
	defer f.Close()
	if opts.MaxSize > 0 {
		// Refuse a file known to be too large before reading any of it.
		if st.Size() > opts.MaxSize {
			return Summary{Format: "csv"}, tooLarge(opts.MaxSize)
		}
	}
	return ReadGridCSV(ctx, f, opts, fn)
}

func readGridXLSX(ctx context.Context, path string, opts GridOptions, fn func(GridRow) error) (Summary, error) {
	sum := Summary{Format: "xlsx"}
	b, err := openBook(path, bookOptions{maxUnzip: opts.MaxUnzipSize})
	if err != nil {
		return sum, err
	}
	defer b.Close()
	var names []string
	switch {
	case opts.Sheet != "":
		if !b.hasSheet(opts.Sheet) {
			return sum, fmt.Errorf("the workbook has no sheet %q (it has %s)", excerpt(opts.Sheet, maxQuoted), quoteList(b.sheetList()))
		}
		names = []string{opts.Sheet}
	default:
		names = b.visibleSheets()
		if len(names) == 0 {
			return sum, errors.New("the workbook has no visible sheet")
		}
		if !opts.AllSheets {
			names = names[:1]
		}
	}
	for _, name := range names {
		sum.Sheet = name
		if err := readGridSheet(ctx, b, name, &sum, fn); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// readGridSheet streams one worksheet's rows to fn.
func readGridSheet(ctx context.Context, b *book, name string, sum *Summary, fn func(GridRow) error) error {
	var fnErr error
	err := b.rows(ctx, name, true, func(num int, cells []string) error {
		if len(cells) == 0 {
			return nil // an empty row, as CSV's empty lines
		}
		sum.Records++
		fnErr = fn(GridRow{Sheet: name, Row: num, Cells: cleanCells(cells)})
		return fnErr
	})
	var named namedErr
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrSkipSheet):
		return nil
	case err == fnErr, errors.As(err, &named), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return fmt.Errorf("sheet %q: %w", excerpt(name, maxQuoted), err)
}

// cleanCells makes every cell text (cleanCell), in place.
func cleanCells(cells []string) []string {
	for i, c := range cells {
		cells[i], _ = cleanCell(c)
	}
	return cells
}

// sizeLimit fails a read that goes past limit bytes with ErrTooLarge.
type sizeLimit struct {
	r           io.Reader
	left, limit int64
}

func (l *sizeLimit) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, tooLarge(l.limit)
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1] // one byte past the bound tells a file at the bound from one over it
	}
	n, err := l.r.Read(p)
	if l.left -= int64(n); l.left < 0 {
		return n - 1, tooLarge(l.limit)
	}
	return n, err
}

func tooLarge(limit int64) error {
	if limit >= 1<<20 {
		return fmt.Errorf("%w: over %d MB", ErrTooLarge, limit>>20)
	}
	return fmt.Errorf("%w: over %d bytes", ErrTooLarge, limit)
}
