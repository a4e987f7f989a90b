package report_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/flabsync/flabsync/reconcile"
	"github.com/flabsync/flabsync/reconcile/report"
)

// TestReadDecisionsRoundTrip: the workbook flabsync writes, with Action
// and Note filled in (and a column moved, as a person may), reads back as
// the decisions written, each naming its sheet and row; the Summary and
// any extra sheet are ignored.
func TestReadDecisionsRoundTrip(t *testing.T) {
	path, _, info := writeSample(t)
	f := openWorkbook(t, path)
	var sheet string
	for _, s := range info.Sheets {
		if s.Category != "" && s.Rows >= 2 {
			sheet = s.Name
			break
		}
	}
	rows := rowsOf(t, f, sheet)
	id2, id3 := rows[1][0], rows[2][0]
	f.SetCellValue(sheet, col(report.ColumnAction)+"2", "Close")
	f.SetCellValue(sheet, col(report.ColumnNote)+"2", "booked by phone")
	f.SetCellValue(sheet, col(report.ColumnAction)+"3", "snooze 2026-12-24")
	f.SetCellValue(sheet, col(report.ColumnNote)+"3", "clinic closed for the holidays")
	if err := f.InsertCols(sheet, "B", 1); err != nil { // a person's own column
		t.Fatal(err)
	}
	f.SetCellValue(sheet, "B1", "My column")
	f.NewSheet("Scratch")
	f.SetCellValue("Scratch", "A1", "ID")
	edited := filepath.Join(t.TempDir(), "edited.xlsx")
	if err := f.SaveAs(edited); err != nil {
		t.Fatal(err)
	}
	ds, err := report.ReadDecisions(edited, ist)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 {
		t.Fatalf("%d decisions, want 2: %+v", len(ds), ds)
	}
	if d := ds[0]; d.ID != id2 || d.Action != reconcile.ActionClose || d.Note != "booked by phone" || d.Where != `sheet "`+sheet+`" row 2` || d.Fingerprint == "" {
		t.Errorf("first: %+v", d)
	}
	if d := ds[1]; d.ID != id3 || d.Action != reconcile.ActionSnooze || d.Until.Format("2006-01-02") != "2026-12-24" || d.Until.Location() != ist {
		t.Errorf("second: %+v", d)
	}
}

// TestReadDecisionsAllOrNothing: every bad cell is named, and no decision
// comes back.
func TestReadDecisionsAllOrNothing(t *testing.T) {
	path, _, info := writeSample(t)
	f := openWorkbook(t, path)
	sheet := info.Sheets[1].Name
	f.SetCellValue(sheet, col(report.ColumnAction)+"2", "close")
	f.SetCellValue(sheet, col(report.ColumnNote)+"2", "fine")
	f.SetCellValue(sheet, col(report.ColumnAction)+"3", "shut it")
	f.SetCellValue(sheet, "A4", "")
	f.SetCellValue(sheet, col(report.ColumnAction)+"4", "close")
	bad := filepath.Join(t.TempDir(), "bad.xlsx")
	if err := f.SaveAs(bad); err != nil {
		t.Fatal(err)
	}
	ds, err := report.ReadDecisions(bad, ist)
	if err == nil || ds != nil {
		t.Fatalf("decisions %v, err %v", ds, err)
	}
	for _, want := range []string{`sheet "` + sheet + `" row 3: action "shut it"`, `sheet "` + sheet + `" row 4: an action with no exception ID`, "nothing was applied"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	other := filepath.Join(t.TempDir(), "other.xlsx")
	g := excelize.NewFile()
	g.SetCellValue("Sheet1", "A1", "Name")
	g.SaveAs(other)
	if _, err := report.ReadDecisions(other, ist); err == nil || !strings.Contains(err.Error(), "ID and Action") {
		t.Errorf("a workbook that is not ours: %v", err)
	}
	csv := filepath.Join(t.TempDir(), "sheet.xlsx")
	os.WriteFile(csv, []byte("ID,Action\nx,close\n"), 0o600)
	if _, err := report.ReadDecisions(csv, ist); err == nil || !strings.Contains(err.Error(), "not an .xlsx workbook") {
		t.Errorf("a CSV named .xlsx: %v", err)
	}
}

// FuzzReadDecisions: whatever bytes arrive as a workbook, reading them
// returns decisions or an error, never a panic.
func FuzzReadDecisions(f *testing.F) {
	path, _, _ := writeSample(f)
	if b, err := os.ReadFile(path); err == nil {
		f.Add(b)
	}
	f.Add([]byte("PK\x03\x04 not really a zip"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "w.xlsx")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		ds, err := report.ReadDecisions(p, ist)
		if err != nil && ds != nil {
			t.Fatal("decisions with an error")
		}
	})
}
