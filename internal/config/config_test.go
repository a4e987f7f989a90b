package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/config"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flabsync.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadNoFileGivesDefaults(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("LOG_LEVEL", "")
	t.Setenv("LOG_FORMAT", "")
	path, explicit := config.Path("")
	if explicit {
		t.Fatalf("Path(\"\") explicit = true with no flag or %s", config.EnvPath)
	}
	cfg, err := config.Load(path, explicit)
	if err != nil {
		t.Fatalf("Load without a file: %v", err)
	}
	if !reflect.DeepEqual(cfg, config.Default()) {
		t.Errorf("Load without a file = %+v, want defaults", cfg)
	}
}

func TestLoadExplicitMissingFile(t *testing.T) {
	_, err := config.Load(filepath.Join(t.TempDir(), "nope.yaml"), true)
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("Load(missing, explicit) = %v, want an error naming the file", err)
	}
}

func TestPathPrecedence(t *testing.T) {
	t.Setenv(config.EnvPath, "/etc/flabsync/env.yaml")
	if p, explicit := config.Path("flag.yaml"); p != "flag.yaml" || !explicit {
		t.Errorf("flag: got %q %v", p, explicit)
	}
	if p, explicit := config.Path(""); p != "/etc/flabsync/env.yaml" || !explicit {
		t.Errorf("env: got %q %v", p, explicit)
	}
}

func TestLoadValues(t *testing.T) {
	t.Setenv("FLABS_SECRET", "s3cret")
	t.Setenv("RATE", "2.5")
	t.Setenv("LOG_LEVEL", "")
	t.Setenv("LOG_FORMAT", "")
	path := writeConfig(t, `
database: postgres://flabsync:pw@db.internal:5432/flabsync
flabs:
  base_url: https://v2.flabs.in
  client_id: acme
  client_secret: ${FLABS_SECRET}
  rate_per_second: ${RATE}
  timeout: 10s
inbox:
  settle: 1m
mail:
  smtp_url: smtp://mail.internal:25
  from: flabsync@lab.example
  to: ops@lab.example, qa@lab.example
partners:
  sunrise:
    lead_source: Sunrise Clinic
    columns:
      ref: [Visit No, Lab Ref]
      tests: Investigations Ordered
default_lead_source: ${LEAD:-Walk-in}
`)
	cfg, err := config.Load(path, true)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"secret expanded", cfg.Flabs.ClientSecret, "s3cret"},
		{"number from env", cfg.Flabs.RatePerSecond, 2.5},
		{"duration", cfg.Flabs.Timeout, 10 * time.Second},
		{"untouched default kept", cfg.Flabs.Burst, 5},
		{"settle", cfg.Inbox.Settle, time.Minute},
		{"comma list", []string(cfg.Mail.To), []string{"ops@lab.example", "qa@lab.example"}},
		{"yaml list", []string(cfg.Partners["sunrise"].Columns["ref"]), []string{"Visit No", "Lab Ref"}},
		{"scalar list", []string(cfg.Partners["sunrise"].Columns["tests"]), []string{"Investigations Ordered"}},
		{"default from ${:-}", cfg.DefaultLeadSource, "Walk-in"},
		{"partner lead source", cfg.LeadSource("sunrise"), "Sunrise Clinic"},
		{"fallback lead source", cfg.LeadSource("other"), "Walk-in"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.name, c.got, c.want)
		}
	}
	if err := cfg.RequireFlabs(); err != nil {
		t.Errorf("RequireFlabs with all keys set: %v", err)
	}
}

// Every bad file must fail naming the key (and the value or line) so the
// operator can fix it without reading code.
func TestLoadErrorsNameKeyAndValue(t *testing.T) {
	t.Setenv("LOG_LEVEL", "")
	t.Setenv("LOG_FORMAT", "")
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"unknown key with suggestion", "flabs:\n  rate_per_secnd: 3\n", []string{"flabs.rate_per_secnd", "line 2", "did you mean rate_per_second"}},
		{"unknown top-level key", "databse: sqlite:x.db\n", []string{"databse", "did you mean database"}},
		{"unknown key lists known", "inbox:\n  zzzzzz: 1\n", []string{"inbox.zzzzzz", "known keys here", "archive_dir"}},
		{"not a number", "flabs:\n  burst: lots\n", []string{"flabs.burst", `"lots"`, "whole number"}},
		{"not a duration", "flabs:\n  timeout: 30 seconds\n", []string{"flabs.timeout", `"30 seconds"`, "duration"}},
		{"section given a value", "flabs: yes\n", []string{"flabs", "section"}},
		{"value given a section", "database:\n  x: 1\n", []string{"database", "single value"}},
		{"unset env var", "flabs:\n  client_secret: ${FLABSYNC_TEST_SURELY_UNSET}\n", []string{"flabs.client_secret", "line 2", "FLABSYNC_TEST_SURELY_UNSET is not set"}},
		{"bad yaml", "flabs: [\n", []string{"not valid YAML"}},
		{"negative rate", "flabs:\n  rate_per_second: -1\n", []string{"flabs.rate_per_second", `"-1"`}},
		{"zero concurrency", "flabs:\n  concurrency: 0\n", []string{"flabs.concurrency", `"0"`}},
		{"bad database", "database: mysql://x\n", []string{"database", `"mysql://x"`, "sqlite:"}},
		{"empty sqlite path", "database: 'sqlite:'\n", []string{"database", "names no file"}},
		{"bad base url", "flabs:\n  base_url: api.flabs.in\n", []string{"flabs.base_url", `"api.flabs.in"`}},
		{"bad listen", "webhook:\n  listen: localhost\n", []string{"webhook.listen", `"localhost"`}},
		{"bad path", "webhook:\n  path: hooks\n", []string{"webhook.path", `"hooks"`}},
		{"cert without key", "webhook:\n  tls_cert: a.pem\n", []string{"webhook.tls_cert", "tls_key"}},
		{"bad auth header", "webhook:\n  auth_header: 'X Token'\n", []string{"webhook.auth_header", `"X Token"`}},
		{"tiny max body", "webhook:\n  max_body: 10\n", []string{"webhook.max_body", `"10"`}},
		{"smtp without to", "mail:\n  smtp_url: smtp://h:25\n  from: a@b.c\n", []string{"mail.to"}},
		{"bad address", "mail:\n  to: [not-an-address]\n", []string{"mail.to", `"not-an-address"`}},
		{"bad smtp scheme", "mail:\n  smtp_url: http://h\n  from: a@b.c\n  to: x@y.z\n", []string{"mail.smtp_url", "smtp://"}},
		{"bad partner name", "partners:\n  Sun Rise:\n    lead_source: x\n", []string{"partners.Sun Rise", "partner name"}},
		{"bad column field", "partners:\n  sunrise:\n    columns:\n      colour: [Hue]\n", []string{"partners.sunrise.columns.colour", "known: name"}},
		{"bad log level", "log:\n  level: loud\n", []string{"log.level", `"loud"`}},
		{"zero window", "reconcile:\n  bill_created_within: 0s\n", []string{"reconcile.bill_created_within", `"0s"`}},
		{"zero retention", "retention:\n  patient_data_days: 0\n", []string{"retention.patient_data_days", `"0"`, "at least 1"}},
		{"negative retention", "retention:\n  patient_data_days: -5\n", []string{"retention.patient_data_days", `"-5"`}},
		{"retention inside rejects_for", "retention:\n  patient_data_days: 7\n", []string{"retention.patient_data_days", `"7"`, "reconcile.rejects_for"}},
		{"prune schedule typo", "schedules:\n  prnue: '@daily'\n", []string{"schedules.prnue", "prune"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(writeConfig(t, tt.body), true)
			if err == nil {
				t.Fatalf("Load accepted:\n%s", tt.body)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := config.Default()
	cfg.Flabs.Burst = 0
	cfg.Flabs.MaxAttempts = 0
	cfg.Log.Format = "xml"
	cfg.Inbox.Concurrency = 0
	cfg.Inbox.TakeoverAfter = time.Hour
	err := cfg.Validate()
	var keys []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *config.FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("%v is not a *FieldError", e)
		}
		keys = append(keys, fe.Key)
	}
	want := []string{"flabs.burst", "flabs.max_attempts", "inbox.concurrency", "inbox.takeover_after", "log.format"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys = %v, want %v", keys, want)
	}
}

func TestSecretsMaskedInErrorsAndEffective(t *testing.T) {
	t.Setenv("LOG_LEVEL", "")
	t.Setenv("LOG_FORMAT", "")
	cfg := config.Default()
	cfg.Database = "postgres://flabsync:hunter2@db:5432/x?sslmode=disable"
	cfg.Flabs.ClientSecret = "client-secret-value"
	cfg.Webhook.AuthToken = "webhook-token-value"
	cfg.Mail.SMTPURL = "smtp://user:mailpass@mail:587"
	out := cfg.Effective()
	for _, secret := range []string{"hunter2", "client-secret-value", "webhook-token-value", "mailpass"} {
		if strings.Contains(out, secret) {
			t.Errorf("Effective() shows secret %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{"flabsync:xxxxx@db:5432", "client_secret: xxxxx", "rate_per_second: 5", "timeout: 30s"} {
		if !strings.Contains(out, want) {
			t.Errorf("Effective() lacks %q:\n%s", want, out)
		}
	}
	cfg.Database = "postgres://u:hunter2@/x"
	if err := cfg.Validate(); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Validate on a host-less DSN = %v; want an error without the password", err)
	}
}

// The example is the documentation of every key: it must parse to the
// defaults and mention every key the Config knows.
func TestExampleIsCompleteAndDefault(t *testing.T) {
	t.Setenv("FLABS_CLIENT_SECRET", "")
	t.Setenv("FLABSYNC_WEBHOOK_TOKEN", "")
	t.Setenv("FLABSYNC_SMTP_URL", "")
	cfg := config.Default()
	if err := config.Parse([]byte(config.Example()), &cfg); err != nil {
		t.Fatalf("example does not parse: %v", err)
	}
	def := config.Default()
	cfg.Mail.To = nil
	if !reflect.DeepEqual(cfg, def) {
		t.Errorf("example values differ from defaults:\n got %+v\nwant %+v", cfg, def)
	}
	for _, key := range leafKeys(reflect.TypeOf(config.Config{})) {
		if !strings.Contains(config.Example(), key+":") {
			t.Errorf("example does not document key %q", key)
		}
	}
}

func leafKeys(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		ft := f.Type
		if ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeOf(time.Duration(0)) {
			out = append(out, tag)
			out = append(out, leafKeys(ft)...)
			continue
		}
		out = append(out, tag)
	}
	return out
}

func TestEnvOverridesLogging(t *testing.T) {
	t.Setenv("LOG_LEVEL", "debug")
	t.Setenv("LOG_FORMAT", "json")
	cfg, err := config.Load(writeConfig(t, "log:\n  level: warn\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Log.Level != "debug" || cfg.Log.Format != "json" {
		t.Errorf("log = %+v, want LOG_LEVEL/LOG_FORMAT to win", cfg.Log)
	}
}

func TestRequireFlabsNamesMissingKeys(t *testing.T) {
	cfg := config.Default()
	cfg.Flabs.ClientID = "acme"
	err := cfg.RequireFlabs()
	if !errors.Is(err, config.ErrNoFlabs) {
		t.Fatalf("RequireFlabs = %v, want ErrNoFlabs", err)
	}
	if !strings.Contains(err.Error(), "flabs.base_url, flabs.client_secret") || strings.Contains(err.Error(), "missing flabs.client_id") {
		t.Errorf("RequireFlabs = %v, want it to name exactly base_url and client_secret", err)
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "1", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct{ in, want, err string }{
		{"plain", "plain", ""},
		{"${A}", "1", ""},
		{"x${A}y${A}", "x1y1", ""},
		{"${B:-dflt}", "dflt", ""},
		{"${EMPTY:-dflt}", "dflt", ""},
		{"${EMPTY}", "", ""},
		{"$${A}", "${A}", ""},
		{"${B}", "", "B is not set"},
		{"${A", "", "unclosed"},
		{"${1X}", "", "not a variable name"},
	}
	for _, tt := range tests {
		got, err := config.Expand(tt.in, lookup)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Expand(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// FuzzParse feeds arbitrary files to the parser: it may refuse them but must
// never panic, and what it accepts must survive validation without panicking.
func FuzzParse(f *testing.F) {
	f.Add([]byte(config.Example()))
	f.Add([]byte("flabs:\n  burst: 3\npartners:\n  a:\n    columns:\n      ref: [x]\n"))
	f.Add([]byte("mail:\n  to: a@b.c, d@e.f\n"))
	f.Add([]byte("x: &a [1]\ny: *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := config.Default()
		if err := config.Parse(data, &cfg); err != nil {
			return
		}
		_ = cfg.Validate()
		_ = cfg.Effective()
	})
}
