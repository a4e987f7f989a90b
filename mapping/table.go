package mapping

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/gocarina/gocsv"
	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/charmap"

	"github.com/flabsync/flabsync/internal/sheet"
)

// Line is one line of a mapping table file: the layout `mapping import`
// reads and `mapping export` writes (and the exception workbook's
// unmapped sheet uses, so ops can fill in IDs and import it back).
type Line struct {
	Row       int    `csv:"-"` // where it came from: 1-based row of the file
	Partner   string `csv:"partner"`
	Kind      string `csv:"kind"`
	LocalName string `csv:"local_name"`
	ID        string `csv:"id"`
	FlabsID   string `csv:"flabs_id"`
}

// Columns is the mapping table layout, in order.
var Columns = []string{"partner", "kind", "local_name", "id", "flabs_id"}

// maxTableSize bounds a mapping table file read into memory.
const maxTableSize = 64 << 20

// ReadTableFile reads a mapping table from a CSV or XLSX file. Columns
// are found by header name (any case, in any order; other columns are
// ignored); partner and one of id/flabs_id may be absent. Blank lines are
// skipped. It checks the layout, not the lines: see CheckImport.
func ReadTableFile(path string) ([]Line, error) {
	format, err := sheet.Detect(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	var rows [][]string
	var nums []int
	switch format {
	case "xlsx":
		rows, nums, err = xlsxTableRows(path)
	default:
		rows, nums, err = csvTableRows(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	lines, err := decodeTable(rows, nums)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	return lines, nil
}

// ReadTable reads a mapping table in CSV from r.
func ReadTable(r io.Reader) ([]Line, error) {
	rows, nums, err := csvRows(r)
	if err != nil {
		return nil, err
	}
	return decodeTable(rows, nums)
}

func csvTableRows(path string) ([][]string, []int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return csvRows(f)
}

func csvRows(r io.Reader) ([][]string, []int, error) {
	raw, err := io.ReadAll(io.LimitReader(r, maxTableSize+1))
	if err != nil {
		return nil, nil, err
	}
	if len(raw) > maxTableSize {
		return nil, nil, fmt.Errorf("larger than %d MB; a mapping table is not that big", maxTableSize>>20)
	}
	// The whole table is in hand, so its encoding is decided on all of it
	// (the sheet reader only sees a sample): byte-order marks first, then
	// UTF-8 if every byte of it is, else Windows-1252.
	var b []byte
	switch {
	case bytes.HasPrefix(raw, []byte{0xEF, 0xBB, 0xBF}), bytes.HasPrefix(raw, []byte{0xFF, 0xFE}), bytes.HasPrefix(raw, []byte{0xFE, 0xFF}):
		text, _, err := sheet.DecodeText(bytes.NewReader(raw))
		if err != nil {
			return nil, nil, err
		}
		if b, err = io.ReadAll(text); err != nil {
			return nil, nil, err
		}
	case utf8.Valid(raw):
		b = raw
	default:
		if b, err = charmap.Windows1252.NewDecoder().Bytes(raw); err != nil {
			return nil, nil, err
		}
	}
	cr := csv.NewReader(bytes.NewReader(b))
	cr.Comma = sheet.SniffDelimiter(b[:min(len(b), 64<<10)])
	cr.FieldsPerRecord = -1
	var rows [][]string
	var nums []int
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		line, _ := cr.FieldPos(0)
		rows = append(rows, rec)
		nums = append(nums, line)
	}
	return rows, nums, nil
}

// xlsxTableRows reads the first sheet that carries the table's header.
func xlsxTableRows(path string) ([][]string, []int, error) {
	f, err := excelize.OpenFile(path, excelize.Options{UnzipSizeLimit: 256 << 20, UnzipXMLSizeLimit: 64 << 20})
	if err != nil {
		return nil, nil, fmt.Errorf("open workbook: %w", err)
	}
	defer f.Close()
	for _, name := range f.GetSheetList() {
		rows, err := f.Rows(name)
		if err != nil {
			return nil, nil, fmt.Errorf("sheet %q: %w", name, err)
		}
		var out [][]string
		var nums []int
		found := false
		for n := 1; rows.Next(); n++ {
			cols, err := rows.Columns()
			if err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("sheet %q row %d: %w", name, n, err)
			}
			if !found {
				if _, ok := tableHeader(cols); !ok {
					if n >= 20 {
						break
					}
					continue
				}
				found = true
			}
			out = append(out, cols)
			nums = append(nums, n)
		}
		rows.Close()
		if found {
			return out, nums, nil
		}
	}
	return nil, nil, fmt.Errorf("no sheet has the header %s", strings.Join(Columns, ","))
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
		h := headerName(c)
		for _, want := range Columns {
			if h == want {
				if _, dup := at[h]; !dup {
					at[h] = i
				}
			}
		}
	}
	_, kind := at["kind"]
	_, name := at["local_name"]
	_, id := at["id"]
	_, fid := at["flabs_id"]
	return at, kind && name && (id || fid)
}

// rowsDecoder hands prepared rows to gocsv.
type rowsDecoder [][]string

func (d rowsDecoder) GetCSVRows() ([][]string, error) { return d, nil }

// decodeTable turns rows (the first being the header) into lines.
func decodeTable(rows [][]string, nums []int) ([]Line, error) {
	// Skip blank lines (and anything before the header, for CSV).
	first := -1
	for i, r := range rows {
		if _, ok := tableHeader(r); ok {
			first = i
			break
		}
		if i >= 20 {
			break
		}
	}
	if first < 0 {
		var seen []string
		if len(rows) > 0 {
			seen = rows[0]
		}
		return nil, fmt.Errorf("no header with the columns %s (found %q)", strings.Join(Columns, ","), seen)
	}
	at, _ := tableHeader(rows[first])
	// Only the table's own columns go to gocsv, under their plain names,
	// so that a header spelled "Local Name" or extra columns (the review
	// workbook's suggestions) do not matter.
	keep := make([]string, 0, len(Columns))
	for _, c := range Columns {
		if _, ok := at[c]; ok {
			keep = append(keep, c)
		}
	}
	prepared := [][]string{keep}
	var rowNums []int
	for i := first + 1; i < len(rows); i++ {
		rec := make([]string, len(keep))
		blank := true
		for j, c := range keep {
			if k := at[c]; k < len(rows[i]) {
				rec[j] = unescapeCell(strings.TrimSpace(rows[i][k]))
				blank = blank && rec[j] == ""
			}
		}
		if blank {
			continue
		}
		prepared = append(prepared, rec)
		rowNums = append(rowNums, nums[i])
	}
	if len(prepared) == 1 {
		return nil, nil
	}
	var lines []Line
	if err := gocsv.UnmarshalDecoder(rowsDecoder(prepared), &lines); err != nil {
		return nil, err
	}
	for i := range lines {
		lines[i].Row = rowNums[i]
	}
	return lines, nil
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
		out[i] = Line{Partner: escapeCell(l.Partner), Kind: l.Kind, LocalName: escapeCell(l.LocalName),
			ID: escapeCell(l.ID), FlabsID: escapeCell(l.FlabsID)}
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

// escapeCell keeps a spreadsheet from reading a CSV cell as a formula: a
// leading = + - @ gets an apostrophe, which unescapeCell takes off again.
func escapeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func unescapeCell(s string) string {
	if len(s) > 1 && s[0] == '\'' && strings.ContainsRune("=+-@\t\r", rune(s[1])) {
		return s[1:]
	}
	return s
}
