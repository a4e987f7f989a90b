package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/retention"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/pipeline/ledger"
)

// TestPruneCommand: --dry-run counts what a prune erases and changes
// nothing, the prune erases it (a few lines of counts), a second finds
// nothing, --at moves the cutoff; bad flags and a retention of 0 days are
// usage errors.
func TestPruneCommand(t *testing.T) {
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "flabsync.db")
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	l := ledger.New(db)
	fid, _, _ := l.StartFile(ctx, ledger.File{Partner: "p", Name: "p.csv", SHA256: "e"})
	for _, id := range []string{"p:a", "p:b"} {
		req := &flabs.BillingRequest{IntegratorID: id, PatientDetails: flabs.PatientDetails{FirstName: "Quixotefield"}}
		l.Admit(ctx, fid, []ledger.Booking{{IntegratorID: id, Partner: "p", FirstRow: 2, Rows: []int{2}, Request: req}}, nil)
		l.Sending(ctx, id, "t")
		l.Settle(ctx, ledger.Result{IntegratorID: id, State: ledger.Submitted})
	}
	old := store.T(time.Now().Add(-100 * 24 * time.Hour))
	db.ExecContext(ctx, `UPDATE bookings SET updated_at = ?`, old)
	db.Close()
	conf := "database: " + dsn + "\ninbox:\n  archive_dir: " + filepath.Join(dir, "a") + "\n  error_dir: " + filepath.Join(dir, "e") +
		"\nreport:\n  dir: " + filepath.Join(dir, "r") + "\n"
	files := map[string]string{"flabsync.yaml": conf}

	report := func(args ...string) retention.Report {
		t.Helper()
		code, out, errOut := run(t, files, append([]string{"prune", "--json"}, args...)...)
		if code != ExitOK {
			t.Fatalf("prune %v: exit %d\n%s", args, code, errOut)
		}
		var r retention.Report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return r
	}
	if r := report("--at", time.Now().Add(-20*24*time.Hour).Format(time.RFC3339)); r.Bookings != 0 {
		t.Errorf("as of 20 days ago, %d bookings are past 90 days; want 0", r.Bookings)
	}
	for range 2 {
		if r := report("--dry-run"); !r.DryRun || r.Bookings != 2 {
			t.Errorf("dry run: %+v; want 2 bookings, twice (nothing changed)", r)
		}
	}
	code, out, errOut := run(t, files, "prune")
	if code != ExitOK || !strings.Contains(out, "2 bookings") || !strings.Contains(out, "erased") {
		t.Errorf("prune: exit %d\n%s%s", code, out, errOut)
	}
	if r := report(); r.Total() != 0 {
		t.Errorf("second prune: %+v; want nothing", r)
	}

	for _, tt := range []struct {
		name  string
		files map[string]string
		args  []string
		want  string
	}{
		{"bad at", files, []string{"prune", "--at", "soon"}, `"soon"`},
		{"argument", files, []string{"prune", "now"}, `"now"`},
		{"zero days", map[string]string{"flabsync.yaml": conf + "retention:\n  patient_data_days: 0\n"}, []string{"prune"}, "retention.patient_data_days"},
	} {
		if code, _, errOut := run(t, tt.files, tt.args...); code != ExitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%s: exit %d, want %d naming %s\n%s", tt.name, code, ExitUsage, tt.want, errOut)
		}
	}
}
