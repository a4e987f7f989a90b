package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/flabsync/flabsync/internal/store"
)

// TestReconcileAtIsALook: `reconcile --at` ten days ahead, then a plain
// run, gives the same exceptions and counts as a plain run on an
// untouched copy; the look stores no trend row, no job run, no workbook
// (a future-dated one least of all) unless --out names one, and then
// only that one.
func TestReconcileAtIsALook(t *testing.T) {
	type report struct {
		Workbook   string         `json:"workbook"`
		Summary    map[string]int `json:"summary"`
		Exceptions []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"exceptions"`
	}
	reconcileJSON := func(files map[string]string, args ...string) report {
		t.Helper()
		code, out, errOut := run(t, files, append([]string{"reconcile", "--json"}, args...)...)
		if code != ExitOK {
			t.Fatalf("reconcile %v: exit %d\n%s", args, code, errOut)
		}
		var r report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return r
	}
	statuses := func(r report) map[string]string {
		m := map[string]string{}
		for _, e := range r.Exceptions {
			m[e.ID] = e.Status
		}
		return m
	}
	dirOf := func(files map[string]string) (dsn, reports string) {
		for _, line := range strings.Split(files["flabsync.yaml"], "\n") {
			if v, ok := strings.CutPrefix(line, "database: "); ok {
				dsn = v
			}
			if v, ok := strings.CutPrefix(line, "report: {dir: "); ok {
				reports = strings.TrimSuffix(v, "}")
			}
		}
		return dsn, reports
	}

	looked, untouched := seedExceptions(t), seedExceptions(t)
	ahead := time.Now().Add(10 * 24 * time.Hour)
	out := filepath.Join(t.TempDir(), "look.xlsx")
	look := reconcileJSON(looked, "--at", ahead.Format(time.RFC3339), "--out", out)
	if look.Workbook != out {
		t.Errorf("the look's workbook: %q, want %q", look.Workbook, out)
	}
	if f, err := excelize.OpenFile(out); err != nil {
		t.Errorf("the look's --out workbook: %v", err)
	} else {
		f.Close()
	}
	if code, stdout, errOut := run(t, looked, "reconcile", "--at", ahead.Format(time.RFC3339)); code != ExitOK || !strings.Contains(stdout, "nothing stored, no workbook") {
		t.Errorf("a look without --out: exit %d\n%s%s", code, stdout, errOut)
	}
	if code, _, errOut := run(t, looked, "reconcile", "--at", ahead.Format(time.RFC3339), "--email"); code != ExitUsage || !strings.Contains(errOut, "--out") {
		t.Errorf("a look mailed with no workbook named: exit %d\n%s", code, errOut)
	}
	after, want := reconcileJSON(looked), reconcileJSON(untouched)
	if got, w := statuses(after), statuses(want); len(got) == 0 || !equalMaps(got, w) {
		t.Errorf("plain run after a look: %v\nplain run on an untouched copy: %v", got, w)
	}
	if !equalMaps(after.Summary, want.Summary) {
		t.Errorf("summary after a look %v, untouched %v", after.Summary, want.Summary)
	}

	dsn, reports := dirOf(looked)
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var future, runs int
	if err := db.Get(&future, db.Rebind(`SELECT COUNT(*) FROM reconcile_runs WHERE at > ?`), store.T(time.Now().Add(time.Hour))); err != nil || future != 0 {
		t.Errorf("%d future-dated trend rows (%v)", future, err)
	}
	if err := db.Get(&runs, `SELECT COUNT(*) FROM job_runs WHERE job = 'reconcile'`); err != nil || runs != 1 {
		t.Errorf("%d reconcile job runs (%v); want the plain run's alone", runs, err)
	}
	entries, _ := os.ReadDir(reports)
	for _, e := range entries {
		for _, day := range []string{ahead.Format(time.DateOnly), ahead.UTC().Format(time.DateOnly)} {
			if strings.Contains(e.Name(), day) {
				t.Errorf("report.dir holds %s, dated as the look", e.Name())
			}
		}
	}
	if len(entries) == 0 {
		t.Errorf("report.dir is empty: the plain run wrote nothing")
	}
}

func equalMaps[V comparable](a, b map[string]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
