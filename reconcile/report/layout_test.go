package report_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/reconcile"
	"github.com/flabsync/flabsync/reconcile/report"
	"github.com/flabsync/flabsync/reconcile/rules"
)

// checkPrint holds a sheet to the print settings: one page wide,
// landscape, header rows repeated, a footer with the run and the page.
func checkPrint(t *testing.T, f *excelize.File, sheet string, headerRows int) {
	t.Helper()
	props, err := f.GetSheetProps(sheet)
	if err != nil || props.FitToPage == nil || !*props.FitToPage {
		t.Errorf("%s: not set to fit the page (%+v, %v)", sheet, props, err)
	}
	pl, err := f.GetPageLayout(sheet)
	if err != nil || pl.FitToWidth == nil || *pl.FitToWidth != 1 || pl.FitToHeight == nil || *pl.FitToHeight != 0 ||
		pl.Orientation == nil || *pl.Orientation != "landscape" {
		t.Errorf("%s: page layout %+v, %v; want landscape, 1 page wide, any number down", sheet, pl, err)
	}
	hf, err := f.GetHeaderFooter(sheet)
	if err != nil || !strings.Contains(hf.OddFooter, "&P") || !strings.Contains(hf.OddFooter, "&N") || !strings.Contains(hf.OddFooter, "2026-11-25") {
		t.Errorf("%s: footer %q, %v; want the run's time and page numbers", sheet, hf.OddFooter, err)
	}
	want := fmt.Sprintf("!$1:$%d", headerRows)
	found := false
	for _, dn := range f.GetDefinedName() {
		if dn.Name == "_xlnm.Print_Titles" && dn.Scope == sheet && strings.HasSuffix(dn.RefersTo, want) {
			found = true
		}
	}
	if !found {
		t.Errorf("%s: header rows 1-%d not repeated on printed pages (%+v)", sheet, headerRows, f.GetDefinedName())
	}
}

// checkHeader holds a sheet's first row to bold and frozen.
func checkHeader(t *testing.T, f *excelize.File, sheet string) {
	t.Helper()
	st, _ := f.GetCellStyle(sheet, "A1")
	style, err := f.GetStyle(st)
	if err != nil || style.Font == nil || !style.Font.Bold {
		t.Errorf("%s: header A1 not bold (%+v, %v)", sheet, style, err)
	}
	panes, err := f.GetPanes(sheet)
	if err != nil || !panes.Freeze || panes.YSplit != 1 || panes.TopLeftCell != "A2" {
		t.Errorf("%s: panes %+v, %v; want the header row frozen", sheet, panes, err)
	}
}

// dbNumber is an ID that is a category and a number: a database row's.
var dbNumber = regexp.MustCompile(`^[a-z_]+:[0-9]+$`)

// checkLayout holds a category sheet of the workbook at path to what ops
// need: it prints, its Action column is a list, its IDs show whole, its
// row numbers are numbers, its header is bold and frozen, and the hidden
// Fingerprint column is there.
func checkLayout(t *testing.T, f *excelize.File, path string, s report.SheetInfo) {
	t.Helper()
	checkPrint(t, f, s.Name, 1)
	checkHeader(t, f, s.Name)
	rows := rowsOf(t, f, s.Name)
	last := s.Rows + 1

	// The Action list, with its message, and the day check on Snooze until.
	var list, day bool
	dvs, err := f.GetDataValidations(s.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, dv := range dvs {
		switch dv.Sqref {
		case fmt.Sprintf("%[1]s2:%[1]s%[2]d", col(report.ColumnAction), last):
			list = dv.Type == "list" && strings.Contains(dv.Formula1, `"close,snooze,reopen"`) && dv.ShowInputMessage && dv.Prompt != nil && *dv.Prompt != "" && dv.ShowErrorMessage
		case fmt.Sprintf("%[1]s2:%[1]s%[2]d", col(report.ColumnSnoozeUntil), last):
			day = dv.Type == "date" && dv.Formula1 != ""
		}
	}
	if !list || !day {
		t.Errorf("%s: Action list %v, Snooze until day check %v: %+v", s.Name, list, day, dvs)
	}

	// IDs whole, no database number in any.
	longest := 0
	for _, r := range rows[1:] {
		longest = max(longest, utf8.RuneCountInString(r[0]))
		if dbNumber.MatchString(r[0]) {
			t.Errorf("%s: ID %q holds a database number", s.Name, r[0])
		}
	}
	if w, _ := f.GetColWidth(s.Name, col(report.ColumnID)); w < float64(longest) {
		t.Errorf("%s: ID column %v wide, the longest ID %d characters", s.Name, w, longest)
	}
	if w, _ := f.GetColWidth(s.Name, col(report.ColumnDetail)); w < 40 {
		t.Errorf("%s: Detail column %v wide", s.Name, w)
	}
	for _, c := range []string{report.ColumnDetail, report.ColumnNote} {
		st, _ := f.GetCellStyle(s.Name, col(c)+"2")
		if style, err := f.GetStyle(st); err != nil || style.Alignment == nil || !style.Alignment.WrapText {
			t.Errorf("%s: %s does not wrap", s.Name, c)
		}
	}

	// Row numbers are numbers.
	for i := range rows[1:] {
		cell := col(report.ColumnRow) + strconv.Itoa(i+2)
		v, _ := f.GetCellValue(s.Name, cell)
		if v == "" {
			continue
		}
		if ty, _ := f.GetCellType(s.Name, cell); ty != excelize.CellTypeNumber && ty != excelize.CellTypeUnset {
			t.Errorf("%s!%s = %q is stored as %v, not a number", s.Name, cell, v, ty)
		}
	}

	// A day typed in Snooze until shows as a day; the column is sized.
	if st, err := f.GetColStyle(s.Name, col(report.ColumnSnoozeUntil)); err != nil {
		t.Error(err)
	} else if style, err := f.GetStyle(st); err != nil || style.CustomNumFmt == nil || *style.CustomNumFmt != report.DayFormat {
		t.Errorf("%s: Snooze until column style %+v, %v; want the day format", s.Name, style, err)
	}
	if w, _ := f.GetColWidth(s.Name, col(report.ColumnSnoozeUntil)); w < 12 {
		t.Errorf("%s: Snooze until %v wide", s.Name, w)
	}
	if vis, err := f.GetColVisible(s.Name, col(report.ColumnFingerprint)); err != nil || vis {
		t.Errorf("%s: Fingerprint column visible %v (%v)", s.Name, vis, err)
	}
	xml := zipText(t, path)[sheetPart(t, f, s.Name)]
	lastCol, _ := excelize.ColumnNumberToName(len(report.ExceptionColumns))
	if want := fmt.Sprintf(`<autoFilter ref="$A$1:$%s$%d"`, lastCol, last); !strings.Contains(xml, want) {
		t.Errorf("%s: no %s in the sheet", s.Name, want)
	}
}

// TestWorkbookPrintsAndGuides: the Summary and the Unmapped sheet print
// as the category sheets do, and their labels and headers show whole.
func TestWorkbookPrintsAndGuides(t *testing.T) {
	path, _, _ := writeSample(t)
	f := openWorkbook(t, path)
	checkPrint(t, f, report.SummarySheet, 2)
	checkPrint(t, f, report.UnmappedSheet, 1)
	checkHeader(t, f, report.UnmappedSheet)
	if w, _ := f.GetColWidth(report.SummarySheet, "A"); w < float64(len(report.LabelWalkIn)) {
		t.Errorf("Summary column A is %v wide: %q is cut", w, report.LabelWalkIn)
	}
	rows := rowsOf(t, f, report.UnmappedSheet)
	if rows[0][2] != "Name as written" || slices.Contains(rows[0], "local_name") {
		t.Errorf("Unmapped headers %q: want words a person reads", rows[0])
	}
	// On the Summary a count's header stands over its counts (right),
	// a name's over its names (left): the columns read straight down.
	summary := rowsOf(t, f, report.SummarySheet)
	for i, r := range summary {
		for j, v := range r {
			want := ""
			switch v {
			case report.LabelTotal, "Rows in", "Submitted", "Unfinished":
				want = "right"
			case "Category", "File", "Partner":
			default:
				continue
			}
			cell, _ := excelize.CoordinatesToCellName(j+1, i+1)
			id, err := f.GetCellStyle(report.SummarySheet, cell)
			if err != nil {
				t.Fatal(err)
			}
			st, err := f.GetStyle(id)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if st.Alignment != nil {
				got = st.Alignment.Horizontal
			}
			if len(st.Fill.Color) == 0 {
				continue // not a header (the Total row's label, say)
			}
			if got != want {
				t.Errorf("Summary %s %q is aligned %q, want %q", cell, v, got, want)
			}
		}
	}
}

// TestWorkbookFromTheRules: the workbook of a real run sorts each sheet's
// rows by partner, file and row number (row 9 before row 10), puts the
// sheets in the Summary's order, and builds no ID from a database number
// or a sheet's name; every sheet holds to checkLayout.
func TestWorkbookFromTheRules(t *testing.T) {
	ctx := context.Background()
	db := storetest.OpenSQLite(t)
	at := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	l := ledger.New(db).WithClock(func() time.Time { return at.Add(-50 * time.Hour) })
	// A refused file first, so that database numbers and row numbers
	// could be mistaken for one another.
	if err := l.RecordRefused(ctx, "metro", "metro_scan.pdf", "/errors/metro_scan.pdf", "not a sheet"); err != nil {
		t.Fatal(err)
	}
	failed, _, err := l.StartFile(ctx, ledger.File{Partner: "metro", Name: "metro_1.csv", SHA256: "0123456789abcdef0123"})
	if err != nil {
		t.Fatal(err)
	}
	l.FailFile(ctx, failed, errors.New("no usable header row"))
	for _, p := range []string{"sunrise", "carecity"} {
		fid, _, err := l.StartFile(ctx, ledger.File{Partner: p, Name: p + "_1.xlsx", SHA256: "feedface" + p})
		if err != nil {
			t.Fatal(err)
		}
		var rows []ledger.Row
		for _, n := range []int{10, 8, 9, 100} {
			rows = append(rows, ledger.Row{Sheet: "Asha Quixotefield", Num: n, Status: ledger.RowRejected, Code: "bad_age", Message: `age "x" is not a number`})
		}
		if _, err := l.Admit(ctx, fid, nil, rows); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rules.Run(ctx, db, rules.Config{BillCreatedWithin: time.Hour, BillCompletedWithin: time.Hour}, mapping.NewIndex(nil, nil), at); err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/exceptions_2026-11-25.xlsx"
	info, err := report.WriteWorkbook(path, &report.Data{At: at, Location: time.UTC, Exceptions: rules.Exceptions(ctx, db, at)})
	if err != nil {
		t.Fatal(err)
	}
	f := openWorkbook(t, path)
	var cats []reconcile.Category
	for _, s := range info.Sheets {
		if s.Category != "" {
			cats = append(cats, s.Category)
			checkLayout(t, f, path, s)
		}
	}
	if want := []reconcile.Category{reconcile.CategoryFileRefused, reconcile.CategoryRejectedRow}; !slices.Equal(cats, want) {
		t.Errorf("sheets %v, want the Summary's order %v", cats, want)
	}
	rows := rowsOf(t, f, report.Title(reconcile.CategoryRejectedRow))
	var got []string
	for _, r := range rows[1:] {
		got = append(got, r[slices.Index(report.ExceptionColumns, report.ColumnPartner)]+" "+r[slices.Index(report.ExceptionColumns, report.ColumnRow)])
		if strings.Contains(r[0], "Asha") {
			t.Errorf("ID %q holds the sheet's name", r[0])
		}
		if age := r[slices.Index(report.ExceptionColumns, "Age")]; age != "48-72h" {
			t.Errorf("%s: age %s; the file came 50 h before the run", r[0], age)
		}
	}
	want := []string{"carecity 8", "carecity 9", "carecity 10", "carecity 100", "sunrise 8", "sunrise 9", "sunrise 10", "sunrise 100"}
	if !slices.Equal(got, want) {
		t.Errorf("rejected rows in the order %v, want %v", got, want)
	}
	refused := rowsOf(t, f, report.Title(reconcile.CategoryFileRefused))
	var ids []string
	for _, r := range refused[1:] {
		ids = append(ids, r[0])
	}
	slices.Sort(ids)
	if wantIDs := []string{"file_refused:metro:0123456789abcdef", "file_refused:metro:metro_scan.pdf:2026-11-23"}; !slices.Equal(ids, wantIDs) {
		t.Errorf("refused file IDs %q, want %q", ids, wantIDs)
	}
}
