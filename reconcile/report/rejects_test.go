package report_test

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flabsync/flabsync/reconcile"
	"github.com/flabsync/flabsync/reconcile/report"
)

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\uFEFF")) {
		t.Errorf("%s: no UTF-8 BOM", filepath.Base(path))
	}
	if !bytes.Contains(b, []byte("\r\n")) {
		t.Errorf("%s: lines do not end in CRLF", filepath.Base(path))
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\uFEFF"))))
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestWriteRejects(t *testing.T) {
	header := []string{"Patient Name", "Age", "Tests"}
	d := &report.Data{At: runAt, Location: ist, Rejects: []reconcile.RejectFile{
		{Partner: "sunrise", File: "sunrise_a.csv", Header: header, Rows: []reconcile.RejectRow{
			{Row: 4, Cells: []string{`=HYPERLINK("http://evil.example","x")`, "", "CBC"}, Reason: "missing_age: age is empty"},
			{Row: 9, Cells: []string{"+91 98765", "-5", "@SUM(A1)", "extra"}, Reason: "bad_age: -5"},
		}},
		{Partner: "sunrise", File: "sunrise_b.csv", Header: header, Rows: []reconcile.RejectRow{
			{Row: 2, Cells: []string{"Asha", "30"}, Reason: "no_tests: no test or package"},
		}},
		{Partner: "sunrise", File: "=other layout.xlsx", Header: []string{"Name", "Test"}, Rows: []reconcile.RejectRow{
			{Row: 3, Cells: []string{"Ravi", "\tLFT"}, Reason: "bad_gender"},
		}},
		{Partner: "metro/west", File: "m.csv", Header: []string{"Name"}, Rows: []reconcile.RejectRow{
			{Row: 5, Cells: []string{"Meera"}, Reason: "=1+1"},
		}},
		{Partner: "empty", File: "e.csv", Header: []string{"Name"}},
	}}
	dir := t.TempDir()
	paths, err := report.WriteRejects(dir, d)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	wantNames := []string{"metro_west_rejects_2026-11-25.csv", "sunrise_rejects_2026-11-25.csv", "sunrise_rejects_2026-11-25_2.csv"}
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Fatalf("files (-want +got):\n%s", diff)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != len(wantNames) {
		t.Errorf("dir holds %d entries, want %d", len(ents), len(wantNames))
	}
	want := map[string][][]string{
		"sunrise_rejects_2026-11-25.csv": {
			{"Patient Name", "Age", "Tests", "", report.RejectReasonColumn, report.RejectFileColumn, report.RejectRowColumn},
			{`'=HYPERLINK("http://evil.example","x")`, "", "CBC", "", "missing_age: age is empty", "sunrise_a.csv", "4"},
			{"'+91 98765", "'-5", "'@SUM(A1)", "extra", "bad_age: -5", "sunrise_a.csv", "9"},
			{"Asha", "30", "", "", "no_tests: no test or package", "sunrise_b.csv", "2"},
		},
		"sunrise_rejects_2026-11-25_2.csv": {
			{"Name", "Test", report.RejectReasonColumn, report.RejectFileColumn, report.RejectRowColumn},
			{"Ravi", "'\tLFT", "bad_gender", "'=other layout.xlsx", "3"},
		},
		"metro_west_rejects_2026-11-25.csv": {
			{"Name", report.RejectReasonColumn, report.RejectFileColumn, report.RejectRowColumn},
			{"Meera", "'=1+1", "m.csv", "5"},
		},
	}
	for _, p := range paths {
		got := readCSV(t, p)
		if diff := cmp.Diff(want[filepath.Base(p)], got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", filepath.Base(p), diff)
		}
		// No cell a spreadsheet would run: every one starting with a
		// formula character carries the apostrophe.
		for _, row := range got {
			for _, c := range row {
				if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
					t.Errorf("%s: cell %q would run as a formula", filepath.Base(p), c)
				}
			}
		}
	}
}

func TestWriteRejectsNone(t *testing.T) {
	dir := t.TempDir()
	paths, err := report.WriteRejects(dir, &report.Data{At: runAt})
	if err != nil || len(paths) != 0 {
		t.Fatalf("paths %v err %v", paths, err)
	}
}

func TestWriteRejectsMissingDir(t *testing.T) {
	_, err := report.WriteRejects(filepath.Join(t.TempDir(), "nope"), sampleData())
	if err == nil || !strings.Contains(err.Error(), "sunrise_rejects_2026-11-25.csv") {
		t.Fatalf("err = %v, want one naming the file", err)
	}
}
