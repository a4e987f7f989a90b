package sheet_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/flabsync/flabsync/internal/redact"
	"github.com/flabsync/flabsync/internal/sheet"
)

// readDamaged reads the sheet body (the rows inside <sheetData>, and
// whatever closes it) as a grid, through the lexer or, with doctype,
// through encoding/xml, and returns the rows handed over and the error.
func readDamaged(t *testing.T, body string, doctype bool, sst string) ([]sheet.GridRow, error) {
	t.Helper()
	x := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n"
	if doctype {
		x += `<!DOCTYPE worksheet>`
	}
	x += `<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>` + body
	p := writeParts(t, text(x), text(sst))
	var got []sheet.GridRow
	_, err := sheet.ReadGrid(t.Context(), p, sheet.GridOptions{}, func(r sheet.GridRow) error {
		got = append(got, r)
		return nil
	})
	return got, err
}

// paths names the two ways a worksheet is read.
var paths = []struct {
	name    string
	doctype bool
}{{"lexer", false}, {"encoding/xml", true}}

// A cell's column only goes forward along its row: a cell at or before
// the cell before it is damage, refused (excelize put its value one
// column over, and a row of cells all at A1 grew without bound), and a
// row holds at most MaxColumns cells.
func TestXLSXCellColumnsGoForward(t *testing.T) {
	tests := []struct {
		name string
		row  string
		msg  string // the refusal says; "" for the columns' LimitError
	}{
		{"cells all at one column", `<row r="2">` + strings.Repeat(`<c r="A2"><f/></c>`, 3) + `</row>`,
			"row 2: not a readable sheet: column A comes after column A"},
		{"a cell going back", `<row r="2"><c r="B2"><v>1</v></c><c r="A2"><v>2</v></c></row>`,
			"row 2: not a readable sheet: column A comes after column B"},
		{"a cell after one without a reference", `<row r="2"><c><v>1</v></c><c><v>1</v></c><c r="B2"><v>2</v></c></row>`,
			"column B comes after column B"},
		{"more cells than columns", `<row r="2">` + strings.Repeat(`<c><f/></c>`, sheet.MaxColumns+1) + `</row>`, ""},
	}
	for _, tt := range tests {
		for _, path := range paths {
			t.Run(tt.name+"/"+path.name, func(t *testing.T) {
				got, err := readDamaged(t, headerRow+tt.row+sheetEnd, path.doctype, sstStart+headerSST+sstEnd)
				var le *sheet.LimitError
				switch {
				case !errors.Is(err, sheet.ErrRefused):
					t.Fatalf("err = %v, want a refusal", err)
				case tt.msg == "" && (!errors.As(err, &le) || le.What != "columns" || le.Row != 2):
					t.Fatalf("err = %v, want a LimitError for the columns of row 2", err)
				case tt.msg != "" && !strings.Contains(err.Error(), tt.msg):
					t.Fatalf("err = %v, want it to say %q", err, tt.msg)
				}
				if len(got) != 1 {
					t.Errorf("%d rows handed over, want the header only", len(got))
				}
			})
		}
	}
	// Columns in order, with and without references, still read.
	for _, path := range paths {
		got, err := readDamaged(t, headerRow+`<row r="2"><c><v>1</v></c><c r="C2"><v>3</v></c><c><v>4</v></c><c r="F2"><v>6</v></c></row>`+sheetEnd,
			path.doctype, sstStart+headerSST+sstEnd)
		if err != nil || len(got) != 2 || strings.Join(got[1].Cells, ",") != "1,,3,4,,6" {
			t.Errorf("%s: %v, %v; want row 2 as 1,,3,4,,6", path.name, got, err)
		}
	}
}

// A bad entity in a cell's text refuses the sheet without the text in
// the message: the message names where the damage is, never what the
// cell holds, whichever way the part is read (the lexer, encoding/xml,
// the shared-strings table, OpenWorkbook's check).
func TestXLSXDamageQuotesNoCell(t *testing.T) {
	const cell = `Smith & Ravi Kumar, DOB 1980-02-01; x`
	const sharedCell = `Smith &RaviKumar; DOB 1980-02-01`
	tests := []struct {
		name      string
		sheet     string
		sst       string
		doctype   bool
		damaged   string // what the message says
		workbook  bool   // OpenWorkbook refuses it too
		wantWhere string
	}{
		{"an inline cell, lexer", inlineRow(2, cell) + sheetEnd, sstStart + headerSST + sstEnd, false, "invalid character entity", true, `sheet "Bookings" after row 2`},
		{"an inline cell, encoding/xml", inlineRow(2, cell) + sheetEnd, sstStart + headerSST + sstEnd, true, "invalid character entity on line 2", true, `sheet "Bookings" after row 2`},
		{"a named entity, lexer", inlineRow(2, sharedCell) + sheetEnd, sstStart + headerSST + sstEnd, false, "invalid character entity", true, `sheet "Bookings" after row 2`},
		{"a shared string", `<row r="2"><c r="A2" t="s"><v>4</v></c></row>` + sheetEnd, sstStart + headerSST + `<si><t>` + sharedCell + `</t></si>` + sstEnd, false,
			"invalid character entity on line 2", true, "part xl/sharedStrings.xml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readDamaged(t, headerRow+tt.sheet, tt.doctype, tt.sst)
			check := func(door string, err error) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s: no error, want a refusal", door)
				}
				msg := err.Error()
				for _, s := range []string{"Ravi", "1980", "Smith"} {
					if strings.Contains(msg, s) {
						t.Errorf("%s: the message holds the cell's %q: %s", door, s, msg)
					}
				}
				// Shown, it still says what is damaged (no quote hides it).
				if shown := redact.ShowErr(err).String(); !strings.Contains(shown, tt.damaged) {
					t.Errorf("%s: shown, the message no longer says %q: %s", door, tt.damaged, shown)
				}
			}
			check("ReadGrid", err)
			if !errors.Is(err, sheet.ErrRefused) || !strings.Contains(err.Error(), tt.damaged) || !strings.Contains(err.Error(), tt.wantWhere) {
				t.Errorf("ReadGrid: %v; want a refusal saying %q at %s", err, tt.damaged, tt.wantWhere)
			}
			for _, r := range got {
				if r.Row > 1 {
					t.Errorf("row %d handed over", r.Row)
				}
			}
			if tt.workbook {
				x := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" + `<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>` + headerRow + tt.sheet
				_, err := sheet.OpenWorkbook(writeParts(t, text(x), text(tt.sst)), 0)
				check("OpenWorkbook", err)
			}
		})
	}
}

// Every end tag closes the element it names: a sheet whose tags do not
// match (a row never closed, a cell closed inside its text) is refused
// as damaged, never read as far as it happens to close, through the
// lexer and through encoding/xml alike.
func TestXLSXEndTagsMatch(t *testing.T) {
	bad := []string{
		// The row is never closed: stray end tags bring the depth back to 0.
		`<row r="2"><c r="A2" t="inlineStr"><is><t>lost</t></is></c></a></b></c>`,
		`<row r="2"><c r="A2" t="inlineStr"><is><t>lost</t></c></is></row>` + sheetEnd,
		`<row r="2"><c r="A2" t="inlineStr"><is><t>lost</t></is></c>` + sheetEnd,
		`<row r="2"><c r="A2" t="inlineStr"><is><t>lost</t></is></x:c></row>` + sheetEnd,
	}
	for i, body := range bad {
		for _, path := range paths {
			got, err := readDamaged(t, headerRow+body, path.doctype, sstStart+headerSST+sstEnd)
			if !errors.Is(err, sheet.ErrRefused) || !strings.Contains(err.Error(), "the XML is damaged") {
				t.Errorf("bad %d, %s: %v; want a refusal of damaged XML", i, path.name, err)
			}
			if len(got) != 1 {
				t.Errorf("bad %d, %s: %d rows handed over, want the header only", i, path.name, len(got))
			}
		}
	}
	// Prefixed names match as written.
	for _, path := range paths {
		got, err := readDamaged(t, headerRow+`<x:row xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" r="2"><x:c r="A2"><x:v>1</x:v></x:c></x:row>`+sheetEnd,
			path.doctype, sstStart+headerSST+sstEnd)
		if err != nil || len(got) != 2 {
			t.Errorf("prefixed, %s: %d rows, %v; want both", path.name, len(got), err)
		}
	}
}

// A shared-string cell whose index is not a number is refused: it never
// reads as the table's first text (another patient's, maybe).
func TestXLSXSharedStringIndexNotNumber(t *testing.T) {
	for _, v := range []string{"x", "1.0", "-1", "99"} {
		for _, path := range paths {
			got, err := readDamaged(t, headerRow+`<row r="2"><c r="A2" t="s"><v>`+v+`</v></c></row>`+sheetEnd, path.doctype, sstStart+headerSST+sstEnd)
			if !errors.Is(err, sheet.ErrRefused) || !strings.Contains(err.Error(), "row 2") {
				t.Errorf("<v>%s</v>, %s: %v; want a refusal at row 2", v, path.name, err)
			}
			if len(got) != 1 {
				t.Errorf("<v>%s</v>, %s: rows %v handed over, want the header only", v, path.name, got)
			}
		}
	}
}
