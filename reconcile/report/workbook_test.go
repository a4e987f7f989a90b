package report_test

import (
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/xuri/excelize/v2"

	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/reconcile"
	"github.com/flabsync/flabsync/reconcile/report"
)

func TestWriteWorkbook(t *testing.T) {
	path, d, info := writeSample(t)
	es := sampleExceptions()
	f := openWorkbook(t, path)

	t.Run("Sheets", func(t *testing.T) {
		want := []string{report.SummarySheet}
		perCat := map[string]int{}
		for _, e := range es {
			if !slices.Contains(want, report.Title(e.Category)) {
				want = append(want, report.Title(e.Category))
			}
			perCat[report.Title(e.Category)]++
		}
		want = append(want, report.UnmappedSheet)
		if diff := cmp.Diff(want, f.GetSheetList()); diff != "" {
			t.Fatalf("sheets (-want +got):\n%s", diff)
		}
		if len(want) != len(reconcile.Categories)+2 {
			t.Fatalf("%d sheets, want one per category + Summary + Unmapped", len(want))
		}
		var got []string
		for _, s := range info.Sheets {
			got = append(got, s.Name)
			if len(s.Name) > 31 {
				t.Errorf("sheet name %q longer than 31", s.Name)
			}
			if s.Category != "" && s.Rows != perCat[s.Name] {
				t.Errorf("info: sheet %q has %d rows, want %d", s.Name, s.Rows, perCat[s.Name])
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("info.Sheets (-want +got):\n%s", diff)
		}
		if f.GetActiveSheetIndex() != 0 {
			t.Errorf("active sheet %d, want Summary", f.GetActiveSheetIndex())
		}
		if info.Exceptions != len(es) || info.Path != path {
			t.Errorf("info: %d exceptions at %q, want %d at %q", info.Exceptions, info.Path, len(es), path)
		}
	})

	t.Run("CategorySheets", func(t *testing.T) {
		xml := zipText(t, path)
		byID := map[string]reconcile.Exception{}
		for _, e := range es {
			byID[e.ID] = e
		}
		for _, s := range info.Sheets {
			if s.Category == "" {
				continue
			}
			rows := rowsOf(t, f, s.Name)
			if diff := cmp.Diff(report.ExceptionColumns, rows[0]); diff != "" {
				t.Errorf("%s header (-want +got):\n%s", s.Name, diff)
			}
			if len(rows)-1 != s.Rows {
				t.Errorf("%s: %d data rows, info says %d", s.Name, len(rows)-1, s.Rows)
			}
			for i, r := range rows[1:] {
				e, ok := byID[r[0]]
				if !ok || e.Category != s.Category {
					t.Fatalf("%s row %d: %q is not an exception of %s", s.Name, i+2, r[0], s.Category)
				}
				r = append(r, make([]string, len(report.ExceptionColumns)-len(r))...)
				row := ""
				if e.Row > 0 {
					row = strconv.Itoa(e.Row)
				}
				since := e.Since
				if since.IsZero() {
					since = e.FirstSeen
				}
				shown := reconcile.ShownDetail(e.Category, e.Detail)
				detail := shown
				switch {
				case shown == e.Detail:
				case e.Category == reconcile.CategoryRejectedRow:
					detail += " (… is the clinic's value, left out of this workbook: it is in " + e.Partner + "_rejects_2026-11-25.csv)"
				default:
					detail += " (… is the clinic's value, left out of this workbook)"
				}
				want := []string{e.ID, string(e.Status), e.AgeBucket, since.In(ist).Format("2006-01-02 15:04"), e.Partner, e.File, row, e.IntegratorID,
					detail, e.SuggestedAction, "", "", e.Note, e.FirstSeen.In(ist).Format("2006-01-02 15:04"), reconcile.Fingerprint(e.ID, shown, e.FirstSeen)}
				if diff := cmp.Diff(want, r); diff != "" {
					t.Errorf("%s row %d (-want +got):\n%s", s.Name, i+2, diff)
				}
			}
			checkLayout(t, f, path, s)
		}
		if !strings.Contains(xml["xl/workbook.xml"], "_xlnm._FilterDatabase") {
			t.Error("workbook has no filter database names")
		}
	})

	t.Run("DateCells", func(t *testing.T) {
		raw := openWorkbook(t, path, excelize.Options{RawCellValue: true})
		sheet := report.Title(es[0].Category)
		for _, col := range []string{col(report.ColumnSince), col("First seen")} {
			v, err := raw.GetCellValue(sheet, col+"2")
			if err != nil {
				t.Fatal(err)
			}
			serial, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s%d = %q: not a date serial", col, 2, v)
			}
			got, err := excelize.ExcelDateToTime(serial, false)
			if err != nil {
				t.Fatal(err)
			}
			want := es[0].FirstSeen
			// Excel dates carry the wall time of the report's zone.
			wall := time.Date(want.In(ist).Year(), want.In(ist).Month(), want.In(ist).Day(), want.In(ist).Hour(), want.In(ist).Minute(), 0, 0, time.UTC)
			if d := got.Sub(wall); d < -time.Second || d > time.Second {
				t.Errorf("%s2 is %v, want %v", col, got, wall)
			}
			st, _ := f.GetCellStyle(sheet, col+"2")
			style, err := f.GetStyle(st)
			if err != nil || style.CustomNumFmt == nil || *style.CustomNumFmt != report.DateFormat {
				t.Errorf("%s2 style %+v: want number format %q", col, style, report.DateFormat)
			}
		}
		// A missing row number and missing dates are empty cells, not 0.
		md := report.Title(reconcile.CategoryMissingDrop)
		if v, _ := f.GetCellValue(md, col(report.ColumnRow)+"2"); v != "" {
			t.Errorf("missing_drop row cell = %q, want empty", v)
		}
	})

	t.Run("Summary", func(t *testing.T) {
		s := readSummary(t, f)
		counts, newN, openN := countsOf(es)
		if s.New != newN || s.Open != openN || s.Resolved != d.Resolved {
			t.Errorf("new/open/resolved %d/%d/%d, want %d/%d/%d", s.New, s.Open, s.Resolved, newN, openN, d.Resolved)
		}
		if len(s.ByCategory) != len(reconcile.Categories) {
			t.Errorf("%d category rows, want all %d", len(s.ByCategory), len(reconcile.Categories))
		}
		total := 0
		wantPartner := map[string]int{}
		for cat, byPartner := range counts {
			n := 0
			for p, c := range byPartner {
				n += c
				if p == "" {
					p = report.NoPartner
				}
				wantPartner[p] += c
			}
			total += n
			if s.ByCategory[cat][0] != n {
				t.Errorf("%s: %d on the summary, want %d", cat, s.ByCategory[cat][0], n)
			}
		}
		if s.Total != total || total != newN+openN {
			t.Errorf("total %d, want %d", s.Total, total)
		}
		if diff := cmp.Diff(wantPartner, s.ByPartner); diff != "" {
			t.Errorf("partner totals (-want +got):\n%s", diff)
		}
		if s.Balanced != 1 || !slices.Equal(s.Unbalanced, []string{"=evil.xlsx"}) {
			t.Errorf("files: %d balanced, unbalanced %q", s.Balanced, s.Unbalanced)
		}
		if s.Unmapped != 2 || s.Rejected != 1 {
			t.Errorf("unmapped %d rejected %d, want 2 and 1", s.Unmapped, s.Rejected)
		}
		if info.Unbalanced != 1 || info.Files != 2 {
			t.Errorf("info files %d unbalanced %d", info.Files, info.Unbalanced)
		}
	})

	t.Run("Unmapped", func(t *testing.T) {
		rows := rowsOf(t, f, report.UnmappedSheet)
		if diff := cmp.Diff(mapping.ReviewColumns, rows[0]); diff != "" {
			t.Errorf("header (-want +got):\n%s", diff)
		}
		// The review loop: `mapping import --review` reads the workbook itself.
		lines, err := mapping.ReadTableFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range lines {
			got = append(got, l.Partner+"/"+l.Kind+"/"+l.LocalName+"/"+l.ID)
		}
		if diff := cmp.Diff([]string{"sunrise/test/Trop T/", "metro/test/=1+2/"}, got); diff != "" {
			t.Errorf("read back (-want +got):\n%s", diff)
		}
	})
}

// sheetPart is the zip part that holds sheet.
func sheetPart(t testing.TB, f *excelize.File, sheet string) string {
	t.Helper()
	idx, err := f.GetSheetIndex(sheet)
	if err != nil || idx < 0 {
		t.Fatalf("sheet %q: %d %v", sheet, idx, err)
	}
	// excelize numbers sheet parts in creation order, which is our order.
	return fmt.Sprintf("xl/worksheets/sheet%d.xml", idx+1)
}

func TestWorkbookFormulaInjection(t *testing.T) {
	path, _, info := writeSample(t)
	f := openWorkbook(t, path)
	found := map[string]bool{}
	for _, s := range info.Sheets {
		rows, err := f.Rows(s.Name)
		if err != nil {
			t.Fatal(err)
		}
		for n := 1; rows.Next(); n++ {
			cols, _ := rows.Columns()
			for i, v := range cols {
				if !slices.Contains(injections, v) && v != "=evil.xlsx" && v != "=1+2" {
					continue
				}
				found[v] = true
				cell, _ := excelize.CoordinatesToCellName(i+1, n)
				if fm, _ := f.GetCellFormula(s.Name, cell); fm != "" {
					t.Errorf("%s!%s is a formula %q", s.Name, cell, fm)
				}
				if ty, _ := f.GetCellType(s.Name, cell); ty != excelize.CellTypeInlineString && ty != excelize.CellTypeSharedString {
					t.Errorf("%s!%s has type %v, want a string", s.Name, cell, ty)
				}
			}
		}
		rows.Close()
	}
	for _, v := range append(slices.Clone(injections), "=evil.xlsx", "=1+2") {
		if !found[v] {
			t.Errorf("%q not found back as text", v)
		}
	}
	// Nowhere in the file is there a formula element.
	for name, x := range zipText(t, path) {
		if regexp.MustCompile(`<f[ >]`).MatchString(x) {
			t.Errorf("%s holds a formula", name)
		}
	}
}

func TestWorkbookOverflowSheet(t *testing.T) {
	defer report.SetMaxDataRows(3)()
	var es []reconcile.Exception
	for i := range 7 {
		es = append(es, reconcile.Exception{ID: fmt.Sprint(i), Category: reconcile.CategoryNoBill, Status: reconcile.StatusNew, Partner: "p"})
	}
	es = append(es, reconcile.Exception{ID: "x", Category: reconcile.CategoryOrphanEvent, Status: reconcile.StatusOpen})
	path := filepath.Join(t.TempDir(), "w.xlsx")
	info, err := report.WriteWorkbook(path, &report.Data{At: runAt, Exceptions: exceptionsOf(es)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range info.Sheets {
		got = append(got, fmt.Sprintf("%s:%d", s.Name, s.Rows))
	}
	want := []string{"Summary:0", "No bill:3", "No bill 2:3", "No bill 3:1", "Orphan events:1", "Unmapped:0"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("sheets (-want +got):\n%s", diff)
	}
	f := openWorkbook(t, path)
	s := readSummary(t, f)
	if s.ByCategory[reconcile.CategoryNoBill] != [2]int{7, 7} || s.ByPartner["p"] != 7 || s.ByPartner[report.NoPartner] != 1 {
		t.Errorf("summary %+v", s)
	}
}

func TestWorkbookErrors(t *testing.T) {
	es := sampleExceptions()
	cases := map[string]struct {
		d     func() *report.Data
		check func(error) bool
	}{
		"ErrUnsorted": {
			d: func() *report.Data {
				mixed := append(slices.Clone(es), es[0])
				return &report.Data{At: runAt, Exceptions: exceptionsOf(mixed)}
			},
			check: func(err error) bool { return errors.Is(err, report.ErrUnsorted) },
		},
		"IteratorError": {
			d: func() *report.Data {
				return &report.Data{At: runAt, Exceptions: func(yield func(reconcile.Exception, error) bool) {
					if yield(es[0], nil) {
						yield(reconcile.Exception{}, errBoom)
					}
				}}
			},
			check: func(err error) bool { return errors.Is(err, errBoom) },
		},
		"CountsDisagree": {
			d: func() *report.Data {
				d := sampleData()
				d.Counts[reconcile.CategoryNoBill] = map[string]int{"nobody": 2}
				return d
			},
			check: func(err error) bool {
				var ie *report.InconsistentError
				return errors.As(err, &ie) && strings.HasPrefix(ie.What, string(reconcile.CategoryNoBill)+"/")
			},
		},
		"NewDisagrees": {
			d: func() *report.Data {
				d := sampleData()
				d.New++
				return d
			},
			check: func(err error) bool {
				var ie *report.InconsistentError
				return errors.As(err, &ie) && ie.What == "new"
			},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "w.xlsx")
			_, err := report.WriteWorkbook(path, c.d())
			if err == nil || !c.check(err) {
				t.Fatalf("err = %v", err)
			}
			if !strings.Contains(err.Error(), "w.xlsx") {
				t.Errorf("error %q does not name the workbook", err)
			}
			// Nothing is left behind: no workbook, no temporary file.
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("left in dir: %v", ents)
			}
		})
	}
}

func TestWorkbookReplacesOld(t *testing.T) {
	path, _, _ := writeSample(t)
	d := &report.Data{At: runAt, Exceptions: exceptionsOf(nil)}
	info, err := report.WriteWorkbook(path, d)
	if err != nil {
		t.Fatal(err)
	}
	f := openWorkbook(t, path)
	if got := f.GetSheetList(); !slices.Equal(got, []string{report.SummarySheet, report.UnmappedSheet}) || len(info.Sheets) != 2 {
		t.Errorf("empty run: sheets %q", got)
	}
	s := readSummary(t, f)
	if s.Total != 0 || len(s.ByCategory) != len(reconcile.Categories) {
		t.Errorf("empty summary %+v", s)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("dir holds %v", ents)
	}
}

func TestTitle(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range reconcile.Categories {
		ti := report.Title(c)
		if seen[ti] || ti == report.SummarySheet || ti == report.UnmappedSheet || len(ti) > 31 {
			t.Errorf("title %q of %s", ti, c)
		}
		seen[ti] = true
	}
	for in, want := range map[reconcile.Category]string{
		"weird:cat/x":                   "Weird_cat_x",
		"summary":                       "Summary (category)",
		"":                              "Other",
		"ünïcode_category_that_is_long": "Ünïcode category tha",
	} {
		if got := report.Title(in); got != want {
			t.Errorf("Title(%q) = %q, want %q", in, got, want)
		}
	}
}

// The iterator is consumed once, front to back, and stopping it early is
// not needed: WriteWorkbook reads it to the end.
var _ iter.Seq2[reconcile.Exception, error] = exceptionsOf(nil)

// TestWorkbookHoldsNoPatientCell: a rejected row's detail quotes the
// partner's cell (here a name in the age column, a date of birth); the
// workbook, which is mailed and kept, shows "…" in its place.
func TestWorkbookHoldsNoPatientCell(t *testing.T) {
	es := []reconcile.Exception{
		{ID: "rejected_row:p:1", Category: reconcile.CategoryRejectedRow, Status: reconcile.StatusNew, Partner: "p", Row: 4,
			Detail: `bad_age: age "Asha Quixotefield" is not a number`, FirstSeen: runAt, LastSeen: runAt},
		{ID: "rejected_row:p:2", Category: reconcile.CategoryRejectedRow, Status: reconcile.StatusNew, Partner: "p", Row: 5,
			Detail: `bad_date: date "31/02/1961" is not a real date`, FirstSeen: runAt, LastSeen: runAt},
	}
	path := filepath.Join(t.TempDir(), "w.xlsx")
	if _, err := report.WriteWorkbook(path, &report.Data{At: runAt, Location: ist, Exceptions: exceptionsOf(es)}); err != nil {
		t.Fatal(err)
	}
	for part, text := range zipText(t, path) {
		for _, cell := range []string{"Quixotefield", "1961"} {
			if strings.Contains(text, cell) {
				t.Errorf("%s holds %q", part, cell)
			}
		}
	}
	rows := rowsOf(t, openWorkbook(t, path), report.Title(reconcile.CategoryRejectedRow))
	if len(rows) != 3 || !strings.HasPrefix(rows[1][8], `bad_age: age "…" is not a number (… is the clinic's value, left out of this workbook: it is in p_rejects_2026-11-25.csv)`) {
		t.Errorf("rows: %q", rows)
	}
}
