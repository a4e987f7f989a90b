package sheet_test

import (
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/xuri/excelize/v2"

	"github.com/flabsync/flabsync/internal/sheet"
)

// excelizeGrid reads every visible sheet of the workbook at path as
// excelize's own Rows and Columns give it (with the reader's options and
// cells made text as ReadGrid makes them): what ReadGrid gave before it
// streamed workbooks itself.
func excelizeGrid(t *testing.T, path string) []sheet.GridRow {
	t.Helper()
	f, err := excelize.OpenFile(path, excelize.Options{ShortDatePattern: "yyyy-mm-dd", LongDatePattern: "yyyy-mm-dd"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []sheet.GridRow
	for _, name := range f.GetSheetList() {
		if v, _ := f.GetSheetVisible(name); !v {
			continue
		}
		rows, err := f.Rows(name)
		if err != nil {
			t.Fatal(err)
		}
		for num := 1; rows.Next(); num++ {
			cells, err := rows.Columns()
			if err != nil {
				t.Fatal(err)
			}
			if len(cells) == 0 {
				continue
			}
			for i, c := range cells {
				cells[i], _ = sheet.CleanCell(c)
			}
			out = append(out, sheet.GridRow{Sheet: name, Row: num, Cells: cells})
		}
		rows.Close()
	}
	return out
}

// The workbook reader gives every cell as excelize's Rows gave it: text,
// rich text and escapes, numbers in General and in every kind of number
// format (dates, times, zero-padded, decimals, percentages, thousands),
// the 1904 date system, booleans, formulas' cached values, rows and cells
// left out, hidden sheets passed over.
func TestXLSXReadsAsExcelize(t *testing.T) {
	for _, date1904 := range []bool{false, true} {
		f := excelize.NewFile()
		if date1904 {
			if err := f.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: &date1904}); err != nil {
				t.Fatal(err)
			}
		}
		f.SetSheetName("Sheet1", "Bookings")
		formats := []int{0, 1, 2, 3, 4, 9, 10, 14, 15, 16, 17, 18, 19, 20, 21, 22, 45, 46, 47, 49}
		custom := []string{"000000", "dd/mm/yyyy", "yyyy-mm-dd hh:mm", "0.000", "#,##0.00 \"Rs\"", "@", "[$-409]d-mmm-yy;@", "0%", "General"}
		var styles []int
		for _, n := range formats {
			s, err := f.NewStyle(&excelize.Style{NumFmt: n})
			if err != nil {
				t.Fatal(err)
			}
			styles = append(styles, s)
		}
		for _, c := range custom {
			s, err := f.NewStyle(&excelize.Style{CustomNumFmt: &c})
			if err != nil {
				t.Fatal(err)
			}
			styles = append(styles, s)
		}
		bold, _ := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
		styles = append(styles, bold)
		values := []any{0, 7, 30, -12, 3.5, 0.125, 45987, 45987.75, 123456, 919812345678, 12345678901234567, 1.0000000001, 32.000000001, "0012", "Asha Rao", true, false, time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC)}
		row := 1
		f.SetSheetRow("Bookings", "A1", &[]any{"Value", "Styled"})
		for _, v := range values {
			for _, s := range styles {
				row++
				cell, _ := excelize.CoordinatesToCellName(1, row)
				styled, _ := excelize.CoordinatesToCellName(2, row)
				f.SetCellValue("Bookings", cell, v)
				f.SetCellValue("Bookings", styled, v)
				f.SetCellStyle("Bookings", styled, styled, s)
			}
		}
		row += 3 // rows left out
		f.SetCellFormula("Bookings", "C"+itoa(row), "=1+1")
		f.SetCellValue("Bookings", "E"+itoa(row), "gap before")
		f.SetCellRichText("Bookings", "A"+itoa(row+1), []excelize.RichTextRun{{Text: "Rich "}, {Text: "text", Font: &excelize.Font{Bold: true}}})
		f.SetCellStr("Bookings", "B"+itoa(row+1), "line\r\nbreak _x000D_ and _x005F_x0041_")
		f.NewSheet("Hidden")
		f.SetCellValue("Hidden", "A1", "not read")
		f.SetSheetVisible("Hidden", false)
		f.NewSheet("Second")
		f.SetSheetRow("Second", "B2", &[]any{1, "two", 3.25})
		p := filepath.Join(t.TempDir(), "same.xlsx")
		if err := f.SaveAs(p); err != nil {
			t.Fatal(err)
		}
		f.Close()

		var got []sheet.GridRow
		if _, err := sheet.ReadGrid(t.Context(), p, sheet.GridOptions{AllSheets: true}, func(r sheet.GridRow) error {
			got = append(got, r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(excelizeGrid(t, p), got); diff != "" {
			t.Errorf("date1904=%v: ReadGrid differs from excelize (-excelize +ReadGrid):\n%s", date1904, diff)
		}
	}
}

// The fixtures read as excelize reads them.
func TestXLSXFixturesReadAsExcelize(t *testing.T) {
	files, _ := filepath.Glob("../../fixtures/sheets/*.xlsx")
	more, _ := filepath.Glob("testdata/*/*.xlsx")
	files = slices.Concat(files, more)
	if len(files) == 0 {
		t.Skip("no fixtures")
	}
	for _, p := range files {
		var got []sheet.GridRow
		if _, err := sheet.ReadGrid(t.Context(), p, sheet.GridOptions{AllSheets: true}, func(r sheet.GridRow) error {
			got = append(got, r)
			return nil
		}); err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if diff := cmp.Diff(excelizeGrid(t, p), got); diff != "" {
			t.Errorf("%s: ReadGrid differs from excelize (-excelize +ReadGrid):\n%s", p, diff)
		}
	}
}

// Sheets as other programs write them read as excelize reads them too:
// rows and cells without references, cells with and without them in one
// row (a cell out of order is refused: TestXLSXCellColumnsGoForward),
// inline strings with and without <is>, rich and phonetic runs, escapes, error, explicit-number and ISO-date cells,
// empty shared-string cells, formulas without a value, blanks in <v>,
// prefixed element names.
func TestXLSXHandWrittenReadsAsExcelize(t *testing.T) {
	sheetXML := sheetStart + headerRow +
		`<row><c t="inlineStr"><is><t>no ref</t></is></c><c><v>5</v></c><c t="inlineStr"><v>from v</v></c></row>` +
		`<row r="4"><c r="A4"><v>1.5</v></c><c r="C4" t="s"><v>4</v></c><c t="e"><v>#N/A</v></c></row>` +
		`<row r="5"><c r="B5" t="n"><v>0012</v></c><c r="D5" t="d"><v>2026-11-24T09:30:00Z</v></c></row>` +
		`<row r="6"><c r="A6" t="s"><v></v></c><c r="B6"><f>1+1</f></c><c r="C6" t="s"><v> 5 </v></c><c r="D6" t="b"><v>1</v></c></row>` +
		`<row r="7"><c r="A7" t="inlineStr"><is><r><t>Ri</t></r><r><rPr><b/></rPr><t xml:space="preserve">ch </t></r><rPh><t>ph</t></rPh></is></c><c r="B7" t="str"><v>a_x000D_b</v></c></row>` +
		`<x:row xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" r="8"><x:c r="A8" t="inlineStr"><x:is><x:t>prefixed</x:t></x:is></x:c></x:row>` +
		sheetEnd
	sst := sstStart + headerSST + `<si><t>shared</t><rPh><t>ruby</t></rPh></si><si><r><t>a_x000D_</t></r><r><t>_x005F_x0041_b</t></r></si>` + sstEnd
	p := writeParts(t, text(sheetXML), text(sst))
	var got []sheet.GridRow
	if _, err := sheet.ReadGrid(t.Context(), p, sheet.GridOptions{AllSheets: true}, func(r sheet.GridRow) error {
		got = append(got, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(excelizeGrid(t, p), got); diff != "" {
		t.Errorf("ReadGrid differs from excelize (-excelize +ReadGrid):\n%s", diff)
	}
}

// A row numbered at or before the row above it is damage: the sheet is
// refused (excelize folded its cells into the row above).
func TestXLSXRowsOutOfOrder(t *testing.T) {
	for _, r := range []string{"2", "3"} {
		p := writeParts(t, text(sheetStart+headerRow+inlineRow(3, "Asha", "30", "F", "CBC")+`<row r="`+r+`"><c r="A`+r+`" t="inlineStr"><is><t>Ravi</t></is></c></row>`+sheetEnd), text(sstStart+headerSST+sstEnd))
		_, err := sheet.ReadGrid(t.Context(), p, sheet.GridOptions{}, func(sheet.GridRow) error { return nil })
		if !errors.Is(err, sheet.ErrRefused) || !strings.Contains(err.Error(), "row "+r+" comes after row 3") {
			t.Errorf("row %s after row 3: %v, want a refusal", r, err)
		}
	}
}

// A picture is never read by the sheet reader: a workbook with one too
// large to open with excelize is read (its size still counts toward what
// the workbook may unpack to), and refused only where excelize would
// hold it, opening a workbook of ops' decisions.
func TestXLSXLargePictureIsNotRead(t *testing.T) {
	p := writeParts(t, text(sheetStart+headerRow+inlineRow(2, "Asha", "30", "F", "CBC")+sheetEnd), text(sstStart+headerSST+sstEnd),
		xlsxPart{name: "xl/media/image1.png", body: func(w io.Writer) { repeat(w, 0, 20<<20) }})
	got, _, err := rowsOf(t, p, sheet.Options{})
	if err != nil || len(got) != 1 {
		t.Errorf("Read: %d rows, %v; want the one row", len(got), err)
	}
	var le *sheet.LimitError
	if _, err := sheet.OpenWorkbook(p, 0); !errors.As(err, &le) || le.Part != "xl/media/image1.png" {
		t.Errorf("OpenWorkbook: %v, want the picture refused", err)
	}
}

// A styles part with more elements than any workbook has is refused
// before any row is handed over, whether or not a cell uses a style.
func TestXLSXStylesRefusedFirst(t *testing.T) {
	p := writeParts(t, text(sheetStart+headerRow+inlineRow(2, "Asha", "30", "F", "CBC")+sheetEnd), text(sstStart+headerSST+sstEnd),
		xlsxPart{name: "xl/styles.xml", body: func(w io.Writer) {
			io.WriteString(w, `<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><cellXfs>`)
			for range 300_000 {
				io.WriteString(w, `<xf/>`)
			}
			io.WriteString(w, `</cellXfs></styleSheet>`)
		}})
	calls := 0
	_, err := sheet.Read(t.Context(), p, sheet.Options{}, func(*sheet.Record) error { calls++; return nil })
	var le *sheet.LimitError
	if !errors.As(err, &le) || le.What != "styles" || calls != 0 {
		t.Errorf("err = %v after %d rows, want the styles refused first", err, calls)
	}
}

// The worksheet lexer reads what encoding/xml reads: the same sheets, one
// read by the lexer and one given back to encoding/xml (a DOCTYPE sends
// it there), give the same rows, and both refuse the same damage.
func TestXLSXLexerReadsAsEncodingXML(t *testing.T) {
	const decl = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n"
	const open = `<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`
	good := []string{
		headerRow + inlineRow(2, "A &amp; B &lt;x&gt; &quot;q&quot; &apos;s&apos; &#233;&#xE9;", "30", "F", "CBC"),
		headerRow + `<row r="2"><c r="A2" t="inlineStr"><is><t><![CDATA[a <b> & c]]></t></is></c><!-- a comment --><c r="B2"><v>4<!-- x -->2</v></c></row>`,
		headerRow + "<row r=\"2\">\r\n<c r=\"A2\" t=\"inlineStr\"><is><t xml:space=\"preserve\">line\r\nbreak\rCR &#13; kept</t></is></c></row>",
		headerRow + `<row r='2' spans='1:4'><c r='A2' s='0' t='inlineStr' ><is><t>single quotes</t></is></c ><c	r="B2"	t="str"><v>tabs</v></c></row >`,
		headerRow + `<?pi inside?><row r="2"><x:c xmlns:x="urn:x" r="C2" t="inlineStr"><x:is><x:t>prefixed</x:t></x:is></x:c><c r="D2" t="s"><v>3</v></c></row>`,
		headerRow + `<row r="2"><c r="A2" t="inlineStr"><is><t>` + strings.Repeat("é", 30000/2) + `</t></is></c></row>`,
		headerRow + strings.Repeat(`<row><c t="inlineStr"><is><t>`+strings.Repeat("a&amp;\r\n&#xE9;", 1500)+`</t></is></c><c><v>1</v></c></row>`, 40), // entities and line ends across the lexer's buffer
	}
	bad := []string{
		headerRow + `<row r="2"><c r="A2" t="inlineStr"><is><t>a &nbsp; b</t></is></c></row>`,
		headerRow + `<row r="2"><c r="A2" t="inlineStr"><is><t>a &#0; b</t></is></c></row>`,
		headerRow + "<row r=\"2\"><c r=\"A2\" t=\"inlineStr\"><is><t>a \x01 b</t></is></c></row>",
		headerRow + `<row r="2"><c r="A2" t=inlineStr><is><t>x</t></is></c></row>`,
		headerRow + `<row r="2"><c r="A2" t="inlineStr"><is><t>x</t></is></c></row`,
		headerRow + `<row r="2"><c r="A2" t="inlineStr"><is><t>x</t></is></c></row><!-- never closed`,
		headerRow + `<row r="2"><c r="A2" t="inlineStr"><is><t><![CDATA[never closed</t></is></c></row>`,
	}
	read := func(body string, doctype bool) ([]sheet.GridRow, error) {
		x := decl
		if doctype {
			x += `<!DOCTYPE worksheet>`
		}
		p := writeParts(t, text(x+open+body+sheetEnd), text(sstStart+headerSST+sstEnd))
		var got []sheet.GridRow
		_, err := sheet.ReadGrid(t.Context(), p, sheet.GridOptions{}, func(r sheet.GridRow) error {
			got = append(got, r)
			return nil
		})
		return got, err
	}
	for i, body := range good {
		lexed, err := read(body, false)
		if err != nil {
			t.Errorf("good %d: %v", i, err)
			continue
		}
		viaXML, err := read(body, true)
		if err != nil {
			t.Errorf("good %d through encoding/xml: %v", i, err)
			continue
		}
		if diff := cmp.Diff(viaXML, lexed); diff != "" {
			t.Errorf("good %d: the lexer differs from encoding/xml (-encoding/xml +lexer):\n%s", i, diff)
		}
	}
	for i, body := range bad {
		_, lexErr := read(body, false)
		_, xmlErr := read(body, true)
		if !errors.Is(lexErr, sheet.ErrRefused) || !errors.Is(xmlErr, sheet.ErrRefused) {
			t.Errorf("bad %d: lexer %v; encoding/xml %v; want both refused", i, lexErr, xmlErr)
		}
	}
}
