package sheet_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"github.com/xuri/excelize/v2"

	"github.com/flabsync/flabsync/internal/sheet"
)

// gridOf reads path with ReadGrid and returns every row handed over.
func gridOf(t testing.TB, path string, opts sheet.GridOptions) ([]sheet.GridRow, sheet.Summary, error) {
	t.Helper()
	var out []sheet.GridRow
	sum, err := sheet.ReadGrid(t.Context(), path, opts, func(r sheet.GridRow) error {
		out = append(out, r)
		return nil
	})
	return out, sum, err
}

func TestReadGridCSV(t *testing.T) {
	ids := "id,local_name,kind\n00123,Haemogram,test\n0042,Zoë;  x ,package\n"
	semicolons := strings.ReplaceAll(strings.ReplaceAll(ids, ";", "|"), ",", ";")
	want := []sheet.GridRow{
		{Row: 1, Cells: []string{"id", "local_name", "kind"}},
		{Row: 2, Cells: []string{"00123", "Haemogram", "test"}},
		{Row: 3, Cells: []string{"0042", "Zoë;  x ", "package"}},
	}
	wantSemi := []sheet.GridRow{want[0], want[1], {Row: 3, Cells: []string{"0042", "Zoë|  x ", "package"}}}
	for _, tt := range []struct {
		name     string
		data     []byte
		want     []sheet.GridRow
		encoding string
		delim    string
	}{
		{"utf-8", []byte(ids), want, "utf-8", ","},
		{"utf-8 BOM, CRLF", append([]byte("\xEF\xBB\xBF"), strings.ReplaceAll(ids, "\n", "\r\n")...), want, "utf-8-bom", ","},
		{"semicolon", []byte(semicolons), wantSemi, "utf-8", ";"},
		{"utf-16 with BOM (Excel Unicode text)", utf16le(strings.ReplaceAll(ids, ",", "\t"), true), want, "utf-16le", "tab"},
		{"utf-16 without BOM", utf16le(ids, false), want, "utf-16le", ","},
		{"windows-1252", []byte(strings.ReplaceAll(ids, "Zoë", "Zo\xEB")), want, "windows-1252", ","},
		{"windows-1252 far down an ASCII file", []byte(strings.Repeat("\n", 70<<10) + strings.ReplaceAll(ids, "Zoë", "Zo\xEB")), nil, "utf-8", ","},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, sum, err := gridOf(t, writeFile(t, "table.csv", tt.data), sheet.GridOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == nil { // the rows are pushed down by the blank lines
				tt.want = append([]sheet.GridRow(nil), want...)
				for i := range tt.want {
					tt.want[i].Row += 70 << 10
				}
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("rows (-want +got):\n%s", d)
			}
			if sum.Format != "csv" || sum.Encoding != tt.encoding || sum.Delimiter != tt.delim || sum.Records != len(tt.want) {
				t.Errorf("summary %+v, want csv, %s, %q, %d records", sum, tt.encoding, tt.delim, len(tt.want))
			}
			// From a reader, byte by byte, the same.
			var again []sheet.GridRow
			if _, err := sheet.ReadGridCSV(t.Context(), iotest.OneByteReader(bytes.NewReader(tt.data)), sheet.GridOptions{}, func(r sheet.GridRow) error {
				again = append(again, r)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(got, again); d != "" {
				t.Errorf("ReadGridCSV differs from ReadGrid (-file +reader):\n%s", d)
			}
		})
	}
}

// Row numbers are the ones a spreadsheet shows: title rows and empty lines
// count, and a quoted cell with line breaks is one row. Empty lines are
// not handed over; a row of empty cells is, as written.
func TestReadGridRowNumbers(t *testing.T) {
	data := "Mappings, 24 Nov\n\nkind,local_name,id\ntest,\"CBC\nwith ESR\",1\n\n,,\ntest,TSH,2\n"
	got, _, err := gridOf(t, writeFile(t, "m.csv", []byte(data)), sheet.GridOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []sheet.GridRow{
		{Row: 1, Cells: []string{"Mappings", " 24 Nov"}},
		{Row: 3, Cells: []string{"kind", "local_name", "id"}},
		{Row: 4, Cells: []string{"test", "CBC\nwith ESR", "1"}},
		{Row: 6, Cells: []string{"", "", ""}},
		{Row: 7, Cells: []string{"test", "TSH", "2"}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("rows (-want +got):\n%s", d)
	}
}

func TestReadGridXLSX(t *testing.T) {
	f := excelize.NewFile()
	f.SetSheetName("Sheet1", "Notes")
	f.SetSheetRow("Notes", "A1", &[]any{"nothing here"})
	idx, err := f.NewSheet("Table")
	if err != nil {
		t.Fatal(err)
	}
	f.SetActiveSheet(idx) // the active sheet cannot be hidden
	if err := f.SetSheetVisible("Notes", false); err != nil {
		t.Fatal(err)
	}
	f.SetSheetRow("Table", "A1", &[]any{"id", "local_name", "count"})
	f.SetCellStr("Table", "A2", "000123") // text: leading zeros as written
	f.SetCellStr("Table", "B2", " Haemogram ")
	f.SetCellValue("Table", "C2", 7)
	f.SetCellValue("Table", "A4", 42) // a number shown through a "000000" format
	style, err := f.NewStyle(&excelize.Style{CustomNumFmt: ptr("000000")})
	if err != nil {
		t.Fatal(err)
	}
	f.SetCellStyle("Table", "A4", "A4", style)
	f.SetCellStr("Table", "B4", "TSH")
	f.NewSheet("More")
	f.SetSheetRow("More", "A2", &[]any{"x", "y"})
	path := filepath.Join(t.TempDir(), "table.xlsx")
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	f.Close()

	table := []sheet.GridRow{
		{Sheet: "Table", Row: 1, Cells: []string{"id", "local_name", "count"}},
		{Sheet: "Table", Row: 2, Cells: []string{"000123", " Haemogram ", "7"}},
		{Sheet: "Table", Row: 4, Cells: []string{"000042", "TSH"}},
	}
	more := sheet.GridRow{Sheet: "More", Row: 2, Cells: []string{"x", "y"}}
	for _, tt := range []struct {
		name      string
		opts      sheet.GridOptions
		skipAfter int // return ErrSkipSheet after this many rows of a sheet
		want      []sheet.GridRow
		sheet     string
	}{
		{"first visible sheet", sheet.GridOptions{}, 0, table, "Table"},
		{"named hidden sheet", sheet.GridOptions{Sheet: "Notes"}, 0, []sheet.GridRow{{Sheet: "Notes", Row: 1, Cells: []string{"nothing here"}}}, "Notes"},
		{"all visible sheets", sheet.GridOptions{AllSheets: true}, 0, append(table[:3:3], more), "More"},
		{"skip the rest of a sheet", sheet.GridOptions{AllSheets: true}, 1, []sheet.GridRow{table[0], more}, "More"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []sheet.GridRow
			n := map[string]int{}
			sum, err := sheet.ReadGrid(t.Context(), path, tt.opts, func(r sheet.GridRow) error {
				got = append(got, r)
				if n[r.Sheet]++; n[r.Sheet] == tt.skipAfter {
					return sheet.ErrSkipSheet
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("rows (-want +got):\n%s", d)
			}
			if sum.Format != "xlsx" || sum.Sheet != tt.sheet || sum.Records != len(tt.want) {
				t.Errorf("summary %+v, want xlsx, sheet %q, %d records", sum, tt.sheet, len(tt.want))
			}
		})
	}
	_, _, err = gridOf(t, path, sheet.GridOptions{Sheet: "Missing"})
	if err == nil || !strings.Contains(err.Error(), `no sheet "Missing"`) || !strings.Contains(err.Error(), `"Table"`) {
		t.Errorf("unknown sheet: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestReadGridRefusals(t *testing.T) {
	table := []byte("kind,local_name,id\ntest,CBC,1\n")
	stop := errors.New("stop")
	for _, tt := range []struct {
		name string
		path func(t *testing.T) string
		opts sheet.GridOptions
		fn   func(sheet.GridRow) error
		is   error
		msg  string
	}{
		{"CSV over MaxSize", func(t *testing.T) string { return writeFile(t, "m.csv", table) }, sheet.GridOptions{MaxSize: 10}, nil, sheet.ErrTooLarge, "read m.csv: file too large: over 10 bytes"},
		{"CSV at MaxSize", func(t *testing.T) string { return writeFile(t, "m.csv", table) }, sheet.GridOptions{MaxSize: int64(len(table))}, nil, nil, ""},
		{"runaway quote", func(t *testing.T) string {
			return writeFile(t, "m.csv", []byte("kind,local_name\ntest,\"CBC\n"+strings.Repeat("x,", 20<<10)))
		}, sheet.GridOptions{}, nil, nil, "row 2: a cell is over 32 KB"},
		{"not a sheet", func(t *testing.T) string { return writeFile(t, "m.csv", []byte("%PDF-1.7\n")) }, sheet.GridOptions{}, nil, sheet.ErrRefused, "PDF"},
		{"unzip limit", func(t *testing.T) string { return makeXLSX(t, 4000, "Bookings") }, sheet.GridOptions{MaxUnzipSize: 64 << 10}, nil, sheet.ErrRefused, "unpacks to more than"},
		{"an error from fn stops the read", func(t *testing.T) string { return writeFile(t, "m.csv", table) }, sheet.GridOptions{}, func(sheet.GridRow) error { return stop }, stop, "read m.csv: stop"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fn := tt.fn
			if fn == nil {
				fn = func(sheet.GridRow) error { return nil }
			}
			_, err := sheet.ReadGrid(t.Context(), tt.path(t), tt.opts, fn)
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				return
			}
			if err == nil || (tt.is != nil && !errors.Is(err, tt.is)) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v, want %v with %q", err, tt.is, tt.msg)
			}
		})
	}
	// From a reader the bound holds too, without a size to look at first.
	_, err := sheet.ReadGridCSV(t.Context(), iotest.OneByteReader(bytes.NewReader(table)), sheet.GridOptions{MaxSize: 20}, func(sheet.GridRow) error { return nil })
	if !errors.Is(err, sheet.ErrTooLarge) {
		t.Errorf("reader over MaxSize: %v", err)
	}
}

// FuzzReadGrid: whatever CSV bytes come in, reading never panics, and the
// rows handed over have row numbers that rise, start at 1 or later, and
// stay within the file's lines, each with at least one cell.
func FuzzReadGrid(f *testing.F) {
	for _, pattern := range []string{"../../fixtures/sheets/*.csv", "../../fixtures/sheets/*.txt", "../../fixtures/bad/*.csv", "../../fixtures/*.csv"} {
		files, _ := filepath.Glob(pattern)
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add(utf16le("kind\tlocal_name\r\ntest\t\"a\r\nb\"\r\n", true))
	f.Add(utf16le("kind,local_name\n\n\ntest,x\n", false))
	f.Add([]byte("title\n\n\"a\"b,\"c\nd\"\n,,\n\"unclosed\nx;y;z\n"))
	f.Add([]byte("Zo\xEB;M\xFCller\r\n\r\n1;2\r"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := bytes.Count(data, []byte("\n")) + 1
		prev, n := 0, 0
		sum, err := sheet.ReadGridCSV(t.Context(), bytes.NewReader(data), sheet.GridOptions{MaxSize: 1 << 20}, func(r sheet.GridRow) error {
			n++
			if r.Row <= prev || r.Row > lines {
				t.Fatalf("row %d after row %d, in %d lines", r.Row, prev, lines)
			}
			if len(r.Cells) == 0 || r.Sheet != "" {
				t.Fatalf("row %+v", r)
			}
			prev = r.Row
			return nil
		})
		if err == nil && sum.Records != n {
			t.Fatalf("summary says %d rows, %d handed over", sum.Records, n)
		}
	})
}
