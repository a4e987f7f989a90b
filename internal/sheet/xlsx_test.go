package sheet_test

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"github.com/flabsync/flabsync/internal/sheet"
)

func makeXLSX(t testing.TB, rows int, sheets ...string) string {
	t.Helper()
	f := excelize.NewFile()
	for i, s := range sheets {
		if i == 0 {
			f.SetSheetName("Sheet1", s)
		} else if _, err := f.NewSheet(s); err != nil {
			t.Fatal(err)
		}
		f.SetSheetRow(s, "A1", &[]any{"Patient Name", "Age", "Sex", "Tests", "Barcode"})
		for r := 0; r < rows; r++ {
			f.SetSheetRow(s, fmt.Sprintf("A%d", r+2), &[]any{s + " Patient", 30 + r%50, "F", "CBC, ESR", fmt.Sprintf("%08d", r)})
		}
	}
	p := filepath.Join(t.TempDir(), "p.xlsx")
	if err := f.SaveAs(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestXLSXNamedSheet(t *testing.T) {
	p := makeXLSX(t, 2, "First", "Second")
	got, sum, err := rowsOf(t, p, sheet.Options{Sheet: "Second"})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sheet != "Second" || len(got) != 2 || got[0].Name != "Second Patient" || got[0].Extra != "00000000" {
		t.Errorf("sheet %q rows %+v", sum.Sheet, got)
	}
	_, _, err = rowsOf(t, p, sheet.Options{Sheet: "Third"})
	if !errors.Is(err, sheet.ErrNoHeader) || !strings.Contains(err.Error(), `no sheet "Third"`) || !strings.Contains(err.Error(), `"Second"`) {
		t.Errorf("unknown sheet: %v", err)
	}
}

// A workbook that unpacks beyond the limit is refused before it is read
// into memory (zip bomb guard).
func TestXLSXUnzipLimit(t *testing.T) {
	p := makeXLSX(t, 4000, "Bookings")
	_, _, err := rowsOf(t, p, sheet.Options{MaxUnzipSize: 64 << 10})
	if !errors.Is(err, sheet.ErrRefused) || !strings.Contains(err.Error(), "unpacks to more than") {
		t.Errorf("err = %v, want a refusal for the unzip limit", err)
	}
	got, _, err := rowsOf(t, p, sheet.Options{})
	if err != nil || len(got) != 4000 {
		t.Errorf("default limit: %d rows, %v", len(got), err)
	}
}

// A workbook is refused for what its zip declares before anything is
// unpacked: the error's Size is the size declared, and the test takes no
// time however large the part claims to be.
func TestXLSXRefusedBeforeUnpacking(t *testing.T) {
	const big = 72 << 20 // over the 64 MB any workbook may unpack to; ~70 KB deflated
	tests := []struct {
		name      string
		sheet     func(io.Writer)
		sst       func(io.Writer)
		more      []xlsxPart
		what      string
		part      string
		limit     int64
		declared  int64
		wantInMsg string
	}{
		{"one giant shared string",
			text(sheetStart + headerRow + `<row r="2"><c r="A2" t="s"><v>4</v></c></row>` + sheetEnd),
			func(w io.Writer) {
				io.WriteString(w, sstStart+headerSST+`<si><t>`)
				repeat(w, 'A', big)
				io.WriteString(w, `</t></si>`+sstEnd)
			},
			nil, "shared strings", "xl/sharedStrings.xml", sheet.MinUnzipBudget, int64(len(sstStart+headerSST+`<si><t></t></si>`+sstEnd)) + big, "the shared strings part unpacks to more than 64 MB"},
		{"a sheet of whitespace",
			func(w io.Writer) {
				io.WriteString(w, sheetStart+headerRow)
				repeat(w, ' ', big)
				io.WriteString(w, inlineRow(2, "Asha", "30", "F", "CBC")+sheetEnd)
			},
			text(sstStart + headerSST + sstEnd),
			nil, "worksheet", "xl/worksheets/sheet1.xml", sheet.MinUnzipBudget, 0, "the worksheet part unpacks to more than 64 MB"},
		{"a large part held in memory",
			text(sheetStart + headerRow + sheetEnd), text(sstStart + headerSST + sstEnd),
			[]xlsxPart{{name: "xl/styles.xml", body: func(w io.Writer) { repeat(w, ' ', 17<<20) }}},
			"part", "xl/styles.xml", 16 << 20, 17 << 20, "the part part unpacks to more than 16 MB"},
		{"a shared-strings table over its bound",
			text(sheetStart + headerRow + sheetEnd),
			func(w io.Writer) {
				io.WriteString(w, sstStart+headerSST)
				repeat(w, ' ', 40<<20)
				io.WriteString(w, sstEnd)
			},
			// 40 MB of blanks deflate to ~40 KB: within the 64 MB any
			// workbook may unpack to, over the table's own bound.
			nil, "shared strings", "xl/sharedStrings.xml", sheet.MaxSharedStrings, 0, "holds more text than a booking sheet can"},
	}
	var many []xlsxPart
	for i := range 10000 {
		many = append(many, xlsxPart{name: "customXml/item" + itoa(i) + ".xml", body: text("<a/>"), store: true})
	}
	tests = append(tests, struct {
		name      string
		sheet     func(io.Writer)
		sst       func(io.Writer)
		more      []xlsxPart
		what      string
		part      string
		limit     int64
		declared  int64
		wantInMsg string
	}{"ten thousand parts", text(sheetStart + headerRow + sheetEnd), text(sstStart + headerSST + sstEnd), many, "part count", "", 10000, 10006, "the workbook's zip holds more parts than 10000"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeParts(t, tt.sheet, tt.sst, tt.more...)
			calls := 0
			_, err := sheet.Read(t.Context(), p, sheet.Options{}, func(*sheet.Record) error { calls++; return nil })
			var le *sheet.LimitError
			if !errors.As(err, &le) || !errors.Is(err, sheet.ErrRefused) {
				t.Fatalf("err = %v, want a *LimitError (ErrRefused)", err)
			}
			if le.What != tt.what || le.Part != tt.part || le.Limit != tt.limit {
				t.Errorf("LimitError %+v, want %s of %s over %d", le, tt.what, tt.part, tt.limit)
			}
			if tt.declared > 0 && le.Size != tt.declared {
				t.Errorf("Size = %d, want the declared %d", le.Size, tt.declared)
			}
			if !strings.Contains(err.Error(), tt.wantInMsg) || !strings.Contains(err.Error(), "p_bookings.xlsx") {
				t.Errorf("err = %q, want it to name the file and say %q", err, tt.wantInMsg)
			}
			if calls != 0 {
				t.Errorf("%d rows handed over", calls)
			}
			// ReadGrid opens workbooks the same way.
			if _, err := sheet.ReadGrid(t.Context(), p, sheet.GridOptions{}, func(sheet.GridRow) error { return nil }); !errors.As(err, &le) {
				t.Errorf("ReadGrid: %v, want a *LimitError", err)
			}
		})
	}
}

// What the zip's sizes allow is streamed through bounds as it is read: a
// token, a shared string, a cell, a row, damaged XML. The shared-strings
// table is read before any row; a worksheet is checked in the same pass
// that reads it, so, as in a CSV, the rows before the one that breaks are
// handed over (the file is then refused: the caller flags it), never a
// row at or after it.
func TestXLSXRefusedWhileChecking(t *testing.T) {
	long := strings.Repeat("x", sheet.MaxCell+1)
	tests := []struct {
		name   string
		sheet  func(io.Writer)
		sst    func(io.Writer)
		what   string // the LimitError's What; "" for another refusal
		row    int
		column string
		msg    string
		before int // rows handed over before the refusal
	}{
		{"one run of 60 MB of blanks",
			func(w io.Writer) {
				io.WriteString(w, sheetStart+headerRow)
				repeat(w, ' ', 60<<20)
				io.WriteString(w, inlineRow(2, "Asha", "30", "F", "CBC")+sheetEnd)
			},
			text(sstStart + headerSST + sstEnd), "xml token", 0, "", `sheet "Bookings": a text or tag in the XML is over 256 KB`, 0},
		{"a shared string longer than Excel writes, in small runs",
			text(sheetStart + headerRow + sheetEnd),
			func(w io.Writer) {
				io.WriteString(w, sstStart+headerSST+`<si>`)
				for range 20 {
					io.WriteString(w, `<r><t>`+strings.Repeat("y", 10000)+`</t></r>`)
				}
				io.WriteString(w, `</si>`+sstEnd)
			},
			"shared string", 0, "", "longer than Excel allows a cell", 0},
		{"an inline cell over the cap",
			text(sheetStart + headerRow + inlineRow(2, "Asha", "30", "F", "CBC") + inlineRow(3, "Ravi", "40", "M", long) + sheetEnd),
			text(sstStart + headerSST + sstEnd), "cell", 3, "D", `sheet "Bookings" row 3 column D: a cell is over 32 KB`, 1},
		{"a shared cell over the cap",
			text(sheetStart + headerRow + `<row r="2"><c r="B2"><v>3</v></c><c r="C2" t="s"><v>4</v></c></row>` + sheetEnd),
			text(sstStart + headerSST + `<si><t>` + long + `</t></si>` + sstEnd), "cell", 2, "C", "row 2 column C: a cell is over 32 KB", 0},
		{"a row of many references to one long text",
			func(w io.Writer) {
				io.WriteString(w, sheetStart+headerRow+`<row r="2">`)
				for range 100 {
					io.WriteString(w, `<c t="s"><v>4</v></c>`)
				}
				io.WriteString(w, `</row>`+sheetEnd)
			},
			text(sstStart + headerSST + `<si><t>` + strings.Repeat("z", 30000) + `</t></si>` + sstEnd), "row", 2, "", "row 2: the row is over 1 MB", 0},
		{"a sheet cut short",
			text(sheetStart + headerRow + inlineRow(2, "Asha", "30", "F", "CBC") + `<row r="3"><c r="A3" t="inlineStr"><is><t>Ra`),
			text(sstStart + headerSST + sstEnd), "", 0, "", `sheet "Bookings" after row 3: not a readable sheet: the XML is damaged`, 1},
		{"a NUL byte in the sheet's XML",
			text(sheetStart + headerRow + inlineRow(2, "Asha", "30", "F", "CBC") + inlineRow(3, "Ra\x00vi", "40", "M", "ESR") + inlineRow(4, "Meera", "50", "F", "TSH") + sheetEnd),
			text(sstStart + headerSST + sstEnd), "", 0, "", "the XML is damaged", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeParts(t, tt.sheet, tt.sst)
			calls := 0
			_, err := sheet.Read(t.Context(), p, sheet.Options{}, func(*sheet.Record) error { calls++; return nil })
			if !errors.Is(err, sheet.ErrRefused) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want ErrRefused saying %q", err, tt.msg)
			}
			var le *sheet.LimitError
			if tt.what != "" {
				if !errors.As(err, &le) || le.What != tt.what || le.Row != tt.row || le.Column != tt.column {
					t.Fatalf("err = %#v, want a *LimitError for a %s at row %d column %q", le, tt.what, tt.row, tt.column)
				}
			}
			if calls != tt.before {
				t.Errorf("%d rows handed over before the refusal, want %d", calls, tt.before)
			}
			for _, patient := range []string{"Asha", "Ravi", "xxxx", "yyyy", "zzzz"} {
				if strings.Contains(err.Error(), patient) {
					t.Errorf("err quotes a cell (%s): %v", patient, err)
				}
			}
		})
	}
}

// FuzzXLSXSheet: whatever a worksheet's XML holds, reading never panics,
// and what is handed over is bounded text: no cell over MaxCell, no
// control character, nothing that is not UTF-8.
func FuzzXLSXSheet(f *testing.F) {
	files, _ := filepath.Glob("../../fixtures/sheets/*.xlsx")
	for _, p := range files {
		z, err := zip.OpenReader(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range z.File {
			if strings.HasPrefix(e.Name, "xl/worksheets/sheet") {
				rc, _ := e.Open()
				b, _ := io.ReadAll(rc)
				rc.Close()
				f.Add(b)
			}
		}
		z.Close()
	}
	f.Add([]byte(sheetStart + headerRow + inlineRow(2, "Asha", "30", "F", "CBC") + `<row r="3"><c r="A3" t="s"><v>4</v></c><c t="s"><v>4</v></c></row>` + sheetEnd))
	f.Add([]byte(sheetStart + headerRow + `<row><c t="s"><v>5</v></c><c t="inlineStr"><is><r><t>a_x0000_</t></r><r><t>b</t></r></is></c></row>` + sheetEnd))
	f.Add([]byte(sheetStart + headerRow + `<!-- x --><row r="2"><c r="XFD2" t="str"><v><![CDATA[a]]></v></c></row>` + sheetEnd))
	sst := text(sstStart + headerSST + `<si><t>` + strings.Repeat("n", 9000) + `</t></si><si><t>M_x0001_</t></si>` + sstEnd)
	f.Fuzz(func(t *testing.T, xml []byte) {
		p := writeZip(t, zip.Store, text(string(xml)), sst)
		_, err := sheet.Read(t.Context(), p, sheet.Options{KeepRaw: true}, func(r *sheet.Record) error {
			for _, c := range append(r.Raw, r.Get(sheet.Name), r.Get(sheet.Tests)) {
				if len(c) > sheet.MaxCell || !utf8.ValidString(c) || strings.ContainsFunc(c, func(r rune) bool { return r < 0x20 && r != '\t' && r != '\n' && r != '\r' }) {
					t.Fatalf("row %d: cell of %d bytes %q", r.Row, len(c), sheet.Excerpt(c, 40))
				}
			}
			return nil
		})
		_ = err
	})
}

// A part that unpacks to more than its zip declares is refused: the
// declared sizes the checks trust hold.
func TestXLSXPartLargerThanDeclared(t *testing.T) {
	body := sheetStart + headerRow + inlineRow(2, "Asha", "30", "F", "CBC") + strings.Repeat(" ", 100<<10) + sheetEnd
	p := writeParts(t, text(sheetStart+headerRow+sheetEnd), text(sstStart+headerSST+sstEnd))
	// Rewrite the sheet part raw, declaring 1 KB.
	z, err := zip.OpenReader(p)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, e := range z.File {
		if e.Name != "xl/worksheets/sheet1.xml" {
			if err := zw.Copy(e); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var c bytes.Buffer
		fw, _ := flate.NewWriter(&c, flate.BestCompression)
		fw.Write([]byte(body))
		fw.Close()
		w, err := zw.CreateRaw(&zip.FileHeader{Name: e.Name, Method: zip.Deflate, CRC32: crc32.ChecksumIEEE([]byte(body)),
			CompressedSize64: uint64(c.Len()), UncompressedSize64: 1 << 10})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(c.Bytes())
	}
	zw.Close()
	z.Close()
	p = writeFile(t, "p.xlsx", out.Bytes())
	calls := 0
	_, err = sheet.Read(t.Context(), p, sheet.Options{}, func(*sheet.Record) error { calls++; return nil })
	if !errors.Is(err, sheet.ErrRefused) || !strings.Contains(err.Error(), "damaged") || calls != 0 {
		t.Errorf("err = %v after %d rows, want a refusal for a damaged workbook", err, calls)
	}
}
