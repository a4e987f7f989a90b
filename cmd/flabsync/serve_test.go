package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
// booking booked once, and no job runs on both at the same time.
func TestTwoServesOnOnePostgres(t *testing.T) {
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
flabs: {base_url: %s, client_id: demo, client_secret: demo, rate_per_second: 200, burst: 20}
default_lead_source: sheet
inbox: {dir: %s, archive_dir: %s, error_dir: %s, settle: 300ms}
serve: {listen: "127.0.0.1:0", shutdown_timeout: 10s}
schedules: {import: "@every 1s", mapping-sync: "@every 1s", expected-drops: "off"}
log: {level: warn}
`, dsn, sim.URL(), inboxDir, filepath.Join(dir, "archive"), filepath.Join(dir, "errors"))
	if err := os.WriteFile(filepath.Join(dir, "flabsync.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := child(t, dir, "mapping", "sync").CombinedOutput(); err != nil {
		t.Fatalf("mapping sync: %v\n%s", err, out)
	}
	var procs []*exec.Cmd
	var logs []*bytes.Buffer
	for _, name := range []string{"a", "b"} {
		cmd := child(t, dir, "serve", "--name", name)
		var buf bytes.Buffer
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
	deadline := time.Now().Add(60 * time.Second)
	for {
		archived, _ := filepath.Glob(filepath.Join(dir, "archive", "*", "*.csv"))
		if len(archived) == files {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d files archived in 60s\nserve a:\n%s\nserve b:\n%s", len(archived), files, logs[0], logs[1])
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
		t.Errorf("mapping-sync ran %d times in several seconds of @every 1s", byJob["mapping-sync"])
	}
	t.Logf("job runs: %v", byJob)
}
