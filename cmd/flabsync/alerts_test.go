package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/schedules"
)

// alertsFile is the rules shipped beside the systemd unit; their
// promtool unit tests are in alertTests.
const (
	alertsFile = "alerts.yml"
	alertTests = "testdata/alerts"
)

type alertRule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func readAlerts(t *testing.T) []alertRule {
	t.Helper()
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	var rules []alertRule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatalf("%s has no rules", alertsFile)
	}
	return rules
}

// promtool returns the path of promtool, or skips t.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed, so the alert rules are not checked: install Debian's prometheus package " +
			"(apt-get install --no-install-recommends prometheus) to run this test; .ci/run does")
	}
	return p
}

func TestAlertRulesCheck(t *testing.T) {
	out, err := exec.Command(promtool(t), "check", "rules", alertsFile).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules %s: %v\n%s", alertsFile, err, out)
	}
}

func TestAlertRulesUnitTests(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(alertTests, "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule tests in %s (%v)", alertTests, err)
	}
	out, err := exec.Command(promtool(t), append([]string{"test", "rules"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// TestAlertRulesDocumentedAndTested: every alert says what it means and
// what to do first (the runbook starts there), has a severity, and has a
// promtool test that expects it to fire.
func TestAlertRulesDocumentedAndTested(t *testing.T) {
	var tests strings.Builder
	files, _ := filepath.Glob(filepath.Join(alertTests, "*.yml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tests.Write(b)
	}
	seen := map[string]bool{}
	for _, r := range readAlerts(t) {
		if r.Alert == "" {
			t.Errorf("a recording rule (%s) in %s: keep it to alerts", r.Expr, alertsFile)
			continue
		}
		if seen[r.Alert] {
			t.Errorf("%s: twice", r.Alert)
		}
		seen[r.Alert] = true
		if r.Annotations["summary"] == "" {
			t.Errorf("%s: no summary", r.Alert)
		}
		if !strings.Contains(r.Annotations["description"], "First:") {
			t.Errorf("%s: the description does not say what to do first (\"First: …\")", r.Alert)
		}
		if s := r.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
		}
		fires := regexp.MustCompile(`alertname: ` + r.Alert + `\n\s+exp_alerts:\n\s+- exp_labels:`)
		if !fires.MatchString(tests.String()) {
			t.Errorf("%s: no test in %s expects it to fire", r.Alert, alertTests)
		}
	}
}

var (
	// exprSelector is a flabsync series in an expression, with its
	// matchers if any.
	exprSelector = regexp.MustCompile(`\b(flabsync_[a-zA-Z0-9_]+)\b(\s*\{([^}]*)\})?`)
	exprMatcher  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	// sampleLine is one line of the text exposition format.
	sampleLine   = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? `)
	exposedLabel = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// TestAlertRulesUseExportedSeries runs serve in this process, scrapes its
// /metrics and checks that every flabsync series alerts.yml names is
// there, with the labels its selectors match on (and, for = and =~, a
// value they match; a job_name may be any job), so a rule can never watch
// a series that does not exist. The labels Prometheus adds, job and
// instance, are not looked for.
func TestAlertRulesUseExportedSeries(t *testing.T) {
	rules := readAlerts(t)
	exposed := scrapeServe(t)
	for _, r := range rules {
		sels := exprSelector.FindAllStringSubmatch(r.Expr, -1)
		if len(sels) == 0 && !strings.Contains(r.Expr, "up{") {
			t.Errorf("%s: no flabsync series in %q", r.Alert, r.Expr)
		}
		for _, s := range sels {
			name := s[1]
			labels, ok := exposed[name]
			if !ok {
				t.Errorf("%s: %s is not exported on /metrics", r.Alert, name)
				continue
			}
			for _, m := range exprMatcher.FindAllStringSubmatch(s[3], -1) {
				label, op, value := m[1], m[2], m[3]
				if label == "job" || label == "instance" {
					continue
				}
				values, ok := labels[label]
				switch {
				case !ok:
					t.Errorf("%s: %s has no label %s", r.Alert, name, label)
				case label == "job_name" && op == "=":
					if !slices.Contains(config.Jobs, value) {
						t.Errorf("%s: %s{job_name=%q}: no such job (%v)", r.Alert, name, value, config.Jobs)
					}
				case op == "=" && !values[value]:
					t.Errorf("%s: %s{%s=%q}: /metrics has no such series (%v)", r.Alert, name, label, value, values)
				case op == "=~":
					re := regexp.MustCompile("^(?:" + value + ")$")
					var hit bool
					for v := range values {
						hit = hit || re.MatchString(v)
					}
					if !hit {
						t.Errorf("%s: %s{%s=~%q} matches no series on /metrics (%v)", r.Alert, name, label, value, values)
					}
				}
			}
		}
	}
}

// scrapeServe starts serve on SQLite and the simulator, waits for its
// first import run to be recorded, and returns what /metrics exposes:
// metric → label → values.
func scrapeServe(t *testing.T) map[string]map[string]map[string]bool {
	t.Helper()
	sim := flabstest.NewTestServer(t, flabstest.Options{})
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Database = "sqlite:" + filepath.Join(dir, "flabsync.db")
	cfg.Flabs.BaseURL, cfg.Flabs.ClientID, cfg.Flabs.ClientSecret = sim.URL(), flabstest.DefaultClientID, flabstest.DefaultClientSecret
	cfg.Inbox = config.Inbox{Dir: filepath.Join(dir, "inbox"), ArchiveDir: filepath.Join(dir, "archive"),
		ErrorDir: filepath.Join(dir, "errors"), Settle: 100 * time.Millisecond}
	cfg.Webhook.Listen, cfg.Serve.Listen, cfg.Webhook.AuthToken = "127.0.0.1:0", "127.0.0.1:0", "test-token"
	cfg.Report.Dir = filepath.Join(dir, "reports")
	cfg.Schedules = map[string]string{"import": "@every 1s", "mapping-sync": "off", "reconcile": "off", "expected-drops": "off"}
	cfg.Partners = map[string]config.Partner{"citycare": {LeadSource: "citycare"}} // its backlog series are there from the start
	cfg.Log.Level = "error"
	if err := os.MkdirAll(cfg.Inbox.Dir, 0o755); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan schedules.Addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- serveDaemon(ctx, &Main{Stdout: io.Discard, Stderr: io.Discard}, &cfg, "alerts", func(a schedules.Addrs) { ready <- a })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	var addrs schedules.Addrs
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("serve did not start: %v", err)
	}

	deadline := time.Now().Add(20 * time.Second)
	for {
		body := get(t, "http://"+addrs.Admin+"/metrics")
		if strings.Contains(body, `flabsync_job_last_run_timestamp_seconds{job_name="import"}`) {
			return parseExposition(body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no import run on /metrics within 20s:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// parseExposition reads the text format: metric → label → values. A
// metric with no labels maps to an empty map.
func parseExposition(body string) map[string]map[string]map[string]bool {
	out := map[string]map[string]map[string]bool{}
	for line := range strings.Lines(body) {
		m := sampleLine.FindStringSubmatch(line)
		if m == nil || strings.HasPrefix(line, "#") {
			continue
		}
		labels := out[m[1]]
		if labels == nil {
			labels = map[string]map[string]bool{}
			out[m[1]] = labels
		}
		for _, l := range exposedLabel.FindAllStringSubmatch(m[3], -1) {
			if labels[l[1]] == nil {
				labels[l[1]] = map[string]bool{}
			}
			labels[l[1]][l[2]] = true
		}
	}
	return out
}
