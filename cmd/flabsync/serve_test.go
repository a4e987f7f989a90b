package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flabsync/flabsync/fixtures"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
)

// TestTwoServesOnOnePostgres: two `flabsync serve` processes share one
// PostgreSQL and one inbox folder. Every file is processed once, every
// booking booked once, each process does a fair part, together they keep
// to Flabs' one limit (hardly a 429), and no job runs on both at the
// same time.
func TestTwoServesOnOnePostgres(t *testing.T) {
	t.Parallel() // it waits on child processes, mostly: it runs beside the others
	if testing.Short() {
		t.Skip("runs flabsync as child processes")
	}
	dsn := storetest.PostgresSchemaURL(t)
	c, err := fixtures.LoadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	// Flabs allows 15 calls a second; each serve may book 10 a second,
	// leaving room for the catalogue calls of mapping-sync (every 2 s
	// here, on both): together they must keep to 10, not make 20.
	const limit = 10
	sim := flabstest.NewTestServer(t, flabstest.Options{Labs: []flabs.Lab{c.Lab}, Tests: c.Tests, Packages: c.Packages,
		Latency: 5 * time.Millisecond, Webhooks: flabstest.WebhookOptions{Manual: true}, RateLimit: 15, RateBurst: 5})
	dir := t.TempDir()
	inboxDir := filepath.Join(dir, "inbox")
	cfg := fmt.Sprintf(`database: %q
flabs: {base_url: %s, client_id: demo, client_secret: demo, rate_per_second: 10, burst: 5}
default_lead_source: sheet
inbox: {dir: %s, archive_dir: %s, error_dir: %s, settle: 300ms}
serve: {listen: "127.0.0.1:0", shutdown_timeout: 10s}
webhook: {listen: "127.0.0.1:0", auth_token: test-token}
schedules: {import: "@every 1s", mapping-sync: "@every 2s", expected-drops: "off"}
log: {level: warn}
`, dsn, sim.URL(), inboxDir, filepath.Join(dir, "archive"), filepath.Join(dir, "errors"))
	if err := os.WriteFile(filepath.Join(dir, "flabsync.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := child(t, dir, "mapping", "sync").CombinedOutput(); err != nil {
		t.Fatalf("mapping sync: %v\n%s", err, out)
	}
	var procs []*exec.Cmd
	var logs []*syncBuffer
	for _, name := range []string{"a", "b"} {
		cmd := child(t, dir, "serve", "--name", name)
		var buf syncBuffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs, logs = append(procs, cmd), append(logs, &buf)
	}
	t.Cleanup(func() {
		for _, p := range procs {
			p.Process.Kill()
		}
	})
	const files, rows = 30, 4
	os.MkdirAll(inboxDir, 0o755)
	for i := range files {
		var b strings.Builder
		b.WriteString("Booking ID,Patient Name,Age,Gender,Tests\n")
		for r := range rows {
			fmt.Fprintf(&b, "F%02d-%d,Patient %d,%d,F,CBC\n", i, r, r, 30+r)
		}
		// Written under a temporary name and renamed, as a careful uploader does.
		tmp := filepath.Join(inboxDir, fmt.Sprintf("clinic%d_2026.csv.part", i%3))
		os.WriteFile(tmp, []byte(b.String()), 0o644)
		os.Rename(tmp, filepath.Join(inboxDir, fmt.Sprintf("clinic%d_2026-%02d.csv", i%3, i)))
	}
	// A guard against a hang, not a speed test: this takes seconds. (It
	// caught the import job claiming files and never handling them; the
	// diagnostics below are what found it.)
	deadline := time.Now().Add(4 * time.Minute)
	for {
		archived, _ := filepath.Glob(filepath.Join(dir, "archive", "*", "*.csv"))
		if len(archived) == files {
			break
		}
		if time.Now().After(deadline) {
			// Where the rest are, and what each process was doing: a
			// SIGQUIT makes a Go program print every goroutine's stack.
			var where []string
			filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() && !strings.Contains(p, string(filepath.Separator)+"archive"+string(filepath.Separator)) {
					rel, _ := filepath.Rel(dir, p)
					where = append(where, rel)
				}
				return nil
			})
			for _, p := range procs {
				p.Process.Signal(syscall.SIGQUIT)
			}
			time.Sleep(2 * time.Second)
			t.Fatalf("%d of %d files archived in 4 min; other files: %v\nserve a:\n%s\nserve b:\n%s", len(archived), files, where, logs[0], logs[1])
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // let a few more mapping-sync turns fire on both
	for _, p := range procs {
		p.Process.Signal(syscall.SIGTERM)
	}
	for i, p := range procs {
		if err := p.Wait(); err != nil {
			t.Errorf("serve %d exited: %v\n%s", i, err, logs[i])
		}
	}

	if d := sim.DoubleBooked(); len(d) > 0 {
		t.Errorf("double-booked: %v", d)
	}
	if n := sim.Stats().Created.Load(); n != files*rows {
		t.Errorf("%d bookings created, want %d", n, files*rows)
	}
	// One Flabs limit for the lab: the two processes share it (a token
	// bucket in PostgreSQL), so Flabs hardly ever says 429, and together
	// they book no faster than it allows.
	var first, last time.Time
	booked, throttled := 0, map[string]int{}
	for _, r := range sim.Requests() {
		if r.Status == 429 {
			throttled[r.Path]++
		}
		if r.Path == flabs.PathBillingCreate && r.Status == 200 {
			if first.IsZero() {
				first = r.Time
			}
			last, booked = r.Time, booked+1
		}
	}
	rate := float64(booked-5) / last.Sub(first).Seconds() // the burst of 5 comes free
	t.Logf("together: %d booked at %.1f/s (limit %d), 429s by path: %v", booked, rate, limit, throttled)
	if n := throttled[flabs.PathBillingCreate]; n > 2 {
		t.Errorf("Flabs answered 429 to %d billing creates: the processes do not share its limit", n)
	}
	if rate > limit*1.15 {
		t.Errorf("together the processes booked %.1f a second; Flabs allows %d", rate, limit)
	}
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var perFile []struct {
		Name   string `db:"name"`
		N      int    `db:"n"`
		Holder string `db:"holder"`
	}
	if err := db.Select(&perFile, `SELECT name, COUNT(*) AS n, MIN(claimed_by) AS holder FROM files GROUP BY name`); err != nil {
		t.Fatal(err)
	}
	holders := map[string]int{}
	for _, f := range perFile {
		if f.N != 1 {
			t.Errorf("%s processed %d times", f.Name, f.N)
		}
		holders[strings.SplitN(f.Holder, ":", 2)[0]]++
	}
	if len(perFile) != files {
		t.Errorf("%d files recorded, want %d", len(perFile), files)
	}
	t.Logf("files per process: %v", holders)
	// Work spreads: a process claims only what it has free slots for
	// (inbox.concurrency), so the first to look does not take them all.
	for _, name := range []string{"a", "b"} {
		if holders[name] < files/4 {
			t.Errorf("serve %s handled %d of %d files; each should handle a fair part", name, holders[name], files)
		}
	}
	// No two runs of one job overlap, whichever process ran them.
	var runs []struct {
		Job    string     `db:"job"`
		Holder string     `db:"holder"`
		Start  store.Time `db:"started_at"`
		End    store.Time `db:"finished_at"`
	}
	if err := db.Select(&runs, `SELECT job, holder, started_at, finished_at FROM job_runs ORDER BY job, started_at`); err != nil {
		t.Fatal(err)
	}
	byJob := map[string]int{}
	for i, r := range runs {
		byJob[r.Job]++
		if r.End.IsZero() {
			t.Errorf("%s run by %s never finished", r.Job, r.Holder)
		}
		if i > 0 && runs[i-1].Job == r.Job && r.Start.Before(runs[i-1].End.Time) {
			t.Errorf("%s ran on %s and %s at the same time", r.Job, runs[i-1].Holder, r.Holder)
		}
	}
	if byJob["mapping-sync"] < 2 {
		t.Errorf("mapping-sync ran %d times in several seconds of @every 2s", byJob["mapping-sync"])
	}
	t.Logf("job runs: %v", byJob)
}

// TestServeInbox: one serve on SQLite. A sheet is sent; the same bytes
// under another name are archived as a duplicate and send nothing; a PDF
// lands in errors/ with its reason; /healthz, /readyz and /metrics
// answer.
func TestServeInbox(t *testing.T) {
	t.Parallel() // it waits on child processes, mostly: it runs beside the others
	if testing.Short() {
		t.Skip("runs flabsync as a child process")
	}
	dir, sheet, sim := sendRig(t, 6, flabstest.Options{})
	inboxDir := withServe(t, dir, nil)
	cmd := child(t, dir, "serve")
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	body, _ := os.ReadFile(sheet)
	os.MkdirAll(inboxDir, 0o755)
	os.WriteFile(filepath.Join(inboxDir, "crashclinic_a.csv"), body, 0o644)
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 20s\n%s", what, logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	archived := func(n int) func() bool {
		return func() bool { m, _ := filepath.Glob(filepath.Join(dir, "archive", "*", "*")); return len(m) == n }
	}
	waitFor("first file archived", archived(1))
	if n := sim.Stats().Created.Load(); n != 6 {
		t.Fatalf("%d bookings created, want 6", n)
	}
	before := len(sim.Requests())
	os.WriteFile(filepath.Join(inboxDir, "crashclinic_b.csv"), body, 0o644)
	pdf, _ := os.ReadFile(filepath.Join("..", "..", "fixtures", "sheets", "refused", "scan.pdf"))
	os.WriteFile(filepath.Join(inboxDir, "crashclinic_scan.pdf"), pdf, 0o644)
	waitFor("duplicate archived", archived(2))
	waitFor("pdf refused", func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, "errors", "*", "crashclinic_scan.pdf.error.txt"))
		return len(m) == 1
	})
	if after := len(sim.Requests()); after != before {
		t.Errorf("the duplicate file made %d requests", after-before)
	}
	reason, _ := filepath.Glob(filepath.Join(dir, "errors", "*", "crashclinic_scan.pdf.error.txt"))
	text, _ := os.ReadFile(reason[0])
	if !strings.Contains(string(text), "PDF") || !strings.Contains(string(text), "What to do") {
		t.Errorf("reason file:\n%s", text)
	}
	addr := regexp.MustCompile(`admin (http://[0-9.:]+)`).FindStringSubmatch(logs.String())
	if addr == nil {
		t.Fatalf("serve did not say where its admin endpoints are:\n%s", logs.String())
	}
	for path, want := range map[string]string{"/readyz": "ready", "/healthz": "ok",
		"/metrics": `flabsync_rows_total{outcome="submitted"} 6`} {
		resp, err := http.Get(addr[1] + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d, lacks %q", path, resp.StatusCode, want)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve exit: %v\n%s", err, logs.String())
	}
	out, err := child(t, dir, "status", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"done": 1`, `"duplicate": 1`, `"failed": 1`, `"submitted": 6`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("status lacks %s:\n%s", want, out)
		}
	}
}

// TestServeRefusedCredentialsExits: Flabs refuses the secret. serve does
// not sit there claiming files it cannot send: it exits non-zero with a
// plain message naming the keys to fix (so a service manager restarts it
// and alerts), and the file dropped meanwhile is still in the inbox.
func TestServeRefusedCredentialsExits(t *testing.T) {
	if testing.Short() {
		t.Skip("runs flabsync as a child process")
	}
	dir, sheet, sim := sendRig(t, 3, flabstest.Options{})
	inboxDir := withServe(t, dir, func(cfg string) string {
		return strings.Replace(cfg, "client_secret: demo", "client_secret: rotated-by-someone", 1)
	})
	body, _ := os.ReadFile(sheet)
	os.MkdirAll(inboxDir, 0o755)
	dropped := filepath.Join(inboxDir, "crashclinic_a.csv")
	os.WriteFile(dropped, body, 0o644)

	cmd := child(t, dir, "serve")
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != ExitPartial {
			t.Fatalf("serve exit: %v, want exit code %d\n%s", err, ExitPartial, logs.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("serve still running 30s after Flabs refused its credentials\n%s", logs.String())
	}
	if out := logs.String(); !strings.Contains(out, "flabs.client_secret") {
		t.Errorf("the message does not say what to fix:\n%s", out)
	}
	if _, err := os.Stat(dropped); err != nil {
		t.Errorf("the file left the inbox although nothing could be sent: %v", err)
	}
	if n := sim.Stats().Created.Load(); n != 0 {
		t.Errorf("%d bookings created with refused credentials", n)
	}
}

// TestServeResumesUnsentBookings: an import stopped by refused
// credentials leaves its bookings pending in the ledger. Once the
// credentials are right, serve sends them by itself — no file dropped
// again — and each is booked once.
func TestServeResumesUnsentBookings(t *testing.T) {
	t.Parallel() // it waits on child processes, mostly: it runs beside the others
	if testing.Short() {
		t.Skip("runs flabsync as child processes")
	}
	const n = 5
	dir, sheet, sim := sendRig(t, n, flabstest.Options{})
	cfgPath := filepath.Join(dir, "flabsync.yaml")
	good, _ := os.ReadFile(cfgPath)
	bad := strings.Replace(string(good), "client_secret: demo", "client_secret: rotated-by-someone", 1)
	os.WriteFile(cfgPath, []byte(bad), 0o600)
	if out, err := child(t, dir, "import", sheet).CombinedOutput(); err == nil {
		t.Fatalf("import with refused credentials succeeded:\n%s", out)
	}
	if c := sim.Stats().Created.Load(); c != 0 {
		t.Fatalf("%d created with refused credentials", c)
	}
	// The refused run was long ago: its claim on the bookings has lapsed.
	db, err := store.Open(t.Context(), "sqlite:"+filepath.Join(dir, "flabsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(db.Rebind(`UPDATE bookings SET updated_at = ?`), store.T(time.Now().Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	db.Close()

	os.WriteFile(cfgPath, good, 0o600)
	withServe(t, dir, nil)
	cmd := child(t, dir, "serve")
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	deadline := time.Now().Add(30 * time.Second)
	for sim.Stats().Created.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d unsent bookings sent by serve within 30s\n%s", sim.Stats().Created.Load(), n, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve exit: %v\n%s", err, logs.String())
	}
	if d := sim.DoubleBooked(); len(d) > 0 {
		t.Errorf("double-booked: %v", d)
	}
	out, _ := child(t, dir, "status", "--json").Output()
	if !strings.Contains(string(out), fmt.Sprintf(`"submitted": %d`, n)) {
		t.Errorf("status after serve:\n%s", out)
	}
}

// withServe adds to dir's config (as sendRig wrote it, edited by edit if
// not nil) what serve needs — an inbox under dir, loopback listeners, a
// webhook token — and returns the inbox folder.
func withServe(t *testing.T, dir string, edit func(string) string) string {
	t.Helper()
	path := filepath.Join(dir, "flabsync.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	if edit != nil {
		cfg = edit(cfg)
	}
	inboxDir := filepath.Join(dir, "inbox")
	cfg += fmt.Sprintf("inbox: {dir: %s, archive_dir: %s, error_dir: %s, settle: 100ms}\nserve: {listen: \"127.0.0.1:0\"}\nwebhook: {listen: \"127.0.0.1:0\", auth_token: test-token}\n",
		inboxDir, filepath.Join(dir, "archive"), filepath.Join(dir, "errors"))
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return inboxDir
}
