package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/internal/store"
)

// TestDoctor: doctor's exit codes (0 when nothing fails, warnings
// included; 1 when a check fails; 2 for bad usage or a config that does
// not load), its line per check, its --json shape, and no secret in
// anything it prints.
func TestDoctor(t *testing.T) {
	const (
		secret = "cli-secret-2b7e151628"
		wrong  = "cli-wrong-ae2d2a6abf"
		token  = "cli-token-f7158809cf"
	)
	sim := flabstest.NewTestServer(t, flabstest.Options{ClientID: "doctor-client", ClientSecret: secret})
	// One migrated database copied for each run: migrating takes most of
	// a second under the race detector.
	tmpl := filepath.Join(t.TempDir(), "flabsync.db")
	db, err := store.Open(context.Background(), "sqlite:"+tmpl)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	dbBytes, err := os.ReadFile(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	files := func(t *testing.T) map[string]string {
		t.Helper()
		dir := filepath.Join(t.TempDir(), "db")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "flabsync.db")
		if err := os.WriteFile(path, dbBytes, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		return map[string]string{"flabsync.yaml": fmt.Sprintf("database: sqlite:%s\nflabs:\n  base_url: %s\n  client_id: doctor-client\n  client_secret: ${FLABS_CLIENT_SECRET}\n  timeout: 2s\n"+
			"webhook:\n  listen: %s\n  auth_token: %s\ndefault_lead_source: sheet\n", path, sim.URL(), l.Addr(), token)}
	}
	noSecrets := func(t *testing.T, out ...string) {
		t.Helper()
		for _, o := range out {
			for _, s := range []string{secret, wrong, token} {
				if strings.Contains(o, s) {
					t.Errorf("output holds the secret %q:\n%s", s, o)
				}
			}
		}
	}
	lines := func(t *testing.T, out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !regexp.MustCompile(`(?m)^` + w).MatchString(out) {
				t.Errorf("no line matching %q in:\n%s", w, out)
			}
		}
	}

	t.Run("AllPassExit0", func(t *testing.T) {
		t.Setenv("FLABS_CLIENT_SECRET", secret)
		code, out, errOut := run(t, files(t), "doctor")
		noSecrets(t, out, errOut)
		if code != ExitOK {
			t.Fatalf("exit %d, want 0\n%s%s", code, out, errOut)
		}
		lines(t, out, `ok    config    flabsync.yaml loaded and valid`, `ok    database  sqlite:`, `ok    flabs     login and token refresh work`,
			`warn  mail      mail.smtp_url is not set`, `ok    inbox     `, `ok    webhook   webhook.listen 127.0.0.1:\d+ is free`)
		if n := strings.Count(out, "\n"); n != 6 {
			t.Errorf("%d lines, want one per check:\n%s", n, out)
		}
	})

	t.Run("FailingCheckExit1", func(t *testing.T) {
		t.Setenv("FLABS_CLIENT_SECRET", wrong)
		code, out, errOut := run(t, files(t), "doctor")
		noSecrets(t, out, errOut)
		if code != ExitPartial {
			t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
		}
		lines(t, out, `FAIL  flabs     Flabs refused flabs.client_id/flabs.client_secret`, `ok    database  `, `ok    webhook   `)
		if !strings.Contains(errOut, "doctor: 1 of 6 checks failed") {
			t.Errorf("stderr: %s", errOut)
		}
	})

	t.Run("JSONShape", func(t *testing.T) {
		t.Setenv("FLABS_CLIENT_SECRET", secret)
		code, out, errOut := run(t, files(t), "doctor", "--json")
		noSecrets(t, out, errOut)
		if code != ExitOK {
			t.Fatalf("exit %d, want 0\n%s%s", code, out, errOut)
		}
		var rep map[string][]map[string]any
		if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep) != 1 {
			t.Fatalf("want {\"checks\": [...]}: %v\n%s", err, out)
		}
		var names []string
		for _, c := range rep["checks"] {
			keys := slices.Sorted(maps.Keys(c))
			if !slices.Equal(keys, []string{"detail", "name", "ok", "warning"}) {
				t.Errorf("check keys %v, want detail, name, ok, warning", keys)
			}
			names = append(names, c["name"].(string))
			if c["name"] == "mail" && (c["ok"] != true || c["warning"] != true) {
				t.Errorf("mail without smtp_url: want ok and warning: %v", c)
			}
		}
		if want := []string{"config", "database", "flabs", "mail", "inbox", "webhook"}; !slices.Equal(names, want) {
			t.Errorf("checks %v, want %v", names, want)
		}
	})

	t.Run("UsageExit2", func(t *testing.T) {
		t.Setenv("FLABS_CLIENT_SECRET", secret)
		tests := []struct {
			name   string
			files  map[string]string
			args   []string
			stdout string
			stderr string
		}{
			{"BadFlag", nil, []string{"doctor", "--nope"}, "", "-nope"},
			{"Argument", nil, []string{"doctor", "extra"}, "", `unexpected argument "extra"`},
			{"BadPublicURL", nil, []string{"doctor", "--public-url", "ftp://x"}, "", "--public-url"},
			{"BadConfig", map[string]string{"c.yaml": "flabs:\n  client_secret: " + secret + "\n  burst: lots\n"},
				[]string{"doctor", "--config", "c.yaml"}, "", "flabs.burst"},
			{"BadConfigJSON", map[string]string{"c.yaml": "flabs:\n  client_secret: " + secret + "\n  burst: lots\n"},
				[]string{"doctor", "--config", "c.yaml", "--json"}, `"ok": false`, "flabs.burst"},
			{"MissingConfig", nil, []string{"doctor", "--config", "nope.yaml"}, "", "nope.yaml"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code, out, errOut := run(t, tt.files, tt.args...)
				noSecrets(t, out, errOut)
				if code != ExitUsage || !strings.Contains(errOut, tt.stderr) || !strings.Contains(out, tt.stdout) || (tt.stdout == "" && out != "") {
					t.Errorf("exit %d (want 2), stdout %q (want %q), stderr %q (want %q)", code, out, tt.stdout, errOut, tt.stderr)
				}
			})
		}
	})
}
