// Package config loads flabsync's one YAML configuration file: defaults for
// every key, ${ENV} expansion so secrets stay out of the file, strict key
// checking and validation that names the bad key and value.
package config

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// EnvPath is the environment variable naming the config file when no
// --config flag is given.
const EnvPath = "FLABSYNC_CONFIG"

// DefaultPath is the config file read when neither --config nor
// $FLABSYNC_CONFIG names one. Its absence is not an error.
const DefaultPath = "flabsync.yaml"

// Config is the whole configuration. The yaml key names are part of the
// product's interface: they stay stable and later work only adds to them.
type Config struct {
	// Database is "sqlite:PATH" or "postgres://…".
	Database          string             `yaml:"database"`
	Flabs             Flabs              `yaml:"flabs"`
	Inbox             Inbox              `yaml:"inbox"`
	Webhook           Webhook            `yaml:"webhook"`
	Report            Report             `yaml:"report"`
	Mail              Mail               `yaml:"mail"`
	Reconcile         Reconcile          `yaml:"reconcile"`
	Retention         Retention          `yaml:"retention"`
	Partners          map[string]Partner `yaml:"partners"`
	DefaultLeadSource string             `yaml:"default_lead_source"`
	Log               Log                `yaml:"log"`
	// Timezone is where schedules and "today" are read (an IANA name, or
	// Local).
	Timezone string `yaml:"timezone"`
	// Schedules overrides the default schedule of a job (import,
	// mapping-sync, reconcile, expected-drops, prune): a cron spec, "@every 5m",
	// or "off".
	Schedules map[string]string `yaml:"schedules"`
	Serve     Serve             `yaml:"serve"`
}

// Serve configures `flabsync serve` beyond its parts.
type Serve struct {
	// Listen is where /healthz, /readyz and /metrics are served; keep it
	// private (the webhook receiver listens on webhook.listen).
	Listen string `yaml:"listen"`
	// ShutdownTimeout bounds a graceful stop.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// Flabs configures the Flabs API client and the submitter.
type Flabs struct {
	BaseURL       string        `yaml:"base_url"`
	ClientID      string        `yaml:"client_id"`
	ClientSecret  string        `yaml:"client_secret"`
	LabID         string        `yaml:"lab_id"`
	RatePerSecond float64       `yaml:"rate_per_second"`
	Burst         int           `yaml:"burst"`
	Concurrency   int           `yaml:"concurrency"`
	Timeout       time.Duration `yaml:"timeout"`
	MaxAttempts   int           `yaml:"max_attempts"`
}

// The inbox's defaults.
const (
	DefaultInboxConcurrency = 4
	DefaultTakeoverAfter    = time.Minute
)

// Inbox configures the watched directory.
type Inbox struct {
	Dir        string        `yaml:"dir"`
	ArchiveDir string        `yaml:"archive_dir"`
	ErrorDir   string        `yaml:"error_dir"`
	Settle     time.Duration `yaml:"settle"`
	// Concurrency is how many files one serve reads and sends at once
	// (default 4): a big file no longer holds the others, and a process
	// claims only as many files as it has room for, so processes sharing
	// the inbox share the files.
	Concurrency int `yaml:"concurrency"`
	// TakeoverAfter is how long a process may stay silent (no heartbeat)
	// before a running serve takes over the files it was reading and the
	// bookings it held (default 1m): a file still there is read on from
	// where it stopped (the ledger books nothing twice), a file gone is
	// flagged as not read to its end.
	TakeoverAfter time.Duration `yaml:"takeover_after"`
}

// Webhook configures the receiver of Flabs' events.
type Webhook struct {
	Listen    string `yaml:"listen"`
	Path      string `yaml:"path"`
	AuthToken string `yaml:"auth_token"`
	// AllowUnauthenticated lets the receiver run with no AuthToken. Off by
	// default: a receiver without a token stores whatever anyone posts.
	AllowUnauthenticated bool `yaml:"allow_unauthenticated"`
	// SubscribeSendsToken sends AuthToken with `webhooks subscribe`
	// (default true): older Flabs accounts deliver it back with every
	// event; the current docs no longer list the field (flabs-api.md §4).
	SubscribeSendsToken bool `yaml:"subscribe_sends_token"`
	// AuthHeader is the request header carrying the token, default
	// "Authorization". Flabs does not document it (flabs-api.md §4.2);
	// "Bearer <token>" and a bare token are both accepted.
	AuthHeader string `yaml:"auth_header"`
	// MaxBody is the largest body accepted, in bytes (default 1 MiB);
	// larger deliveries are answered 413.
	MaxBody int64  `yaml:"max_body"`
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
}

// DefaultMaxAttachmentBytes is mail.max_attachment_bytes's default: 10 MiB.
const DefaultMaxAttachmentBytes = 10 << 20

// DefaultWebhookMaxBody is webhook.max_body's default: 1 MiB.
const DefaultWebhookMaxBody = 1 << 20

// Report configures where exception workbooks are written.
type Report struct {
	Dir string `yaml:"dir"`
}

// Mail configures the SMTP delivery of the nightly workbook.
type Mail struct {
	// SMTPURL is smtp://user:pass@host:port (STARTTLS when offered),
	// smtps://… (implicit TLS) or empty to skip email.
	SMTPURL string     `yaml:"smtp_url"`
	From    string     `yaml:"from"`
	To      StringList `yaml:"to"`
	// MaxAttachmentBytes is the largest workbook attached to the email
	// (default 10 MiB; most mail servers refuse more). A larger one is not
	// attached: the email says where it is.
	MaxAttachmentBytes int64 `yaml:"max_attachment_bytes"`
}

// Reconcile holds the windows after which a missing webhook is an exception.
type Reconcile struct {
	BillCreatedWithin   time.Duration `yaml:"bill_created_within"`
	BillCompletedWithin time.Duration `yaml:"bill_completed_within"`
	// RejectsFor is how long a rejected row (or a refused file) stays in
	// the report without a correction; default 7 days.
	RejectsFor time.Duration `yaml:"rejects_for"`
	// ListWalkInBills lists bills made inside Flabs (events with no
	// integrator ID: walk-in patients) as orphan_event exceptions. Off by
	// default: they are counted ("N bills made in Flabs"), not listed.
	ListWalkInBills bool `yaml:"list_walk_in_bills"`
}

// DefaultPatientDataDays is retention.patient_data_days's default.
const DefaultPatientDataDays = 90

// Retention says how long patient data is kept.
type Retention struct {
	// PatientDataDays is how many days patient data is kept (default 90):
	// then the prune job erases it from the ledger's stored requests and
	// rows, from raw webhook bodies, and deletes archived and refused
	// sheets, their notes and reject files. IDs, states and counts stay.
	// It must be at least 1 and longer than reconcile.rejects_for; there is
	// no "keep forever".
	PatientDataDays int `yaml:"patient_data_days"`
}

// PatientData is PatientDataDays as a duration.
func (r Retention) PatientData() time.Duration {
	return time.Duration(r.PatientDataDays) * 24 * time.Hour
}

// Partner is one clinic's settings, keyed by the partner name that prefixes
// its inbox files and integrator IDs.
type Partner struct {
	LeadSource string `yaml:"lead_source"`
	// Sheet names the XLSX worksheet to read; empty means the first visible
	// sheet with a recognisable header.
	Sheet string `yaml:"sheet"`
	// Columns adds header aliases per field (see ColumnFields).
	Columns map[string]StringList `yaml:"columns"`
	// Pattern claims inbox files whose name matches this glob (e.g.
	// "SRC_*.csv") for the partner, when they are not in inbox/<partner>/
	// and their name does not start with the partner's name.
	Pattern string `yaml:"pattern"`
	// ExpectBy is the time of day ("10:30", in timezone) by which the
	// partner normally sends a file; the expected-drops job reports a day
	// that passes it without one. Empty: no expectation.
	ExpectBy string `yaml:"expect_by"`
	// Email is where the clinic's receipts go: a list, or one
	// comma-separated string ("a@x, b@y"). Empty: no receipts.
	Email StringList `yaml:"email"`
	// Receipts, when mail is configured, sends the clinic a receipt for
	// each file processed or refused. Unset means on when Email is set;
	// false turns receipts off.
	Receipts *bool `yaml:"receipts"`
}

// WantsReceipts reports whether the partner gets a receipt for each file:
// it has an email address and has not set receipts: false.
func (p Partner) WantsReceipts() bool {
	return len(p.Email) > 0 && (p.Receipts == nil || *p.Receipts)
}

// Log configures the structured log on stderr.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// ColumnFields are the fields partners.<name>.columns may alias.
var ColumnFields = []string{
	"name", "first_name", "last_name", "age", "age_unit", "dob", "gender",
	"mobile", "email", "tests", "packages", "barcode", "ref", "booking_date",
}

// Default returns the configuration used when no file is present: enough to
// run the demo against the built-in simulator on a local SQLite file.
func Default() Config {
	return Config{
		Database: "sqlite:flabsync.db",
		Flabs: Flabs{
			RatePerSecond: 5,
			Burst:         5,
			Concurrency:   8,
			Timeout:       30 * time.Second,
			MaxAttempts:   8,
		},
		Inbox: Inbox{
			Dir:           "inbox",
			ArchiveDir:    "inbox/archive",
			ErrorDir:      "inbox/errors",
			Settle:        30 * time.Second,
			Concurrency:   DefaultInboxConcurrency,
			TakeoverAfter: DefaultTakeoverAfter,
		},
		Webhook: Webhook{
			Listen:              "127.0.0.1:8080",
			Path:                "/webhooks/flabs",
			AuthHeader:          "Authorization",
			MaxBody:             DefaultWebhookMaxBody,
			SubscribeSendsToken: true,
		},
		Report: Report{Dir: "reports"},
		Mail:   Mail{MaxAttachmentBytes: DefaultMaxAttachmentBytes},
		Reconcile: Reconcile{
			BillCreatedWithin:   6 * time.Hour,
			BillCompletedWithin: 72 * time.Hour,
			RejectsFor:          7 * 24 * time.Hour,
		},
		Retention:         Retention{PatientDataDays: DefaultPatientDataDays},
		DefaultLeadSource: "",
		Log:               Log{Level: "info", Format: "text"},
		Timezone:          "Local",
		Serve:             Serve{Listen: "127.0.0.1:9090", ShutdownTimeout: 30 * time.Second},
	}
}

// LeadSource returns the lead source sent for partner's bookings: the
// partner's own, else default_lead_source (possibly empty).
func (c *Config) LeadSource(partner string) string {
	if p, ok := c.Partners[partner]; ok && p.LeadSource != "" {
		return p.LeadSource
	}
	return c.DefaultLeadSource
}

// ErrNoFlabs reports that a command needs the real Flabs API but the config
// does not say how to reach it.
var ErrNoFlabs = errors.New("flabs.base_url, flabs.client_id and flabs.client_secret must be set")

// RequireFlabs checks that the keys needed to talk to a real Flabs are set,
// naming the missing ones.
func (c *Config) RequireFlabs() error {
	var missing []string
	if c.Flabs.BaseURL == "" {
		missing = append(missing, "flabs.base_url")
	}
	if c.Flabs.ClientID == "" {
		missing = append(missing, "flabs.client_id")
	}
	if c.Flabs.ClientSecret == "" {
		missing = append(missing, "flabs.client_secret")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing %s", ErrNoFlabs, strings.Join(missing, ", "))
	}
	return nil
}

// PartnerNames returns the configured partners' names in order.
func (c *Config) PartnerNames() []string { return sortedKeys(c.Partners) }

// ErrNoWebhookToken is RequireWebhookAuth's error.
var ErrNoWebhookToken = errors.New("webhook.auth_token is empty: the receiver would store whatever anyone posts; " +
	"set it (and subscribe with it), or set webhook.allow_unauthenticated: true on purpose")

// RequireWebhookAuth reports whether the webhook receiver may start: it
// needs a token unless allow_unauthenticated says otherwise.
func (c *Config) RequireWebhookAuth() error {
	if c.Webhook.AuthToken == "" && !c.Webhook.AllowUnauthenticated {
		return ErrNoWebhookToken
	}
	return nil
}
