package doctor_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/doctor"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/internal/mail/mailtest"
	"github.com/flabsync/flabsync/internal/store"
)

// The secrets of every rig: no check's output may hold one.
const (
	flabsSecret = "flabs-secret-7f3a9c41"
	wrongSecret = "wrong-secret-9d2e17b0"
	smtpPass    = "smtp-pass-51be04"
	hookToken   = "hook-token-c0ffee99"
)

var allSecrets = []string{flabsSecret, wrongSecret, smtpPass, hookToken}

// rig is a setup that passes every check: a SQLite file, the Flabs
// simulator, an SMTP server with STARTTLS and AUTH, inbox folders and a
// free webhook port, all in the test's temporary directory.
type rig struct {
	dir  string
	cfg  *config.Config
	opts doctor.Options
	sim  *flabstest.Server
	smtp *mailtest.Server
}

func newRig(t *testing.T, so flabstest.Options) *rig {
	t.Helper()
	dir := t.TempDir()
	if so.ClientID == "" {
		so.ClientID, so.ClientSecret = "doctor-client", flabsSecret
	}
	sim := flabstest.NewTestServer(t, so)
	tlsCfg, pool := mailtest.SelfSigned(t)
	smtp := mailtest.Start(t, mailtest.Options{User: "ops", Pass: smtpPass, TLS: tlsCfg})

	cfg := config.Default()
	cfg.Database = "sqlite:" + migratedCopy(t, filepath.Join(dir, "db"))
	cfg.Flabs.BaseURL, cfg.Flabs.ClientID, cfg.Flabs.ClientSecret = sim.URL(), so.ClientID, so.ClientSecret
	cfg.Flabs.Timeout = 2 * time.Second
	cfg.Inbox.Dir = filepath.Join(dir, "inbox")
	cfg.Inbox.ArchiveDir = filepath.Join(dir, "inbox", "archive")
	cfg.Inbox.ErrorDir = filepath.Join(dir, "errors")
	cfg.Report.Dir = filepath.Join(dir, "reports")
	cfg.Mail.SMTPURL = fmt.Sprintf("smtp://ops:%s@127.0.0.1:%d?starttls=required", smtpPass, smtp.Port)
	cfg.Mail.From, cfg.Mail.To = "flabsync@lab.example", config.StringList{"ops@lab.example"}
	cfg.Webhook.Listen, cfg.Webhook.AuthToken = freeAddr(t), hookToken
	cfg.DefaultLeadSource = "sheet"
	cfg.Partners = map[string]config.Partner{"sunrise": {}}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("rig config: %v", err)
	}
	return &rig{dir: dir, cfg: &cfg, sim: sim, smtp: smtp, opts: doctor.Options{
		ConfigPath: filepath.Join(dir, "flabsync.yaml"),
		Timeout:    5 * time.Second,
		MailTLS:    &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}
}

// template is a migrated SQLite file, made once per test binary:
// migrating takes most of a second under the race detector, opening a
// migrated file a few milliseconds.
var template struct {
	once sync.Once
	path string
	err  error
}

// TestMain removes the template database.
func TestMain(m *testing.M) {
	code := m.Run()
	if template.path != "" {
		os.RemoveAll(filepath.Dir(template.path))
	}
	os.Exit(code)
}

// migratedCopy copies the template database into dir (made private, as
// Open makes it) and returns the copy's path.
func migratedCopy(t *testing.T, dir string) string {
	t.Helper()
	template.once.Do(func() {
		tmp, err := os.MkdirTemp("", "doctor-template-")
		if err != nil {
			template.err = err
			return
		}
		template.path = filepath.Join(tmp, "flabsync.db")
		db, err := store.Open(context.Background(), "sqlite:"+template.path)
		if err != nil {
			template.err = err
			return
		}
		template.err = db.Close()
	})
	if template.err != nil {
		t.Fatal(template.err)
	}
	b, err := os.ReadFile(template.path)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "flabsync.db")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// run runs doctor on the rig, logs its lines and checks no secret is in
// them.
func (r *rig) run(t *testing.T) []doctor.Check {
	t.Helper()
	checks := doctor.Run(context.Background(), r.cfg, r.opts)
	var all strings.Builder
	for _, c := range checks {
		line := fmt.Sprintf("%-7s ok=%-5v warn=%-5v %s", c.Name, c.OK, c.Warning, c.Detail)
		t.Log(line)
		all.WriteString(line + "\n")
	}
	noSecrets(t, all.String())
	return checks
}

// noSecrets fails if out holds any secret the tests use.
func noSecrets(t *testing.T, out string) {
	t.Helper()
	for _, s := range allSecrets {
		if strings.Contains(out, s) {
			t.Errorf("output holds the secret %q:\n%s", s, out)
		}
	}
}

// only checks that exactly the named checks fail, and returns the checks
// by name.
func only(t *testing.T, checks []doctor.Check, failing ...string) map[string]doctor.Check {
	t.Helper()
	want := []string{doctor.NameConfig, doctor.NameDatabase, doctor.NameFlabs, doctor.NameMail, doctor.NameInbox, doctor.NameWebhook}
	if len(checks) != len(want) {
		t.Fatalf("%d checks, want %d", len(checks), len(want))
	}
	byName := map[string]doctor.Check{}
	for i, c := range checks {
		if c.Name != want[i] {
			t.Errorf("check %d is %q, want %q (fixed order)", i, c.Name, want[i])
		}
		byName[c.Name] = c
		shouldFail := false
		for _, f := range failing {
			shouldFail = shouldFail || f == c.Name
		}
		if c.OK == shouldFail {
			t.Errorf("check %s: ok=%v, want ok=%v: %s", c.Name, c.OK, !shouldFail, c.Detail)
		}
		if c.Detail == "" {
			t.Errorf("check %s has no detail", c.Name)
		}
	}
	return byName
}

// contains checks that detail holds every one of parts.
func contains(t *testing.T, c doctor.Check, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(c.Detail, p) {
			t.Errorf("check %s: detail lacks %q: %s", c.Name, p, c.Detail)
		}
	}
}

// TestGoodSetup: a setup where everything works passes every check,
// without warnings, and says what it proved.
func TestGoodSetup(t *testing.T) {
	t.Parallel()
	r := newRig(t, flabstest.Options{})
	checks := r.run(t)
	by := only(t, checks)
	for _, c := range checks {
		if c.Warning {
			t.Errorf("check %s warns: %s", c.Name, c.Detail)
		}
	}
	contains(t, by[doctor.NameConfig], "flabsync.yaml loaded and valid")
	contains(t, by[doctor.NameDatabase], "schema version", "the latest", "private")
	contains(t, by[doctor.NameFlabs], "login and token refresh work", "Main Lab", "tests", "packages")
	contains(t, by[doctor.NameMail], "STARTTLS", "logged in as ops")
	contains(t, by[doctor.NameInbox], "writable", "free")
	contains(t, by[doctor.NameWebhook], "is free")
	if n := doctor.Failed(checks); n != 0 {
		t.Errorf("Failed = %d", n)
	}
	if n := len(r.smtp.Messages()); n != 0 {
		t.Errorf("%d messages sent without --send-test-mail", n)
	}
}

// TestSecretsScrubbed: whatever a server or library repeats, the secrets
// of the config are masked in every detail.
func TestSecretsScrubbed(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.Flabs.ClientSecret = flabsSecret
	cfg.Webhook.AuthToken = hookToken
	cfg.Mail.SMTPURL = "smtp://ops:" + smtpPass + "@mail.example:587"
	cfg.Database = "postgres://flabsync:db-pass-3141@db.example:5432/flabsync"
	s := doctor.Scrub("a "+flabsSecret+" b "+hookToken+" c "+smtpPass+" d db-pass-3141 e", doctor.Secrets(&cfg))
	if s != "a xxxxx b xxxxx c xxxxx d xxxxx e" {
		t.Errorf("Scrub = %q", s)
	}
}
