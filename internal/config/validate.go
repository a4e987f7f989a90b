package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/flabsync/flabsync/internal/redact"
)

// FieldError is one invalid value: the dotted key, the value as written
// (secrets masked) and what is wrong with it.
type FieldError struct {
	Key   string
	Value string
	Msg   string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s: %q %s", e.Key, e.Value, e.Msg)
}

// Jobs are the scheduled jobs `schedules` may set.
var Jobs = []string{"import", "mapping-sync", "reconcile", "expected-drops", "prune"}

// Validate checks every key and returns all problems at once, each a
// *FieldError, joined with errors.Join.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, value, format string, args ...any) {
		errs = append(errs, &FieldError{Key: key, Value: value, Msg: fmt.Sprintf(format, args...)})
	}

	switch {
	case strings.HasPrefix(c.Database, "sqlite:"):
		if strings.TrimPrefix(c.Database, "sqlite:") == "" {
			bad("database", c.Database, "names no file: write sqlite:PATH, e.g. sqlite:flabsync.db")
		}
	case strings.HasPrefix(c.Database, "postgres://"), strings.HasPrefix(c.Database, "postgresql://"):
		if u, err := url.Parse(c.Database); err != nil || u.Host == "" {
			bad("database", redact.URL(c.Database), "is not a PostgreSQL URL: write postgres://user:pass@host:5432/dbname")
		}
	default:
		bad("database", redact.URL(c.Database), "must start with sqlite: or postgres://")
	}

	if c.Flabs.BaseURL != "" {
		if u, err := url.Parse(c.Flabs.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("flabs.base_url", c.Flabs.ShownBaseURL(), "must be an http(s) URL such as https://v2.flabs.in")
		}
	}
	if c.Flabs.RatePerSecond <= 0 || c.Flabs.RatePerSecond > 1000 {
		bad("flabs.rate_per_second", fmt.Sprint(c.Flabs.RatePerSecond), "must be more than 0 and at most 1000")
	}
	if c.Flabs.Burst < 1 || c.Flabs.Burst > 1000 {
		bad("flabs.burst", fmt.Sprint(c.Flabs.Burst), "must be between 1 and 1000")
	}
	if c.Flabs.Concurrency < 1 || c.Flabs.Concurrency > 256 {
		bad("flabs.concurrency", fmt.Sprint(c.Flabs.Concurrency), "must be between 1 and 256")
	}
	if c.Flabs.Timeout < 100*time.Millisecond || c.Flabs.Timeout > 10*time.Minute {
		bad("flabs.timeout", c.Flabs.Timeout.String(), "must be between 100ms and 10m")
	}
	if c.Flabs.MaxAttempts < 1 || c.Flabs.MaxAttempts > 100 {
		bad("flabs.max_attempts", fmt.Sprint(c.Flabs.MaxAttempts), "must be between 1 and 100")
	}

	for key, dir := range map[string]string{"inbox.dir": c.Inbox.Dir, "inbox.archive_dir": c.Inbox.ArchiveDir, "inbox.error_dir": c.Inbox.ErrorDir, "report.dir": c.Report.Dir} {
		if strings.TrimSpace(dir) == "" {
			bad(key, dir, "must name a directory")
		}
	}
	if c.Inbox.Settle < 0 {
		bad("inbox.settle", c.Inbox.Settle.String(), "must not be negative")
	}
	if c.Inbox.Concurrency < 1 || c.Inbox.Concurrency > 64 {
		bad("inbox.concurrency", fmt.Sprint(c.Inbox.Concurrency), "must be between 1 and 64 files at once")
	}
	if c.Inbox.TakeoverAfter < time.Second || c.Inbox.TakeoverAfter > 10*time.Minute {
		bad("inbox.takeover_after", c.Inbox.TakeoverAfter.String(), "must be between 1s and 10m")
	}

	if _, port, err := net.SplitHostPort(c.Webhook.Listen); err != nil || port == "" {
		bad("webhook.listen", c.Webhook.Listen, "must be HOST:PORT, e.g. 127.0.0.1:8080 or :8080")
	}
	if !strings.HasPrefix(c.Webhook.Path, "/") {
		bad("webhook.path", c.Webhook.Path, "must start with /")
	}
	if !validHeaderName(c.Webhook.AuthHeader) {
		bad("webhook.auth_header", c.Webhook.AuthHeader, "must be an HTTP header name, e.g. Authorization")
	}
	if c.Webhook.MaxBody < 1<<10 || c.Webhook.MaxBody > 64<<20 {
		bad("webhook.max_body", fmt.Sprint(c.Webhook.MaxBody), "must be between 1024 and 67108864 bytes (64 MiB)")
	}
	if (c.Webhook.TLSCert == "") != (c.Webhook.TLSKey == "") {
		bad("webhook.tls_cert", c.Webhook.TLSCert, "and webhook.tls_key must be set together")
	}

	if c.Mail.SMTPURL != "" {
		u, err := url.Parse(c.Mail.SMTPURL)
		if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
			bad("mail.smtp_url", redact.URL(c.Mail.SMTPURL), "must be smtp://[user:pass@]host[:port] or smtps://…")
		}
		if c.Mail.From == "" {
			bad("mail.from", "", "must be set when mail.smtp_url is")
		}
		if len(c.Mail.To) == 0 {
			bad("mail.to", "", "must list at least one address when mail.smtp_url is")
		}
	}
	if c.Mail.From != "" {
		if _, err := mail.ParseAddress(c.Mail.From); err != nil {
			bad("mail.from", c.Mail.From, "is not an email address")
		}
	}
	for _, to := range c.Mail.To {
		if _, err := mail.ParseAddress(to); err != nil {
			bad("mail.to", to, "is not an email address")
		}
	}

	if c.Reconcile.BillCreatedWithin <= 0 {
		bad("reconcile.bill_created_within", c.Reconcile.BillCreatedWithin.String(), "must be more than 0")
	}
	if c.Reconcile.RejectsFor <= 0 {
		bad("reconcile.rejects_for", c.Reconcile.RejectsFor.String(), "must be more than 0, e.g. 168h")
	}
	if c.Reconcile.BillCompletedWithin <= 0 {
		bad("reconcile.bill_completed_within", c.Reconcile.BillCompletedWithin.String(), "must be more than 0")
	}

	if days := c.Retention.PatientDataDays; days < 1 {
		bad("retention.patient_data_days", fmt.Sprint(days), "must be at least 1 (days); patient data is not kept forever")
	} else if c.Retention.PatientData() <= c.Reconcile.RejectsFor {
		bad("retention.patient_data_days", fmt.Sprint(days), "must be longer than reconcile.rejects_for (%s): rows still reported need their text", c.Reconcile.RejectsFor)
	}

	for _, name := range sortedKeys(c.Partners) {
		p := c.Partners[name]
		if !ValidPartner(name) {
			bad("partners."+name, name, "is not a partner name: use lower-case letters, digits, - and _ (it prefixes file names and integrator IDs)")
		}
		if p.Pattern != "" {
			if _, err := filepath.Match(p.Pattern, "x"); err != nil {
				bad("partners."+name+".pattern", p.Pattern, "is not a file name pattern: use * and ?, e.g. SRC_*.csv")
			}
		}
		if p.ExpectBy != "" {
			if _, err := time.Parse("15:04", p.ExpectBy); err != nil {
				bad("partners."+name+".expect_by", p.ExpectBy, "must be a time of day like 10:30")
			}
		}
		for _, addr := range p.Email {
			if _, err := mail.ParseAddress(addr); err != nil {
				bad("partners."+name+".email", addr, "is not an email address (write a list, or one comma-separated string)")
			}
		}
		if p.Receipts != nil && *p.Receipts && len(p.Email) == 0 {
			bad("partners."+name+".receipts", "true", "needs partners.%s.email: where would the receipts go?", name)
		}
		for _, field := range sortedKeys(p.Columns) {
			if !slices.Contains(ColumnFields, field) {
				bad("partners."+name+".columns."+field, field, "is not a column field; known: %s", strings.Join(ColumnFields, ", "))
			}
			if len(p.Columns[field]) == 0 {
				bad("partners."+name+".columns."+field, "", "must list at least one header name")
			}
		}
	}

	if _, err := time.LoadLocation(c.Timezone); err != nil {
		bad("timezone", c.Timezone, "is not a time zone: use an IANA name such as Asia/Kolkata, or Local")
	}
	for _, job := range sortedKeys(c.Schedules) {
		if !slices.Contains(Jobs, job) {
			bad("schedules."+job, job, "is not a job; known: %s", strings.Join(Jobs, ", "))
		}
		if spec := strings.TrimSpace(c.Schedules[job]); spec == "" {
			bad("schedules."+job, "", "must be a cron spec (\"0 2 * * *\"), @every DURATION, or off")
		} else if spec != "off" {
			if _, err := cron.ParseStandard(spec); err != nil {
				bad("schedules."+job, spec, "is not a cron spec (%v): use \"0 2 * * *\", @daily, @every 15m, or off", err)
			}
		}
	}
	if _, _, err := net.SplitHostPort(c.Serve.Listen); err != nil {
		bad("serve.listen", c.Serve.Listen, "must be host:port, e.g. 127.0.0.1:9090")
	}
	if c.Serve.ShutdownTimeout <= 0 {
		bad("serve.shutdown_timeout", c.Serve.ShutdownTimeout.String(), "must be more than 0")
	}

	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "warning", "error":
	default:
		bad("log.level", c.Log.Level, "must be debug, info, warn or error")
	}
	switch strings.ToLower(c.Log.Format) {
	case "text", "json":
	default:
		bad("log.format", c.Log.Format, "must be text or json")
	}
	return errors.Join(errs...)
}

// validHeaderName reports whether s is an HTTP header field name (an RFC
// 9110 token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

// ValidPartner reports whether name can name a partner: it prefixes file
// names and integrator IDs, so only lower-case letters, digits, - and _,
// at most 40 of them. Names from the config, from inbox folders and file
// names, and from --partner are all held to it.
func ValidPartner(name string) bool {
	if name == "" || len(name) > 40 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
