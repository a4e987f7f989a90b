package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flabsync/flabsync/fixtures"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/pipeline/ledger"
)

// syncBuffer collects a child process's output; tests read it while the
// child still writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// child runs this test binary as flabsync in dir.
func child(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "FLABSYNC_TEST_MAIN=1", "FLABSYNC_CONFIG="+filepath.Join(dir, "flabsync.yaml"))
	return cmd
}

// sendRig is a real SQLite file, a simulator on loopback with the sample
// catalogue, a config pointing at both, a synced catalogue and a sheet of
// n bookings.
func sendRig(t *testing.T, n int, o flabstest.Options) (dir, sheet string, sim *flabstest.Server) {
	t.Helper()
	c, err := fixtures.LoadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	o.Labs, o.Tests, o.Packages, o.Webhooks.Manual = []flabs.Lab{c.Lab}, c.Tests, c.Packages, true
	sim = flabstest.NewTestServer(t, o)
	dir = t.TempDir()
	cfg := fmt.Sprintf("database: sqlite:%s\nflabs:\n  base_url: %s\n  client_id: demo\n  client_secret: demo\n  rate_per_second: 200\n  burst: 10\n  concurrency: 8\n  timeout: 2s\ndefault_lead_source: sheet\nlog:\n  level: warn\n",
		filepath.Join(dir, "flabsync.db"), sim.URL())
	if err := os.WriteFile(filepath.Join(dir, "flabsync.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("Booking ID,Patient Name,Age,Gender,Tests\n")
	for i := range n {
		fmt.Fprintf(&b, "BK-%05d,Patient %d,%d,%s,CBC; Lipid Profile\n", i, i, 20+i%50, []string{"M", "F"}[i%2])
	}
	sheet = filepath.Join(dir, "crashclinic_2026-11-25.csv")
	if err := os.WriteFile(sheet, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := child(t, dir, "mapping", "sync").CombinedOutput(); err != nil {
		t.Fatalf("mapping sync: %v\n%s", err, out)
	}
	return dir, sheet, sim
}

// waitCreated waits until the simulator has created at least n bookings.
func waitCreated(t *testing.T, sim *flabstest.Server, n int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for sim.Stats().Created.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d bookings created in 20s", sim.Stats().Created.Load())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// assertExactlyOnce: every row of the sheet is booked at Flabs exactly
// once and the ledger says submitted.
func assertExactlyOnce(t *testing.T, dir string, sim *flabstest.Server, n int) {
	t.Helper()
	if d := sim.DoubleBooked(); len(d) > 0 {
		t.Fatalf("double-booked at Flabs: %v", d)
	}
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("crashclinic:BK-%05d", i)
		if got := len(sim.BookingsFor(ids[i])); got != 1 {
			t.Errorf("%s booked %d times, want once", ids[i], got)
		}
	}
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "flabsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := ledger.New(db).States(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		// Unconfirmed: resent after the kill and refused as already there;
		// booked in fact, but only a webhook (or a person) may say so.
		if s := st[id].Status; s != ledger.Submitted && s != ledger.Unconfirmed {
			t.Errorf("ledger: %s is %q, want submitted (or unconfirmed)", id, s)
		}
	}
}

// unconfirmedIn reads "N unconfirmed" from an import's account.
func unconfirmedIn(out string) int {
	m := regexp.MustCompile(`(\d+) unconfirmed`).FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// resends counts billing creates per integrator ID beyond the first.
func resends(sim *flabstest.Server) (ids int, extra int) {
	per := map[string]int{}
	for _, r := range sim.Requests() {
		if r.IntegratorID != "" {
			per[r.IntegratorID]++
		}
	}
	for _, n := range per {
		if n > 1 {
			ids++
			extra += n - 1
		}
	}
	return ids, extra
}

func TestKill9MidRunNeverBooksTwice(t *testing.T) {
	t.Parallel() // it waits on child processes, mostly: it runs beside the others
	if testing.Short() {
		t.Skip("runs flabsync as a child process")
	}
	const n = 400
	dir, sheet, sim := sendRig(t, n, flabstest.Options{Latency: 40 * time.Millisecond, Seed: 3})

	first := child(t, dir, "import", "--no-progress", sheet)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	waitCreated(t, sim, 100)
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	created := sim.Stats().Created.Load()
	if created >= n {
		t.Fatalf("the first run finished (%d created) before it was killed; the test proves nothing", created)
	}

	var out bytes.Buffer
	second := child(t, dir, "import", "--no-progress", sheet)
	second.Stdout, second.Stderr = &out, &out
	err := second.Run()
	// A resend of what was in flight that Flabs refuses as already there
	// proves nothing: those rows are unconfirmed, and the run says so
	// with exit 1.
	u := unconfirmedIn(out.String())
	if (err != nil) != (u > 0) {
		t.Fatalf("second run: %v with %d unconfirmed\n%s", err, u, out.String())
	}
	assertExactlyOnce(t, dir, sim, n)
	// Only what may have been on its way when the process died is sent a
	// second time: at most one request per worker.
	ids, extra := resends(sim)
	if ids > 8 {
		t.Errorf("%d bookings were sent more than once; at most the 8 in flight at the kill may be", ids)
	}
	if u > ids {
		t.Errorf("%d unconfirmed, but only %d bookings were resent", u, ids)
	}
	t.Logf("killed after %d of %d bookings; the next run resent %d that were in flight (%d extra requests; %d answered 409: unconfirmed)", created, n, ids, extra, u)
	if !strings.Contains(out.String(), "duplicate") || !strings.Contains(out.String(), "(balanced)") {
		t.Errorf("second run's account:\n%s", out.String())
	}

	// The same file dropped again sends nothing at all.
	before := len(sim.Requests())
	out.Reset()
	third := child(t, dir, "import", "--no-progress", sheet)
	third.Stdout, third.Stderr = &out, &out
	if err := third.Run(); (err != nil) != (u > 0) {
		t.Fatalf("third run: %v\n%s", err, out.String())
	}
	if after := len(sim.Requests()); after != before {
		t.Errorf("a re-dropped file made %d requests", after-before)
	}
	if !strings.Contains(out.String(), fmt.Sprintf("0 submitted, 0 rejected, 0 refused by Flabs, %d duplicate", n-u)) || unconfirmedIn(out.String()) != u {
		t.Errorf("re-drop account:\n%s", out.String())
	}
}

func TestSIGTERMStopsCleanly(t *testing.T) {
	t.Parallel() // it waits on child processes, mostly: it runs beside the others
	if testing.Short() {
		t.Skip("runs flabsync as a child process")
	}
	const n = 300
	dir, sheet, sim := sendRig(t, n, flabstest.Options{Latency: 40 * time.Millisecond, FailRate: 0.1, Seed: 5})
	var out bytes.Buffer
	first := child(t, dir, "import", "--no-progress", sheet)
	first.Stdout, first.Stderr = &out, &out
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	waitCreated(t, sim, 60)
	first.Process.Signal(syscall.SIGTERM)
	err := first.Wait()
	if code := first.ProcessState.ExitCode(); code != ExitPartial {
		t.Fatalf("exit %d (%v), want %d after a stop\n%s", code, err, ExitPartial, out.String())
	}
	if !strings.Contains(out.String(), "stopped") || !strings.Contains(out.String(), "(balanced)") {
		t.Errorf("stop account:\n%s", out.String())
	}
	// Nothing is left in flight: every request on its way was answered and
	// recorded before the process ended.
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "flabsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	var inFlight int
	db.Get(&inFlight, `SELECT COUNT(*) FROM bookings WHERE status = 'in_flight'`)
	db.Close()
	if inFlight != 0 {
		t.Errorf("%d bookings left in flight after a graceful stop", inFlight)
	}
	out.Reset()
	second := child(t, dir, "import", "--no-progress", sheet)
	second.Stdout, second.Stderr = &out, &out
	if err := second.Run(); err != nil {
		t.Fatalf("second run: %v\n%s", err, out.String())
	}
	assertExactlyOnce(t, dir, sim, n)
}

// TestImportJSONAddsFinalStates: a real import's --json keeps the dry
// run's shape and adds each booking's state and the file's counts.
func TestImportJSONAddsFinalStates(t *testing.T) {
	if testing.Short() {
		t.Skip("runs flabsync as a child process")
	}
	dir, sheet, _ := sendRig(t, 5, flabstest.Options{})
	// A row Flabs will refuse is not possible from a valid sheet; a
	// held one is: no lead source for this partner.
	cfg, _ := os.ReadFile(filepath.Join(dir, "flabsync.yaml"))
	os.WriteFile(filepath.Join(dir, "flabsync.yaml"), bytes.Replace(cfg, []byte("default_lead_source: sheet\n"), nil, 1), 0o644)
	cmd := child(t, dir, "import", "--json", sheet)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != ExitPartial {
		t.Fatalf("exit %d, want %d (held rows)\n%s", code, ExitPartial, stderr.String())
	}
	var rep struct {
		File     string `json:"file"`
		RowsIn   int    `json:"rows_in"`
		Accepted []struct {
			IntegratorID string         `json:"integrator_id"`
			Request      map[string]any `json:"request"`
			State        string         `json:"state"`
			Error        string         `json:"error"`
		} `json:"accepted"`
		Rejected []any          `json:"rejected"`
		Counts   map[string]int `json:"counts"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	if rep.RowsIn != 5 || len(rep.Accepted) != 5 || rep.Counts["held"] != 5 || rep.Counts["rows_in"] != 5 {
		t.Fatalf("report: %+v", rep)
	}
	for _, a := range rep.Accepted {
		if a.State != string(ledger.Held) || !strings.Contains(a.Error, "lead_source") || a.Request["integrator_id"] != a.IntegratorID {
			t.Errorf("booking %+v", a)
		}
	}
	// With a lead source configured, the same file sends the held rows.
	os.WriteFile(filepath.Join(dir, "flabsync.yaml"), cfg, 0o644)
	stdout.Reset()
	cmd = child(t, dir, "import", "--json", sheet)
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	json.Unmarshal(stdout.Bytes(), &rep)
	for _, a := range rep.Accepted {
		if a.State != string(ledger.Submitted) {
			t.Errorf("after adding a lead source: %+v", a)
		}
	}
}

// TestImportListsEveryRowNotThrough: the account names every row that
// did not go through — here Flabs refuses the lead source — with its
// state and Flabs' answer (its status and class: Flabs' words may echo
// the patient, and are not kept), not only the rows rejected locally.
func TestImportListsEveryRowNotThrough(t *testing.T) {
	if testing.Short() {
		t.Skip("runs flabsync as a child process")
	}
	dir, sheet, _ := sendRig(t, 3, flabstest.Options{ForbiddenLeadSources: []string{"sheet"}})
	out, err := child(t, dir, "import", "--no-progress", sheet).Output()
	if err == nil {
		t.Fatalf("import of refused rows exited 0:\n%s", out)
	}
	for i := range 3 {
		line := fmt.Sprintf("crashclinic:BK-%05d", i)
		if !strings.Contains(string(out), line) {
			t.Errorf("the account does not list %s:\n%s", line, out)
		}
	}
	if !strings.Contains(string(out), "rejected") || !strings.Contains(string(out), "403 Forbidden") {
		t.Errorf("the account lacks the state and Flabs' answer:\n%s", out)
	}
}
