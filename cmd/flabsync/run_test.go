package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
		{"demo", nil, []string{"demo"}, ExitOK, []string{"rows: rejected 12, skipped 3, submitted 30", "exceptions-", "the exception workbook"}, nil},
		{"status", nil, []string{"status"}, ExitOK, []string{"sqlite:flabsync.db (schema v", "none run yet"}, nil},
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

func fixture(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "fixtures", "sheets", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImportDryRunExitCodes(t *testing.T) {
	clean, bad, refused := fixture(t, "apollo_grouped.xlsx"), fixture(t, "sunrise_2026-11-24.csv"), fixture(t, "refused/scan.pdf")
	tests := []struct {
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{[]string{"import", "--dry-run", clean}, ExitOK, []string{"3 bookings accepted, 0 rows rejected", "apollo:AV-77"}, nil},
		{[]string{"import", "--dry-run", bad}, ExitPartial, []string{"row 6", "missing_name", "duplicate_barcode"}, []string{"1 of 1 files"}},
		{[]string{"import", "--dry-run", clean, refused}, ExitPartial, []string{"scan.pdf  NOT READ", "PDF"}, nil},
		{[]string{"import", clean}, ExitUsage, nil, []string{"flabs.base_url", "--dry-run"}},
		{[]string{"import", "--dry-run"}, ExitUsage, nil, []string{"name at least one file"}},
	}
	for _, tt := range tests {
		code, stdout, stderr := run(t, nil, tt.args...)
		if code != tt.code {
			t.Errorf("%v: exit %d, want %d\n%s%s", tt.args[1:], code, tt.code, stdout, stderr)
		}
		for _, w := range tt.stdout {
			if !strings.Contains(stdout, w) {
				t.Errorf("%v: stdout lacks %q:\n%s", tt.args[1:], w, stdout)
			}
		}
		for _, w := range tt.stderr {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: stderr lacks %q:\n%s", tt.args[1:], w, stderr)
			}
		}
		if strings.Contains(stdout, "Sanjay") {
			t.Errorf("human dry-run output shows a patient name")
		}
	}
}

// The --json shape is part of the interface: these keys, these types.
func TestImportDryRunJSONShape(t *testing.T) {
	code, stdout, stderr := run(t, nil, "import", "--dry-run", "--json", fixture(t, "hillside_grouped.csv"), fixture(t, "refused/bookings.ods"))
	if code != ExitPartial {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	var files []map[string]any
	for dec.More() {
		var v map[string]any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("stdout is not a stream of JSON objects: %v\n%s", err, stdout)
		}
		files = append(files, v)
	}
	if len(files) != 2 {
		t.Fatalf("%d objects, want one per file", len(files))
	}
	f := files[0]
	for _, k := range []string{"file", "partner", "rows_in", "accepted", "rejected", "skipped"} {
		if _, ok := f[k]; !ok {
			t.Errorf("file object lacks %q", k)
		}
	}
	if f["file"] != "hillside_grouped.csv" || f["partner"] != "hillside" || f["rows_in"] != 10.0 {
		t.Errorf("file header = %v %v %v", f["file"], f["partner"], f["rows_in"])
	}
	acc := f["accepted"].([]any)[0].(map[string]any)
	if acc["row"] != 2.0 || acc["ref"] != "H-1" || acc["integrator_id"] != "hillside:H-1" {
		t.Errorf("accepted[0] = %v", acc)
	}
	req := acc["request"].(map[string]any)
	if req["integrator_id"] != "hillside:H-1" || req["patient_details"].(map[string]any)["age"] != 40.0 {
		t.Errorf("request = %v", req)
	}
	rej := f["rejected"].([]any)[0].(map[string]any)
	if rej["row"] != 8.0 || rej["code"] != "duplicate_ref" || rej["ref"] != "H-1" || !strings.Contains(rej["message"].(string), "row 8") {
		t.Errorf("rejected[0] = %v", rej)
	}
	sk := f["skipped"].([]any)[1].(map[string]any)
	if sk["row"] != 11.0 || !strings.Contains(sk["why"].(string), "total") {
		t.Errorf("skipped[1] = %v", sk)
	}
	if e, _ := files[1]["error"].(string); !strings.Contains(e, "OpenDocument") {
		t.Errorf("refused file object = %v", files[1])
	}
}

// TestReceiverNeedsAToken: with webhook.auth_token empty, serve and
// webhooks listen refuse to start (exit 2, naming the key) unless
// webhook.allow_unauthenticated says so on purpose; config check warns.
func TestReceiverNeedsAToken(t *testing.T) {
	base := "database: sqlite:x.db\nflabs: {base_url: http://127.0.0.1:1, client_id: a, client_secret: b}\n"
	for _, args := range [][]string{{"serve"}, {"webhooks", "listen"}} {
		code, _, errOut := run(t, map[string]string{"flabsync.yaml": base}, args...)
		if code != ExitUsage || !strings.Contains(errOut, "webhook.auth_token") || !strings.Contains(errOut, "allow_unauthenticated") {
			t.Errorf("%v without a token: exit %d\n%s", args, code, errOut)
		}
	}
	code, out, _ := run(t, map[string]string{"flabsync.yaml": base}, "config", "check")
	if code != ExitOK || !strings.Contains(out, "warning: serve and webhooks listen will refuse to start") {
		t.Errorf("config check: exit %d\n%s", code, out)
	}
	// On purpose: listen starts (and stops with the test's context).
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile("flabsync.yaml", []byte("database: sqlite:x.db\nwebhook: {listen: \"127.0.0.1:0\", allow_unauthenticated: true}\n"), 0o600)
	var stderr bytes.Buffer
	m := &Main{Stdout: io.Discard, Stderr: &stderr, Stdin: strings.NewReader("")}
	if code := m.Run(ctx, []string{"webhooks", "listen"}); code == ExitUsage {
		t.Errorf("listen with allow_unauthenticated: exit %d\n%s", code, stderr.String())
	}
}

// TestPartnerNamesAreChecked: a partner name becomes the prefix of
// integrator IDs, so --partner and names taken from files are held to the
// config's rule: a newline, a tab, a bidi override or a path is refused.
func TestPartnerNamesAreChecked(t *testing.T) {
	sheet := "Patient Name,Age,Gender,Tests\nAsha,30,F,CBC\n"
	for _, p := range []string{"evil\nname", "a\tb", "x\u202ey", "../sunrise", "Sunrise Labs"} {
		code, _, errOut := run(t, map[string]string{"s.csv": sheet}, "import", "--dry-run", "--partner", p, "s.csv")
		if code != ExitUsage || !strings.Contains(errOut, "not a partner name") {
			t.Errorf("--partner %q: exit %d\n%s", p, code, errOut)
		}
	}
	// From the file's own name: the file is refused with the reason.
	code, out, _ := run(t, map[string]string{"bad\u202epartner_2026.csv": sheet}, "import", "--dry-run", "bad\u202epartner_2026.csv")
	if code != ExitPartial || !strings.Contains(out, "not a partner name") {
		t.Errorf("partner from the file name: exit %d\n%s", code, out)
	}
	code, _, errOut := run(t, map[string]string{"sunrise_2026.csv": sheet}, "import", "--dry-run", "sunrise_2026.csv")
	if code != ExitOK {
		t.Errorf("a good name: exit %d\n%s", code, errOut)
	}
}

// TestDryRunWritesNothing: a dry run records nothing, so it leaves no
// database (or anything else) behind in the folder it ran in.
func TestDryRunWritesNothing(t *testing.T) {
	sheet := "Booking ID,Patient Name,Age,Gender,Tests\nB1,Asha,30,F,CBC\n"
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile("sunrise_2026.csv", []byte(sheet), 0o600)
	var stdout, stderr bytes.Buffer
	m := &Main{Stdout: &stdout, Stderr: &stderr, Stdin: strings.NewReader("")}
	if code := m.Run(t.Context(), []string{"import", "--dry-run", "--json", "sunrise_2026.csv"}); code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("the dry run left %v behind", names)
	}
	if !strings.Contains(stdout.String(), `"integrator_id":"sunrise:B1"`) {
		t.Errorf("report:\n%s", stdout.String())
	}
}
