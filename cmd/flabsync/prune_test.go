package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/schedules/retention"
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

// TestPruneKill9: a prune killed with SIGKILL half-way leaves every
// booking either erased and marked or untouched (never half), and the
// next prune finishes the work; a third finds nothing.
func TestPruneKill9(t *testing.T) {
	t.Parallel() // it waits on child processes, mostly: it runs beside the others
	if testing.Short() {
		t.Skip("runs flabsync as a child process")
	}
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "flabsync.db")
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fid, _, err := ledger.New(db).StartFile(ctx, ledger.File{Partner: "p", Name: "p.csv", SHA256: "e"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 60000 // twelve batches of 5,000
	old := store.T(time.Now().Add(-100 * 24 * time.Hour))
	if _, err := db.ExecContext(ctx, `WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?)
INSERT INTO bookings (integrator_id, partner, file_id, first_row, status, request, last_error, claimed_by, created_at, updated_at)
SELECT 'p:' || i, 'p', ?, i, 'submitted',
	'{"integratorID":"p:' || i || '","patient_details":{"first_name":"Quixotefield","mobile":"98765' || i || '"}}', '', 't', ?, ? FROM k`,
		n, fid, old, old); err != nil {
		t.Fatal(err)
	}
	conf := "database: " + dsn + "\ninbox:\n  archive_dir: " + filepath.Join(dir, "a") + "\n  error_dir: " + filepath.Join(dir, "e") +
		"\nreport:\n  dir: " + filepath.Join(dir, "r") + "\nlog: {level: warn}\n"
	if err := os.WriteFile(filepath.Join(dir, "flabsync.yaml"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	pruned := func() int {
		var k int
		if err := db.GetContext(ctx, &k, `SELECT COUNT(*) FROM bookings WHERE pruned_at IS NOT NULL`); err != nil {
			t.Fatal(err)
		}
		return k
	}
	cmd := child(t, dir, "prune")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for pruned() == 0 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	at := pruned()
	t.Logf("killed with %d of %d bookings pruned", at, n)

	// Never half: erased exactly when marked.
	var half int
	if err := db.GetContext(ctx, &half, `SELECT COUNT(*) FROM bookings
WHERE (pruned_at IS NULL) <> (request LIKE '%Quixotefield%')`); err != nil {
		t.Fatal(err)
	}
	if half != 0 {
		t.Fatalf("%d bookings half pruned after a kill -9", half)
	}
	if out, err := child(t, dir, "prune").CombinedOutput(); err != nil {
		t.Fatalf("the prune after the kill: %v\n%s", err, out)
	}
	if got := pruned(); got != n {
		t.Fatalf("%d of %d pruned after the second run", got, n)
	}
	out, err := child(t, dir, "prune", "--json").Output()
	var r retention.Report
	if json.Unmarshal(out, &r); err != nil || r.Bookings != 0 {
		t.Errorf("a third prune: %v, %d bookings; want nothing left", err, r.Bookings)
	}
	var left int
	db.GetContext(ctx, &left, `SELECT COUNT(*) FROM bookings WHERE request LIKE '%Quixotefield%' OR request LIKE '%98765%'`)
	if left != 0 {
		t.Errorf("%d requests still hold patient data", left)
	}
}
