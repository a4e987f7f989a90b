package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flabsync/flabsync/fixtures"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
)

// A FIFO named as a file from outside — a sheet to import, a mapping
// table, a workbook back from ops — is refused at once, saying what it
// is: no command opens it and waits for a writer (which ignored SIGTERM).
func TestCommandsRefuseAFIFOAtOnce(t *testing.T) {
	c, err := fixtures.LoadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	sim := flabstest.NewTestServer(t, flabstest.Options{Labs: []flabs.Lab{c.Lab}, Tests: c.Tests, Packages: c.Packages})
	cfg := fmt.Sprintf("database: sqlite:%s\nflabs:\n  base_url: %s\n  client_id: demo\n  client_secret: demo\n  timeout: 2s\n",
		filepath.Join(t.TempDir(), "flabsync.db"), sim.URL())
	files := map[string]string{"flabsync.yaml": cfg}
	if code, stdout, stderr := run(t, files, "mapping", "sync"); code != ExitOK {
		t.Fatalf("mapping sync: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, args := range [][]string{
		{"import", "--dry-run", "sunrise_2026-11-24.csv"},
		{"import", "sunrise_2026-11-24.csv"},
		{"mapping", "import", "sunrise_2026-11-24.csv"},
		{"exceptions", "import", "sunrise_2026-11-24.csv"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			type result struct {
				code           int
				stdout, stderr string
			}
			done := make(chan result, 1)
			dir := t.TempDir()
			fifo := filepath.Join(dir, args[len(args)-1])
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
			args := append(args[:len(args)-1:len(args)-1], fifo)
			go func() {
				code, stdout, stderr := run(t, files, args...)
				done <- result{code, stdout, stderr}
			}()
			select {
			case r := <-done:
				if r.code == ExitOK || !strings.Contains(r.stdout+r.stderr, "named pipe") {
					t.Errorf("exit %d, want a refusal naming the FIFO\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
				}
			case <-time.After(30 * time.Second):
				// Only a command that hangs gets here: give it a writer
				// that closes at once, and fail.
				if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					w.Close()
				}
				t.Fatal("the command blocks on the FIFO")
			}
		})
	}
}
