package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/schedules"
)

// TestHandRunTakesTheJobsLease: while serve (another process) holds a
// job, `flabsync reconcile`, `mapping sync` and `prune` run by hand wait
// briefly, then say who holds the job and exit 1, having written nothing
// (no job run, no workbook, no exception); once it is free they run and
// are recorded under this process. On SQLite and PostgreSQL.
func TestHandRunTakesTheJobsLease(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dir := t.TempDir()
			dsn := "sqlite:" + filepath.Join(dir, "flabsync.db")
			if backend == "postgres" {
				dsn = storetest.PostgresSchemaURL(t)
			}
			ctx := context.Background()
			db, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			conf := "database: " + dsn + "\ninbox:\n  archive_dir: " + filepath.Join(dir, "a") + "\n  error_dir: " + filepath.Join(dir, "e") +
				"\nreport:\n  dir: " + filepath.Join(dir, "r") +
				"\nflabs:\n  base_url: http://127.0.0.1:9\n  client_id: x\n  client_secret: y\n"
			cfgPath := filepath.Join(dir, "flabsync.yaml")
			if err := os.WriteFile(cfgPath, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv(config.EnvPath, cfgPath)
			runCmd := func(args ...string) (int, string) {
				var stdout, stderr bytes.Buffer
				m := &Main{Stdout: &stdout, Stderr: &stderr, Stdin: strings.NewReader(""), JobWait: 100 * time.Millisecond}
				code := m.Run(t.Context(), args)
				return code, stdout.String() + stderr.String()
			}

			for _, tc := range []struct {
				job  string
				args []string
			}{
				{schedules.JobReconcile, []string{"reconcile"}},
				{schedules.JobMappingSync, []string{"mapping", "sync"}},
				{schedules.JobPrune, []string{"prune"}},
			} {
				if ok, err := db.AcquireLease(ctx, "job:"+tc.job, "serve@lab1:4242", time.Minute, time.Now()); !ok || err != nil {
					t.Fatalf("take %s's lease: %v %v", tc.job, ok, err)
				}
				code, out := runCmd(tc.args...)
				if code != ExitPartial || !strings.Contains(out, "serve@lab1:4242") || !strings.Contains(out, "waiting up to") {
					t.Errorf("%v while serve holds the job: exit %d\n%s\nwant exit 1 naming serve@lab1:4242", tc.args, code, out)
				}
				if runs, err := db.JobRuns(ctx, tc.job, 5); err != nil || len(runs) != 0 {
					t.Errorf("%v recorded %+v, %v while another held the job", tc.args, runs, err)
				}
				if err := db.ReleaseLease(ctx, "job:"+tc.job, "serve@lab1:4242"); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "r")); !os.IsNotExist(err) {
				t.Errorf("a refused reconcile wrote to report.dir (%v)", err)
			}
			var n int
			if err := db.GetContext(ctx, &n, `SELECT COUNT(*) FROM reconcile_runs`); err != nil || n != 0 {
				t.Errorf("a refused reconcile stored %d trend rows (%v)", n, err)
			}

			// Free: the hand runs run, recorded under this process.
			for _, args := range [][]string{{"reconcile"}, {"prune"}} {
				if code, out := runCmd(args...); code != ExitOK {
					t.Fatalf("%v: exit %d\n%s", args, code, out)
				}
				runs, err := db.JobRuns(ctx, args[0], 5)
				if err != nil || len(runs) != 1 || !strings.Contains(runs[0].Holder, " pid ") {
					t.Errorf("%v: job runs %+v, %v; want one, held by this process", args, runs, err)
				}
			}
		})
	}
}
