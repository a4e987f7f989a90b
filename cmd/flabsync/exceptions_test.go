package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/reconcile/report"
	"github.com/flabsync/flabsync/reconcile/rules"
	"github.com/xuri/excelize/v2"
)

// TestExceptionsCommand: a person lists the open exceptions, closes one
// with a note (an unknown ID among them changes nothing and exits 2),
// snoozes another, and finds them under their own status.
func TestExceptionsCommand(t *testing.T) {
	files := seedExceptions(t)
	list := func(args ...string) []rules.Listed {
		t.Helper()
		code, out, errOut := run(t, files, append([]string{"exceptions", "list", "--json", "--category", "submit_failed"}, args...)...)
		if code != ExitOK {
			t.Fatalf("list %v: exit %d\n%s", args, code, errOut)
		}
		var l []rules.Listed
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return l
	}
	if got := list(); len(got) != 2 {
		t.Fatalf("%d open, want 2: %+v", len(got), got)
	}
	if code, _, errOut := run(t, files, "exceptions", "close", "--note", "x", "submit_failed:p:a", "nope"); code != ExitUsage || !strings.Contains(errOut, `"nope"`) {
		t.Errorf("close with an unknown ID: exit %d\n%s", code, errOut)
	}
	if got := list("--status", "closed"); len(got) != 0 {
		t.Errorf("an all-or-nothing close closed %d", len(got))
	}
	if code, _, errOut := run(t, files, "exceptions", "close", "submit_failed:p:a"); code != ExitUsage || !strings.Contains(errOut, "--note") {
		t.Errorf("close without a note: exit %d\n%s", code, errOut)
	}
	if code, _, errOut := run(t, files, "exceptions", "close", "--note", "booked by phone", "--by", "asha", "submit_failed:p:a"); code != ExitOK {
		t.Fatalf("close: exit %d\n%s", code, errOut)
	}
	until := time.Now().Add(72 * time.Hour).Format(time.DateOnly)
	if code, _, errOut := run(t, files, "exceptions", "snooze", "--note", "clinic on leave", "--until", until, "submit_failed:p:b"); code != ExitOK {
		t.Fatalf("snooze: exit %d\n%s", code, errOut)
	}
	closed := list("--status", "closed")
	if len(closed) != 1 || closed[0].ID != "submit_failed:p:a" || closed[0].Note != "booked by phone" || closed[0].ClosedBy != "asha" || closed[0].ClosedAt == nil {
		t.Errorf("closed: %+v", closed)
	}
	if s := list("--status", "snoozed"); len(s) != 1 || s[0].SnoozedUntil == nil {
		t.Errorf("snoozed: %+v", s)
	}
	if got := list(); len(got) != 0 {
		t.Errorf("still open: %+v", got)
	}
	if code, _, _ := run(t, files, "exceptions", "reopen", "submit_failed:p:a"); code != ExitOK || len(list()) != 1 {
		t.Errorf("reopen: exit %d", code)
	}
}

// seededFirstSeen is when seedExceptions' exceptions were first seen.
var seededFirstSeen = time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC)

// seedExceptions makes a database with two submit_failed exceptions
// (submit_failed:p:a and submit_failed:p:b) and one rejected row, and
// returns a config for it.
func seedExceptions(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "flabsync.db")
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l := ledger.New(db)
	fid, _, _ := l.StartFile(ctx, ledger.File{Partner: "p", Name: "p.csv", SHA256: "e"})
	var bs []ledger.Booking
	for _, id := range []string{"p:a", "p:b"} {
		bs = append(bs, ledger.Booking{IntegratorID: id, Partner: "p", FirstRow: 2, Rows: []int{2}, Request: &flabs.BillingRequest{IntegratorID: id}})
	}
	l.Admit(ctx, fid, bs, []ledger.Row{{Num: 4, Status: ledger.RowRejected, Code: "age", Message: "age is missing", Ref: "R4"}})
	for _, id := range []string{"p:a", "p:b"} {
		l.Sending(ctx, id, "t")
		l.Settle(ctx, ledger.Result{IntegratorID: id, State: ledger.Rejected, Error: "400 age"})
	}
	if _, err := rules.Run(ctx, db, rules.Config{BillCreatedWithin: time.Hour, BillCompletedWithin: time.Hour}, mapping.NewIndex(nil, nil), time.Now()); err != nil {
		t.Fatal(err)
	}
	// First seen by the night that wrote testdata/workbook/resaved.xlsx:
	// its hidden Fingerprint names the occurrence (first_seen) as well as
	// the facts.
	if _, err := db.ExecContext(ctx, db.Rebind(`UPDATE exceptions SET first_seen = ?`), store.T(seededFirstSeen)); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"flabsync.yaml": fmt.Sprintf("database: %s\nreport: {dir: %s}\n", dsn, filepath.Join(dir, "reports"))}
}

// TestExceptionsImportWorkbook: people fill the Action and Note columns
// of the nightly workbook in another program (testdata/workbook/resaved.xlsx
// went through openpyxl and LibreOffice: shared strings, new styles, an
// extra sheet) and `exceptions import` applies them. A workbook with a
// bad action or an unknown ID applies nothing and names every problem by
// sheet and row.
func TestExceptionsImportWorkbook(t *testing.T) {
	files := seedExceptions(t)
	fixture := filepath.Join(mustGetwd(t), "testdata", "workbook", "resaved.xlsx")
	byStatus := func(status string) map[string]rules.Listed {
		t.Helper()
		code, out, errOut := run(t, files, "exceptions", "list", "--json", "--status", status)
		if code != ExitOK {
			t.Fatalf("list: exit %d\n%s", code, errOut)
		}
		var l []rules.Listed
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			t.Fatal(err)
		}
		m := map[string]rules.Listed{}
		for _, e := range l {
			m[e.ID] = e
		}
		return m
	}

	// A copy with a typo and a row whose ID is unknown.
	f, err := excelize.OpenFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	sheet := "Submit failed"
	rows, err := f.GetRows(sheet)
	if err != nil || len(rows) < 3 {
		t.Fatalf("fixture sheet %q: %v (%d rows)", sheet, err, len(rows))
	}
	f.SetCellValue(sheet, workbookCell(report.ColumnAction, 2), "clsoe")
	f.SetCellValue(sheet, "A4", "submit_failed:p:zz")
	f.SetCellValue(sheet, workbookCell(report.ColumnAction, 4), "close")
	f.SetCellValue(sheet, workbookCell(report.ColumnNote, 4), "gone")
	bad := filepath.Join(t.TempDir(), "bad.xlsx")
	if err := f.SaveAs(bad); err != nil {
		t.Fatal(err)
	}
	f.Close()
	code, _, errOut := run(t, files, "exceptions", "import", bad)
	if code != ExitUsage {
		t.Fatalf("bad workbook: exit %d, want %d\n%s", code, ExitUsage, errOut)
	}
	for _, want := range []string{`sheet "Submit failed" row 2: action "clsoe"`, "nothing was applied"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("error lacks %q:\n%s", want, errOut)
		}
	}
	if n := len(byStatus("closed")) + len(byStatus("snoozed")); n != 0 {
		t.Fatalf("a refused workbook changed %d exceptions", n)
	}
	// The typo fixed, the unknown ID remains: still nothing applied.
	f, _ = excelize.OpenFile(bad)
	f.SetCellValue(sheet, workbookCell(report.ColumnAction, 2), "close")
	f.Save()
	f.Close()
	if code, _, errOut := run(t, files, "exceptions", "import", bad); code != ExitUsage || !strings.Contains(errOut, `sheet "Submit failed" row 4: exception "submit_failed:p:zz"`) {
		t.Fatalf("unknown ID: exit %d\n%s", code, errOut)
	}
	if n := len(byStatus("closed")); n != 0 {
		t.Fatalf("a workbook with an unknown ID closed %d", n)
	}

	code, out, errOut := run(t, files, "exceptions", "import", "--by", "asha", fixture)
	if code != ExitOK || !strings.Contains(out, "2 closed, 1 snoozed") {
		t.Fatalf("import: exit %d\n%s%s", code, out, errOut)
	}
	closed, snoozed := byStatus("closed"), byStatus("snoozed")
	if e := closed["submit_failed:p:a"]; e.Note != "booked by phone" || e.ClosedBy != "asha" {
		t.Errorf("p:a: %+v", e)
	}
	if e := closed["rejected_row:p:e:1:4"]; e.Note != "clinic resent the row" {
		t.Errorf("rejected row: %+v", e)
	}
	if e, ok := snoozed["submit_failed:p:b"]; !ok || e.SnoozedUntil == nil || e.SnoozedUntil.Year() != 2099 {
		t.Errorf("p:b: %+v", e)
	}
	if open := byStatus("open"); len(open) != 0 {
		t.Errorf("still open: %v", open)
	}
}

// workbookCell is the cell of a category sheet's column (by its header)
// on row.
func workbookCell(column string, row int) string {
	c, _ := excelize.CoordinatesToCellName(slices.Index(report.ExceptionColumns, column)+1, row)
	return c
}

// TestExceptionsImportChecksTheFacts: what a decision is checked against
// travels in the hidden Fingerprint column, not in the Detail a person
// sees. With Detail deleted, a close on unchanged facts applies, and one
// on facts that changed since the workbook was written is refused; with
// the Fingerprint column deleted, nothing is applied.
func TestExceptionsImportChecksTheFacts(t *testing.T) {
	fixture := filepath.Join(mustGetwd(t), "testdata", "workbook", "resaved.xlsx")
	edit := func(t *testing.T, column string) string {
		t.Helper()
		f, err := excelize.OpenFile(fixture)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, sheet := range f.GetSheetList() {
			rows, _ := f.GetRows(sheet)
			if len(rows) == 0 || !slices.Contains(rows[0], report.ColumnAction) {
				continue
			}
			c, _ := excelize.ColumnNumberToName(slices.Index(rows[0], column) + 1)
			if err := f.RemoveCol(sheet, c); err != nil {
				t.Fatal(err)
			}
		}
		path := filepath.Join(t.TempDir(), "edited.xlsx")
		if err := f.SaveAs(path); err != nil {
			t.Fatal(err)
		}
		return path
	}
	closedN := func(t *testing.T, files map[string]string) int {
		t.Helper()
		_, out, _ := run(t, files, "exceptions", "list", "--json", "--status", "closed")
		var l []rules.Listed
		json.Unmarshal([]byte(out), &l)
		return len(l)
	}
	noDetail := edit(t, report.ColumnDetail)

	t.Run("Unchanged", func(t *testing.T) {
		files := seedExceptions(t)
		if code, out, errOut := run(t, files, "exceptions", "import", noDetail); code != ExitOK || !strings.Contains(out, "2 closed, 1 snoozed") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
	})
	t.Run("Changed", func(t *testing.T) {
		files := seedExceptions(t)
		dsn := strings.TrimPrefix(strings.SplitN(files["flabsync.yaml"], "\n", 2)[0], "database: ")
		db, err := store.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		// Flabs said something else since: the facts changed.
		db.Exec(`UPDATE exceptions SET detail = 'Flabs refused it: 400 barcode' WHERE id = 'submit_failed:p:a'`)
		db.Close()
		code, _, errOut := run(t, files, "exceptions", "import", noDetail)
		if code != ExitUsage || !strings.Contains(errOut, `exception "submit_failed:p:a" has changed`) {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
		if n := closedN(t, files); n != 0 {
			t.Errorf("a refused workbook closed %d", n)
		}
	})
	t.Run("NoFingerprint", func(t *testing.T) {
		files := seedExceptions(t)
		code, _, errOut := run(t, files, "exceptions", "import", edit(t, report.ColumnFingerprint))
		if code != ExitUsage || !strings.Contains(errOut, "Fingerprint") || !strings.Contains(errOut, "nothing was applied") {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
		if n := closedN(t, files); n != 0 {
			t.Errorf("a workbook without fingerprints closed %d", n)
		}
	})
}

func mustGetwd(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

// TestReconcileByHandIsRecorded: `reconcile` as of now is the nightly run
// done by hand and is recorded like it (status and the reconcile alert
// see it); `reconcile --at` is a look and is not.
func TestReconcileByHandIsRecorded(t *testing.T) {
	files := seedExceptions(t)
	if code, _, errOut := run(t, files, "reconcile", "--at", time.Now().Add(time.Hour).Format(time.RFC3339)); code != ExitOK {
		t.Fatalf("reconcile --at: exit %d\n%s", code, errOut)
	}
	if code, _, errOut := run(t, files, "reconcile"); code != ExitOK {
		t.Fatalf("reconcile: exit %d\n%s", code, errOut)
	}
	dsn := strings.TrimSpace(strings.SplitN(strings.TrimPrefix(files["flabsync.yaml"], "database: "), "\n", 2)[0])
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var runs []struct {
		Status  string `db:"status"`
		Summary string `db:"summary"`
	}
	if err := db.Select(&runs, `SELECT status, summary FROM job_runs WHERE job = 'reconcile'`); err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Status != "ok" || !strings.HasPrefix(runs[0].Summary, "by hand: ") {
		t.Errorf("reconcile runs recorded: %+v; want the one run as of now, ok", runs)
	}
}
