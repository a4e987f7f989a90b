package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/pipeline/ledger"
)

// killedImport is sendRig with serve's keys and a short takeover time,
// and a hand-run import of its n-row sheet killed with SIGKILL once the
// simulator has booked some of it.
func killedImport(t *testing.T, n int) (dir, sheet string, sim *flabstest.Server) {
	t.Helper()
	dir, sheet, sim = sendRig(t, n, flabstest.Options{Latency: 5 * time.Millisecond, Seed: 11})
	withServe(t, dir, func(cfg string) string { return strings.Replace(cfg, "rate_per_second: 200", "rate_per_second: 1000", 1) })
	path := filepath.Join(dir, "flabsync.yaml")
	cfg, _ := os.ReadFile(path)
	// The takeover time is the import's too: its heartbeat lasts that long.
	os.WriteFile(path, bytes.Replace(cfg, []byte("settle: 100ms}"), []byte("settle: 100ms, takeover_after: 2s}"), 1), 0o600)
	imp := child(t, dir, "import", "--no-progress", sheet)
	if err := imp.Start(); err != nil {
		t.Fatal(err)
	}
	// Rows are recorded 500 at a time, at most five batches ahead of
	// what is booked: killed now, the end of the file was never read.
	waitCreated(t, sim, 100)
	imp.Process.Signal(syscall.SIGKILL)
	imp.Wait()
	if c := sim.Stats().Created.Load(); c >= int64(n) {
		t.Fatalf("the import finished (%d created) before it was killed; the test proves nothing", c)
	}
	return dir, sheet, sim
}

// startServe starts `flabsync serve` in dir and stops it at the end.
func startServe(t *testing.T, dir string, args ...string) (*syncBuffer, func()) {
	t.Helper()
	cmd := child(t, dir, append([]string{"serve"}, args...)...)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("serve exit: %v\n%s", err, logs.String())
		}
	}
	t.Cleanup(func() {
		if !stopped {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return &logs, stop
}

// fileStates lists the ledger's files of dir's database: status and reason.
func fileStates(t *testing.T, dir string) []struct{ Status, Reason string } {
	t.Helper()
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "flabsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []struct{ Status, Reason string }
	if err := db.Select(&out, `SELECT status, reason FROM files ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestServeReadsOnAKilledImport: a hand-run import killed with SIGKILL
// mid-file left its file "reading" for good, rows never recorded, and
// the Summary called it balanced. A running serve now takes it over once
// the import's heartbeat has lapsed (2s here; inbox.takeover_after) and
// reads it on: every row is booked exactly once, nothing twice at Flabs,
// and the ledger keeps one record read to its end.
func TestServeReadsOnAKilledImport(t *testing.T) {
	if testing.Short() {
		t.Skip("runs flabsync as child processes")
	}
	const n = 3000
	dir, _, sim := killedImport(t, n)
	logs, stop := startServe(t, dir)
	deadline := time.Now().Add(60 * time.Second)
	for {
		fs := fileStates(t, dir)
		if len(fs) == 2 && fs[0].Status == string(ledger.FileAbandoned) && fs[1].Status == string(ledger.FileDone) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed import's file was not read on within 60s: %+v\n%s", fs, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	assertExactlyOnce(t, dir, sim, n)
	if d := sim.DoubleBooked(); len(d) > 0 {
		t.Errorf("double-booked: %v", d)
	}
}

// TestKilledImportWhoseFileIsGoneIsFlagged: the same kill, and the file
// is gone before serve looks: the file is not left "reading" (balanced
// in the Summary) but failed with a reason naming the first row never
// recorded, and a file_refused exception says so; the rows that were
// recorded are all sent, once.
func TestKilledImportWhoseFileIsGoneIsFlagged(t *testing.T) {
	if testing.Short() {
		t.Skip("runs flabsync as child processes")
	}
	const n = 3000
	dir, sheet, sim := killedImport(t, n)
	os.Remove(sheet)
	logs, stop := startServe(t, dir)
	var fs []struct{ Status, Reason string }
	deadline := time.Now().Add(60 * time.Second)
	for {
		fs = fileStates(t, dir)
		if len(fs) == 1 && fs[0].Status == string(ledger.FileFailed) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed import's gone file was not flagged within 60s: %+v\n%s", fs, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, want := range []string{"not read to its end", "never recorded", "import it again", "no longer at"} {
		if !strings.Contains(fs[0].Reason, want) {
			t.Errorf("reason %q lacks %q", fs[0].Reason, want)
		}
	}
	// What was recorded is sent, once.
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "flabsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	var recorded []string
	db.Select(&recorded, `SELECT integrator_id FROM bookings`)
	for {
		var open int
		db.Get(&open, `SELECT COUNT(*) FROM bookings WHERE status IN ('pending', 'in_flight', 'retry')`)
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d recorded bookings still unsent\n%s", open, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	db.Close()
	stop()
	if len(recorded) == 0 || len(recorded) >= n {
		t.Fatalf("%d bookings recorded of %d rows; the test needs a file cut short", len(recorded), n)
	}
	for _, id := range recorded {
		if got := len(sim.BookingsFor(id)); got != 1 {
			t.Errorf("%s booked %d times", id, got)
		}
	}
	out, err := child(t, dir, "reconcile", "--json").Output()
	if err != nil && len(out) == 0 {
		t.Fatalf("reconcile: %v", err)
	}
	var rep struct {
		Exceptions []struct {
			Category string `json:"category"`
			Detail   string `json:"detail"`
		} `json:"exceptions"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	found := false
	for _, e := range rep.Exceptions {
		found = found || (e.Category == "file_refused" && strings.Contains(e.Detail, "never recorded"))
	}
	if !found {
		t.Errorf("no file_refused exception names the file cut short: %+v", rep.Exceptions)
	}
	t.Logf("%d of %d rows were recorded before the kill: %s", len(recorded), n, fmt.Sprint(fs[0].Reason))
}
