package sheet_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

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
	p := makeXLSX(t, 20000, "Bookings")
	_, _, err := rowsOf(t, p, sheet.Options{MaxUnzipSize: 64 << 10})
	if !errors.Is(err, sheet.ErrRefused) || !strings.Contains(err.Error(), "unpacks to more than") {
		t.Errorf("err = %v, want a refusal for the unzip limit", err)
	}
	got, _, err := rowsOf(t, p, sheet.Options{})
	if err != nil || len(got) != 20000 {
		t.Errorf("default limit: %d rows, %v", len(got), err)
	}
}
