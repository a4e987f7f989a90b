package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flabsync/flabsync/internal/config"
)

// run runs flabsync in-process in a fresh directory and returns the exit
// code and both outputs.
func run(t *testing.T, files map[string]string, args ...string) (int, string, string) {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv(config.EnvPath, "")
	t.Setenv("LOG_LEVEL", "")
	t.Setenv("LOG_FORMAT", "")
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	m := &Main{Stdout: &stdout, Stderr: &stderr, Stdin: strings.NewReader("")}
	code := m.Run(t.Context(), args)
	return code, stdout.String(), stderr.String()
}

// Cron and scripts read the exit code: 0 all good, 1 some rows or checks
// failed, 2 bad usage or config.
func TestExitCodes(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string]string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"help", nil, []string{"help"}, ExitOK, nil, []string{"Commands:", "config"}},
		{"no command", nil, nil, ExitUsage, nil, []string{"Usage:"}},
		{"unknown command", nil, []string{"frob"}, ExitUsage, nil, []string{`unknown command "frob"`}},
		{"command -h", nil, []string{"demo", "-h"}, ExitOK, nil, []string{"Usage: flabsync demo"}},
		{"bad flag", nil, []string{"demo", "--nope"}, ExitUsage, nil, []string{"-nope"}},
		{"config example", nil, []string{"config", "example"}, ExitOK, []string{"rate_per_second: 5", "bill_created_within"}, nil},
		{"config check defaults", nil, []string{"config", "check"}, ExitOK, []string{"built-in defaults", "database: sqlite:flabsync.db"}, nil},
		{"config check file", map[string]string{"flabsync.yaml": "flabs:\n  client_secret: topsecret\n  burst: 9\n"},
			[]string{"config", "check"}, ExitOK, []string{"flabsync.yaml (valid)", "burst: 9", "client_secret: xxxxx"}, nil},
		{"config check bad value", map[string]string{"c.yaml": "flabs:\n  burst: lots\n"},
			[]string{"config", "check", "--config", "c.yaml"}, ExitUsage, nil, []string{"c.yaml", "flabs.burst", `"lots"`}},
		{"config check several problems", map[string]string{"c.yaml": "flabs:\n  burst: 0\n  concurrency: 0\n"},
			[]string{"config", "check", "--config", "c.yaml"}, ExitUsage, nil, []string{"flabs.burst", "\n  flabs.concurrency"}},
		{"config check missing file", nil, []string{"config", "check", "--config", "gone.yaml"}, ExitUsage, nil, []string{"gone.yaml"}},
		{"config unknown sub", nil, []string{"config", "frob"}, ExitUsage, nil, []string{`"frob"`}},
		{"webhooks without flabs", nil, []string{"webhooks", "subscribe", "--endpoint", "https://x.example/h"}, ExitUsage, nil, []string{"flabs.base_url"}},
		{"demo", nil, []string{"demo"}, ExitOK, []string{"preBookingID", "never booked twice"}, nil},
		{"status", nil, []string{"status"}, ExitOK, []string{"sqlite:flabsync.db (schema v1)", "none run yet"}, nil},
		{"status unreachable database", map[string]string{"flabsync.yaml": "database: postgres://u:topsecret@127.0.0.1:1/x?sslmode=disable\n"},
			[]string{"status"}, ExitPartial, nil, []string{"cannot reach PostgreSQL at postgres://u:xxxxx@127.0.0.1:1/x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tt.files, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(stdout+stderr, "topsecret") {
				t.Error("a secret reached the output")
			}
			if strings.Contains(stderr, "goroutine ") {
				t.Errorf("stack trace printed:\n%s", stderr)
			}
		})
	}
}

func TestConfigExampleRoundTrips(t *testing.T) {
	_, example, _ := run(t, nil, "config", "example")
	code, stdout, stderr := run(t, map[string]string{"flabsync.yaml": example}, "config", "check")
	if code != ExitOK {
		t.Fatalf("the printed example does not load: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "(valid)") {
		t.Errorf("check output: %s", stdout)
	}
}
