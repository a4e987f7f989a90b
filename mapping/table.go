package mapping

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gocarina/gocsv"
	"github.com/xuri/excelize/v2"

	"github.com/flabsync/flabsync/internal/csvsafe"
	"github.com/flabsync/flabsync/internal/sheet"
)

// Line is one line of a mapping table file: the layout `mapping import`
// reads and `mapping export` writes (and the exception workbook's
// unmapped sheet uses, so ops can fill in IDs and import it back).
type Line struct {
	Row       int    `csv:"-"` // where it came from: the file's row as a spreadsheet shows it, 1-based
	Partner   string `csv:"partner"`
	Kind      string `csv:"kind"`
	LocalName string `csv:"local_name"`
	ID        string `csv:"id"`
	FlabsID   string `csv:"flabs_id"`
}

// Columns is the mapping table layout, in order.
var Columns = []string{"partner", "kind", "local_name", "id", "flabs_id"}

// maxTableSize bounds a mapping table CSV; maxTableUnzip an XLSX's
// uncompressed size.
const (
	maxTableSize   = 64 << 20
	maxTableUnzip  = 256 << 20
	maxAboveHeader = 20 // rows looked at above the header, per sheet
)

// ReadTableFile reads a mapping table from a CSV or XLSX file (the first
// sheet that carries the table's header), as internal/sheet reads a grid.
// Columns are found by header name (any case, in any order; other columns
// are ignored); partner and one of id/flabs_id may be absent. Blank lines
// are skipped. It checks the layout, not the lines: see CheckImport.
func ReadTableFile(path string) ([]Line, error) {
	var t table
	opts := sheet.GridOptions{AllSheets: true, MaxSize: maxTableSize, MaxUnzipSize: maxTableUnzip}
	if _, err := sheet.ReadGrid(context.Background(), path, opts, t.row); err != nil && !errors.Is(err, errTableEnd) {
		return nil, err
	}
	lines, err := t.done()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	return lines, nil
}

// ReadTable reads a mapping table in CSV from r, as ReadTableFile does.
func ReadTable(r io.Reader) ([]Line, error) {
	var t table
	if _, err := sheet.ReadGridCSV(context.Background(), r, sheet.GridOptions{MaxSize: maxTableSize}, t.row); err != nil {
		return nil, err
	}
	return t.done()
}

// errTableEnd stops a read at the end of the sheet that held the table.
var errTableEnd = errors.New("end of the table")

// table collects a mapping table's lines from a sheet's rows: it looks for
// the header near the top of each sheet, then keeps the table's own
// columns of every row below it.
type table struct {
	sheet  string         // the sheet being read
	looked int            // its rows looked at for the header
	at     map[string]int // the header's columns; nil until found
	first  []string       // the first row seen, for the message
	lines  []Line
}

func (t *table) row(r sheet.GridRow) error {
	if t.at != nil {
		if r.Sheet != t.sheet {
			return errTableEnd
		}
		t.add(r)
		return nil
	}
	if r.Sheet != t.sheet {
		t.sheet, t.looked = r.Sheet, 0
	}
	if at, ok := tableHeader(r.Cells); ok {
		t.at = at
		return nil
	}
	if t.first == nil {
		t.first = r.Cells
	}
	if t.looked++; t.looked > maxAboveHeader {
		return sheet.ErrSkipSheet
	}
	return nil
}

// add keeps a row below the header, unless the table's columns are blank.
func (t *table) add(r sheet.GridRow) {
	l := Line{Row: r.Row}
	blank := true
	for name, i := range t.at {
		if i >= len(r.Cells) {
			continue
		}
		// (The grid reader has already made a NUL into U+FFFD.)
		v := csvsafe.Unescape(strings.TrimSpace(r.Cells[i]))
		if v == "" {
			continue
		}
		blank = false
		switch name {
		case "partner":
			l.Partner = v
		case "kind":
			l.Kind = v
		case "local_name":
			l.LocalName = v
		case "id":
			l.ID = v
		case "flabs_id":
			l.FlabsID = v
		}
	}
	if !blank {
		t.lines = append(t.lines, l)
	}
}

// done returns the lines read, or why there are none.
func (t *table) done() ([]Line, error) {
	if t.at == nil {
		return nil, fmt.Errorf("no header with the columns %s (found %q)", strings.Join(Columns, ","), t.first)
	}
	return t.lines, nil
}

// headerName normalises a header cell: "Local Name" → "local_name".
func headerName(s string) string {
	s = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(s, "\uFEFF")))
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '_' || r == '-' }), "_")
}

// tableHeader reports which columns a header row holds; ok when it has
// what a table needs: kind, local_name, and id or flabs_id.
func tableHeader(cells []string) (map[string]int, bool) {
	at := map[string]int{}
	for i, c := range cells {
		if h := columnOf(c); h != "" {
			if _, dup := at[h]; !dup {
				at[h] = i
			}
		}
	}
	_, kind := at["kind"]
	_, name := at["local_name"]
	_, id := at["id"]
	_, fid := at["flabs_id"]
	return at, kind && name && (id || fid)
}

// WriteTableFile writes lines to path as CSV or, for .xlsx, a workbook.
// The file is written beside and renamed into place, so a failed export
// never leaves half a table.
func WriteTableFile(path string, lines []Line) error {
	dir, base := filepath.Split(path)
	tmp, err := os.CreateTemp(dir, "."+base+".*")
	if err != nil {
		return fmt.Errorf("export %s: %w", base, err)
	}
	defer os.Remove(tmp.Name())
	switch strings.ToLower(filepath.Ext(path)) {
	case ".xlsx":
		err = writeTableXLSX(tmp, lines)
	case ".csv", ".txt", "":
		err = WriteTable(tmp, lines)
	default:
		err = fmt.Errorf("write .csv or .xlsx, not %s", filepath.Ext(path))
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("export %s: %w", base, err)
	}
	return nil
}

// WriteTable writes lines as CSV with the header row.
func WriteTable(w io.Writer, lines []Line) error {
	out := make([]Line, len(lines))
	for i, l := range lines {
		out[i] = Line{Partner: csvsafe.Escape(l.Partner), Kind: l.Kind, LocalName: csvsafe.Escape(l.LocalName),
			ID: csvsafe.Escape(l.ID), FlabsID: csvsafe.Escape(l.FlabsID)}
	}
	if len(out) == 0 { // gocsv writes no header for an empty slice
		cw := csv.NewWriter(w)
		if err := cw.Write(Columns); err != nil {
			return err
		}
		cw.Flush()
		return cw.Error()
	}
	return gocsv.Marshal(out, w)
}

func writeTableXLSX(w io.Writer, lines []Line) error {
	f := excelize.NewFile()
	defer f.Close()
	const name = "mappings"
	if err := f.SetSheetName("Sheet1", name); err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(name)
	if err != nil {
		return err
	}
	header := make([]any, len(Columns))
	for i, c := range Columns {
		header[i] = c
	}
	if err := sw.SetRow("A1", header); err != nil {
		return err
	}
	for i, l := range lines {
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		// Strings stay strings in XLSX cells: no formula can hide in one.
		if err := sw.SetRow(cell, []any{l.Partner, l.Kind, l.LocalName, l.ID, l.FlabsID}); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	_, err = f.WriteTo(w)
	return err
}
