package sheet_test

import (
	"path/filepath"
	"slices"
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
