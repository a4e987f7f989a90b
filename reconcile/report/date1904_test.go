package report_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/flabsync/flabsync/reconcile"
	"github.com/flabsync/flabsync/reconcile/report"
)

// TestReadDecisions1904Workbook: a workbook saved in the 1904 date
// system (Excel for Mac's old default) holds a Snooze until date cell
// as days since 1904-01-01; it reads as the day the person picked, not
// one four years and a day later.
func TestReadDecisions1904Workbook(t *testing.T) {
	path, _, info := writeSample(t)
	f := openWorkbook(t, path)
	var sheet string
	for _, s := range info.Sheets {
		if s.Category != "" && s.Rows >= 1 {
			sheet = s.Name
			break
		}
	}
	yes := true
	if err := f.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: &yes}); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC)
	serial := int(day.Sub(time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)).Hours() / 24)
	f.SetCellValue(sheet, col(report.ColumnAction)+"2", "snooze")
	f.SetCellValue(sheet, col(report.ColumnSnoozeUntil)+"2", serial)
	edited := filepath.Join(t.TempDir(), "mac.xlsx")
	if err := f.SaveAs(edited); err != nil {
		t.Fatal(err)
	}
	ds, err := report.ReadDecisions(edited, ist)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Action != reconcile.ActionSnooze || ds[0].Until.Format(time.DateOnly) != "2026-12-24" {
		t.Errorf("decisions %+v, want one snooze until 2026-12-24 (serial %d in the 1904 system)", ds, serial)
	}
}
