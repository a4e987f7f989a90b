package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/schedules"
)

// TestStatusShowsEveryJob: with the import job running every minute, the
// nightly jobs' last runs stay in `status` however many import runs pile
// up after them.
func TestStatusShowsEveryJob(t *testing.T) {
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "flabsync.db")
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	record := func(job, status, summary string) {
		t.Helper()
		id, err := db.StartJobRun(ctx, job, "test", at)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.FinishJobRun(ctx, id, status, summary, "", at.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		at = at.Add(time.Minute)
	}
	record("mapping-sync", store.JobOK, "64 tests")
	record("reconcile", store.JobPartial, "3 new")
	record("expected-drops", store.JobOK, "2 partners expected")
	for range 500 {
		record("import", store.JobOK, "0 files")
	}
	db.Close()

	code, out, errOut := run(t, map[string]string{"flabsync.yaml": "database: " + dsn + "\n"}, "status", "--json")
	if code != ExitOK {
		t.Fatalf("status: exit %d\n%s", code, errOut)
	}
	var rep schedules.Status
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := map[string]string{}
	for _, j := range rep.Jobs {
		got[j.Job] = j.Status
	}
	want := map[string]string{"import": "ok", "mapping-sync": "ok", "reconcile": "partial", "expected-drops": "ok"}
	for job, status := range want {
		if got[job] != status {
			t.Errorf("job %s: status %q in status --json, want %q (jobs shown: %v)", job, got[job], status, got)
		}
	}
	if len(rep.Jobs) != len(want) {
		t.Errorf("%d jobs shown, want one line per job: %v", len(rep.Jobs), got)
	}
}

// TestStatusShowsUnsentReceipts: receipts queued and not sent (mail down,
// or the process that queued them gone) are counted in `status`, with the
// age of the oldest.
func TestStatusShowsUnsentReceipts(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "flabsync.db")
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	led := ledger.New(db).WithReceipts(ledger.Receipts{Wants: func(string) bool { return true }})
	for _, name := range []string{"metro_a.csv", "metro_b.csv"} {
		id, _, err := led.StartFile(ctx, ledger.File{Partner: "metro", Name: name, SHA256: name})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := led.FinishFile(ctx, id, 0); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	files := map[string]string{"flabsync.yaml": "database: " + dsn + "\n"}
	code, out, errOut := run(t, files, "status")
	if code != ExitOK || !strings.Contains(out, "receipts   2 unsent, the oldest queued ") {
		t.Errorf("status: exit %d, no unsent receipts line\n%s%s", code, out, errOut)
	}
	_, out, _ = run(t, files, "status", "--json")
	var rep schedules.Status
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Receipts.Unsent != 2 || rep.Receipts.Oldest.IsZero() {
		t.Errorf("status --json receipts = %+v, %v\n%s", rep.Receipts, err, out)
	}
}
