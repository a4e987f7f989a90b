package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/store"
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
