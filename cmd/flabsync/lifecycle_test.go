package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flabsync/flabsync/fixtures"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/pipeline/ledger"
)

// lifecycleRows is the size of the sheet a killed import leaves: 600
// rows (all recorded at the kill, most unsent) in make test; with
// FLABSYNC_LIFECYCLE_ROWS=3000 the kill also leaves rows never recorded
// (rows are recorded 500 at a time, at most five batches ahead of what
// is booked), which serve reads on or names.
func lifecycleRows() int {
	if n, err := strconv.Atoi(os.Getenv("FLABSYNC_LIFECYCLE_ROWS")); err == nil && n > 0 {
		return n
	}
	return 600
}

// killedImport is sendRig with serve's keys and a short takeover time,
// and a hand-run import of its n-row sheet killed with SIGKILL once the
// simulator has booked some of it.
func killedImport(t *testing.T, n int) (dir, sheet string, sim *flabstest.Server) {
	t.Helper()
	dir, sheet, sim = sendRig(t, n, flabstest.Options{Latency: 5 * time.Millisecond, Seed: 11})
	withServe(t, dir, func(cfg string) string {
		return strings.Replace(cfg, "rate_per_second: 200", "rate_per_second: 1000", 1)
	})
	path := filepath.Join(dir, "flabsync.yaml")
	cfg, _ := os.ReadFile(path)
	// The takeover time is the import's too: its heartbeat lasts that long.
	os.WriteFile(path, bytes.Replace(cfg, []byte("settle: 100ms}"), []byte("settle: 100ms, takeover_after: 3s}"), 1), 0o600)
	imp := child(t, dir, "import", "--no-progress", sheet)
	if err := imp.Start(); err != nil {
		t.Fatal(err)
	}
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
// the import's heartbeat has lapsed (3s here; inbox.takeover_after) and
// reads it on: every row is booked exactly once, nothing twice at Flabs,
// and the ledger keeps one record read to its end.
func TestServeReadsOnAKilledImport(t *testing.T) {
	t.Parallel() // it waits on child processes, mostly: it runs beside the others
	if testing.Short() {
		t.Skip("runs flabsync as child processes")
	}
	n := lifecycleRows()
	dir, _, sim := killedImport(t, n)
	logs, stop := startServe(t, dir)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		fs := fileStates(t, dir)
		if len(fs) == 2 && fs[0].Status == string(ledger.FileAbandoned) && fs[1].Status == string(ledger.FileDone) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed import's file was not read on within 2 min: %+v\n%s", fs, logs.String())
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
	t.Parallel() // it waits on child processes, mostly: it runs beside the others
	if testing.Short() {
		t.Skip("runs flabsync as child processes")
	}
	n := lifecycleRows()
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
	deadline = time.Now().Add(2 * time.Minute)
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
	if len(recorded) == 0 || len(recorded) > n {
		t.Fatalf("%d bookings recorded of %d rows", len(recorded), n)
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

// TestKilledServesWorkMovesToTheOther: two serves on one PostgreSQL
// share 16 files; one is killed with kill -9 mid-way. The other takes
// over its claimed files and in-flight bookings once its heartbeat has
// lapsed (3s here; inbox.takeover_after, 1m by default, was 15m) and
// finishes within two minutes: every file read to its end once, every
// row booked once, nothing twice at Flabs.
func TestKilledServesWorkMovesToTheOther(t *testing.T) {
	t.Parallel() // it waits on child processes, mostly: it runs beside the others
	if testing.Short() {
		t.Skip("runs flabsync as child processes")
	}
	dsn := storetest.PostgresSchemaURL(t)
	c, err := fixtures.LoadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	sim := flabstest.NewTestServer(t, flabstest.Options{Labs: []flabs.Lab{c.Lab}, Tests: c.Tests, Packages: c.Packages,
		Latency: 5 * time.Millisecond, Webhooks: flabstest.WebhookOptions{Manual: true}})
	dir := t.TempDir()
	inboxDir := filepath.Join(dir, "inbox")
	cfg := fmt.Sprintf(`database: %q
flabs: {base_url: %s, client_id: demo, client_secret: demo, rate_per_second: 40, burst: 4}
default_lead_source: sheet
inbox: {dir: %s, archive_dir: %s, error_dir: %s, settle: 200ms, concurrency: 4, takeover_after: 3s}
serve: {listen: "127.0.0.1:0", shutdown_timeout: 10s}
webhook: {listen: "127.0.0.1:0", auth_token: test-token}
schedules: {import: "@every 1s", mapping-sync: "off", reconcile: "off", expected-drops: "off", prune: "off"}
log: {level: warn}
`, dsn, sim.URL(), inboxDir, filepath.Join(dir, "archive"), filepath.Join(dir, "errors"))
	os.WriteFile(filepath.Join(dir, "flabsync.yaml"), []byte(cfg), 0o644)
	if out, err := child(t, dir, "mapping", "sync").CombinedOutput(); err != nil {
		t.Fatalf("mapping sync: %v\n%s", err, out)
	}
	const files, rows = 16, 25
	os.MkdirAll(inboxDir, 0o755)
	for i := range files {
		var b strings.Builder
		b.WriteString("Booking ID,Patient Name,Age,Gender,Tests\n")
		for r := range rows {
			fmt.Fprintf(&b, "K%02d-%02d,Patient %d,%d,F,CBC\n", i, r, r, 30+r)
		}
		tmp := filepath.Join(inboxDir, fmt.Sprintf("clinic%02d.csv.part", i))
		os.WriteFile(tmp, []byte(b.String()), 0o644)
		os.Rename(tmp, filepath.Join(inboxDir, fmt.Sprintf("clinic%02d_2026.csv", i)))
	}
	startProc := func(name string) (*exec.Cmd, *syncBuffer) {
		cmd := child(t, dir, "serve", "--name", name)
		var buf syncBuffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd, &buf
	}
	a, _ := startProc("a")
	b, blog := startProc("b")
	// Kill a once it holds files and has booked some of them.
	deadline := time.Now().Add(60 * time.Second)
	for {
		held, _ := filepath.Glob(filepath.Join(inboxDir, ".processing", "a", "*", "*.csv"))
		if len(held) > 0 && sim.Stats().Created.Load() >= 60 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("serve a never held a file while bookings were being made")
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.Process.Signal(syscall.SIGKILL)
	a.Wait()
	killed := time.Now()
	held, _ := filepath.Glob(filepath.Join(inboxDir, ".processing", "a", "*", "*.csv"))
	t.Logf("killed a holding %d files after %d bookings", len(held), sim.Stats().Created.Load())

	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for {
		archived, _ := filepath.Glob(filepath.Join(dir, "archive", "*", "*.csv"))
		var open int
		db.Get(&open, `SELECT COUNT(*) FROM bookings WHERE status IN ('pending', 'in_flight', 'retry')`)
		if len(archived) == files && open == 0 {
			break
		}
		if time.Since(killed) > 2*time.Minute {
			t.Fatalf("2 min after the kill: %d of %d files archived, %d bookings open\nserve b:\n%s", len(archived), files, open, blog)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("b finished everything %s after a was killed", time.Since(killed).Round(100*time.Millisecond))
	b.Process.Signal(syscall.SIGTERM)
	if err := b.Wait(); err != nil {
		t.Errorf("serve b exit: %v\n%s", err, blog)
	}
	if d := sim.DoubleBooked(); len(d) > 0 {
		t.Errorf("double-booked: %v", d)
	}
	for i := range files {
		for r := range rows {
			id := fmt.Sprintf("clinic%02d:K%02d-%02d", i, i, r)
			if got := len(sim.BookingsFor(id)); got != 1 {
				t.Errorf("%s booked %d times", id, got)
			}
		}
	}
	var perFile []struct {
		Name string `db:"name"`
		Done int    `db:"done"`
		Open int    `db:"open"`
	}
	db.Select(&perFile, db.Rebind(`SELECT name, SUM(CASE WHEN status = ? THEN 1 ELSE 0 END) AS done,
	SUM(CASE WHEN status = ? THEN 1 ELSE 0 END) AS open FROM files GROUP BY name`), ledger.FileDone, ledger.FileReading)
	for _, f := range perFile {
		if f.Done != 1 || f.Open != 0 {
			t.Errorf("%s: read to its end %d times, %d still reading", f.Name, f.Done, f.Open)
		}
	}
	if len(perFile) != files {
		t.Errorf("%d files in the ledger, want %d", len(perFile), files)
	}
}

// TestSmallFileNotBehindBigOne: one serve, a 300-row sheet from one
// clinic, then a 5-row sheet from another. The big file no longer holds
// the claim of the small one (files were handled one after another): both
// are in hand at once, the submitter takes the clinics in turn, and the
// 5 rows are booked while most of the big file still waits, its file
// archived first.
func TestSmallFileNotBehindBigOne(t *testing.T) {
	t.Parallel() // it waits on child processes, mostly: it runs beside the others
	if testing.Short() {
		t.Skip("runs flabsync as a child process")
	}
	dir, _, sim := sendRig(t, 1, flabstest.Options{Latency: 5 * time.Millisecond})
	inboxDir := withServe(t, dir, func(cfg string) string {
		return strings.Replace(cfg, "rate_per_second: 200", "rate_per_second: 100", 1)
	})
	logs, stop := startServe(t, dir)
	sheet := func(prefix string, n int) []byte {
		var b strings.Builder
		b.WriteString("Booking ID,Patient Name,Age,Gender,Tests\n")
		for i := range n {
			fmt.Fprintf(&b, "%s-%03d,Patient %d,%d,F,CBC\n", prefix, i, i, 20+i%50)
		}
		return []byte(b.String())
	}
	os.MkdirAll(inboxDir, 0o755)
	os.WriteFile(filepath.Join(inboxDir, "bigclinic_2026.csv"), sheet("B", 300), 0o644)
	waitCreated(t, sim, 20) // the big file is being sent
	os.WriteFile(filepath.Join(inboxDir, "smallclinic_2026.csv"), sheet("S", 5), 0o644)
	deadline := time.Now().Add(30 * time.Second)
	for {
		done := 0
		for i := range 5 {
			if len(sim.BookingsFor(fmt.Sprintf("smallclinic:S-%03d", i))) == 1 {
				done++
			}
		}
		if done == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the small file's 5 rows booked in 30s\n%s", done, logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	big := sim.Stats().Created.Load() - 5
	t.Logf("the small file's 5 rows were booked when %d of the big file's 300 were", big)
	if big >= 250 {
		t.Errorf("the small file's rows waited behind the big file: booked after %d of its 300 rows", big)
	}
	archived := func(name string) bool {
		m, _ := filepath.Glob(filepath.Join(dir, "archive", "*", name))
		return len(m) == 1
	}
	for !archived("smallclinic_2026.csv") {
		if time.Now().After(deadline) {
			t.Fatalf("the small file not archived in 30s\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if archived("bigclinic_2026.csv") {
		t.Errorf("the big file was done before the small one")
	}
	for !archived("bigclinic_2026.csv") {
		if time.Now().After(deadline) {
			t.Fatalf("the big file not archived in 30s\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if d := sim.DoubleBooked(); len(d) > 0 {
		t.Errorf("double-booked: %v", d)
	}
}
