package report_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/flabsync/flabsync/reconcile/report"
)

// TestSummaryNeverCallsAnUnreadFileBalanced: a file not read to its end
// (its reader killed mid-file: status reading, 0 rows counted) was
// "Rows in 0 … BALANCED". Its check now says it was not read to its end.
func TestSummaryNeverCallsAnUnreadFileBalanced(t *testing.T) {
	d := &report.Data{At: runAt, Location: ist, Files: []report.FileCheck{
		{FileID: 7, Name: "carecity_0612.csv", Partner: "carecity", Status: "reading", ReceivedAt: runAt.Add(-time.Hour), Unread: true},
	}}
	path := filepath.Join(t.TempDir(), "x.xlsx")
	if _, err := report.WriteWorkbook(path, d); err != nil {
		t.Fatal(err)
	}
	f := openWorkbook(t, path)
	found := false
	for _, r := range rowsOf(t, f, report.SummarySheet) {
		if len(r) > 0 && r[0] == "carecity_0612.csv" {
			found = true
			if got := r[len(r)-1]; got != report.Unread {
				t.Errorf("check %q, want %q", got, report.Unread)
			}
		}
	}
	if !found {
		t.Fatal("the file is not in the Summary")
	}
}
