// Package doctor checks, before the first night, that what a lab going
// live configured works: the config, the database, the Flabs account, the
// mail relay, the inbox folders and the webhook receiver's way in. Each
// check is independent (a refused Flabs secret fails only the flabs
// check), bounded by a timeout, and says what to do when it fails. No
// secret from the config ever appears in a check's detail.
package doctor

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/mail"
)

// DefaultTimeout bounds each check.
const DefaultTimeout = 10 * time.Second

// Check names, in the order Run returns them.
const (
	NameConfig   = "config"
	NameDatabase = "database"
	NameFlabs    = "flabs"
	NameMail     = "mail"
	NameInbox    = "inbox"
	NameWebhook  = "webhook"
)

// Report is doctor's --json shape: {"checks": [{"name", "ok",
// "warning", "detail"}]}, one entry per check in a fixed order. A
// warning has ok true and warning true.
type Report struct {
	Checks []Check `json:"checks"`
}

// Check is the outcome of one check. A warning passes (OK is true) but
// says something a person should look at.
type Check struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Warning bool   `json:"warning"`
	Detail  string `json:"detail"`
}

// Options shape a run. The zero value runs every check without sending
// mail or testing a public URL.
type Options struct {
	// ConfigPath is the file the config was loaded from, for the config
	// check's detail; empty means no file was found (built-in defaults).
	ConfigPath string
	// SendTestMail sends one short message to mail.to.
	SendTestMail bool
	// PublicURL, when set, is the URL Flabs posts webhooks to: a test
	// event is posted there and must arrive at webhook.listen. A URL
	// without a path gets webhook.path.
	PublicURL string
	// Timeout bounds each check, default DefaultTimeout.
	Timeout time.Duration
	// MailTLS, if set, is the TLS config for the SMTP relay (tests: a
	// private root pool). Default: the system's roots.
	MailTLS *tls.Config
	// HTTPClient posts the test event to PublicURL (tests: a client that
	// trusts a test server's certificate). Default: the system's roots.
	// Redirects are never followed: Flabs would not follow them either.
	HTTPClient *http.Client
}

// checkFunc is one check. It returns promptly when ctx ends.
type checkFunc func(ctx context.Context, cfg *config.Config, opts Options) Check

// Run runs every check on cfg, concurrently, each within opts.Timeout,
// and returns them in a fixed order: config, database, flabs, mail,
// inbox, webhook. A check that does not return in time is a failure
// saying so.
func Run(ctx context.Context, cfg *config.Config, opts Options) []Check {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	all := []struct {
		name string
		fn   checkFunc
	}{
		{NameConfig, checkConfig},
		{NameDatabase, checkDatabase},
		{NameFlabs, checkFlabs},
		{NameMail, checkMail},
		{NameInbox, checkInbox},
		{NameWebhook, checkWebhook},
	}
	results := make([]chan Check, len(all))
	for i, c := range all {
		results[i] = make(chan Check, 1) // never blocks a check that ran late
		go func() {
			cctx, cancel := context.WithTimeout(ctx, opts.Timeout)
			defer cancel()
			results[i] <- c.fn(cctx, cfg, opts)
		}()
	}
	// Checks end when their context does; the grace covers their cleanup.
	// Past it a check is reported late and left behind (its channel is
	// buffered, so it does not block when it ends).
	wait, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.Timeout+time.Second)
	defer cancel()
	secrets := Secrets(cfg)
	out := make([]Check, len(all))
	for i, c := range all {
		select {
		case out[i] = <-results[i]:
		case <-wait.Done():
			select {
			case out[i] = <-results[i]:
			default:
				out[i] = fail(c.name, "did not finish within %s", opts.Timeout)
			}
		}
		out[i].Detail = Scrub(out[i].Detail, secrets)
	}
	return out
}

// Failed counts the checks that failed.
func Failed(checks []Check) int {
	n := 0
	for _, c := range checks {
		if !c.OK {
			n++
		}
	}
	return n
}

func pass(name, format string, args ...any) Check {
	return Check{Name: name, OK: true, Detail: fmt.Sprintf(format, args...)}
}

func warn(name, format string, args ...any) Check {
	return Check{Name: name, OK: true, Warning: true, Detail: fmt.Sprintf(format, args...)}
}

func fail(name, format string, args ...any) Check {
	return Check{Name: name, OK: false, Detail: fmt.Sprintf(format, args...)}
}

// withWarnings turns an ok check into a warning when there are any, the
// warnings written before its own detail.
func withWarnings(c Check, warnings []string) Check {
	if len(warnings) == 0 || !c.OK {
		return c
	}
	c.Warning = true
	c.Detail = strings.Join(warnings, "; ") + "; " + c.Detail
	return c
}

// MinSecretLen is the shortest secret Scrub masks: masking a two-letter
// value would garble every word that holds it.
const MinSecretLen = 4

// Secrets lists the secrets in cfg: the Flabs client secret, the webhook
// token, the SMTP password and the database password.
func Secrets(cfg *config.Config) []string {
	s := []string{cfg.Flabs.ClientSecret, cfg.Webhook.AuthToken}
	if u, err := mail.ParseSMTPURL(cfg.Mail.SMTPURL); err == nil {
		s = append(s, u.Password)
	}
	if u, err := url.Parse(cfg.Database); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			s = append(s, p)
		}
	}
	return s
}

// Scrub masks every secret of at least MinSecretLen bytes in s: the
// checks never quote one, and this makes sure of it whatever an error
// from a server or library repeats.
func Scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= MinSecretLen {
			s = strings.ReplaceAll(s, sec, "xxxxx")
		}
	}
	return s
}
