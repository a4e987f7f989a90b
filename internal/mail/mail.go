// Package mail sends flabsync's email over SMTP (github.com/wneessen/go-mail):
// the nightly digest to operations and receipts to clinics. It owns the
// smtp_url format, retries with back-off, and the check `flabsync doctor`
// makes of a relay.
package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/logging"
)

// Mailer defaults.
const (
	DefaultAttempts = 3
	DefaultBackoff  = 10 * time.Second // before the 2nd attempt; doubled before each next
	DefaultTimeout  = 2 * time.Minute  // per attempt, attachments included
)

// ErrNoMail is returned by New when mail.smtp_url is empty.
var ErrNoMail = errors.New("mail.smtp_url is not set")

// Mailer sends messages from From over the relay at URL.
type Mailer struct {
	URL  SMTPURL
	From string
	To   []string // mail.to: where a Message without its own To goes

	// TLSConfig, if set, is used for TLS instead of the system's roots
	// (for a relay with a private CA). ServerName defaults to URL.Host.
	TLSConfig *tls.Config
	Attempts  int           // DefaultAttempts
	Backoff   time.Duration // DefaultBackoff
	Timeout   time.Duration // DefaultTimeout
	Logger    *slog.Logger  // failed attempts are logged here; default: discarded
}

// Message is one email.
type Message struct {
	To          []string // nil: the Mailer's To
	Subject     string
	Text, HTML  string // HTML is optional
	Attachments []Attachment
}

// Attachment is a file attached under Name (default: its base name).
type Attachment struct {
	Path, Name, ContentType string
}

// New checks cfg and returns a Mailer with every default set. It fails
// with ErrNoMail when no SMTP URL is configured, and names the key and
// value of a bad address.
func New(cfg config.Mail) (*Mailer, error) {
	if strings.TrimSpace(cfg.SMTPURL) == "" {
		return nil, ErrNoMail
	}
	u, err := ParseSMTPURL(cfg.SMTPURL)
	if err != nil {
		return nil, err
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("mail.from %q: %w", cfg.From, err)
	}
	if len(cfg.To) == 0 {
		return nil, errors.New("mail.to: no recipient")
	}
	to, err := Addresses("mail.to", cfg.To)
	if err != nil {
		return nil, err
	}
	return &Mailer{URL: u, From: from.String(), To: to,
		Attempts: DefaultAttempts, Backoff: DefaultBackoff, Timeout: DefaultTimeout,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, nil
}

// Addresses parses each of list as an address; key names the setting in
// an error.
func Addresses(key string, list []string) ([]string, error) {
	out := make([]string, 0, len(list))
	for _, t := range list {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", key, t, err)
		}
		out = append(out, a.String())
	}
	return out, nil
}

// SendError is a send that failed every attempt.
type SendError struct {
	URL      string // masked
	To       []string
	Attempts int
	Err      error // the last attempt's error
}

func (e *SendError) Error() string {
	return fmt.Sprintf("email to %s via %s failed after %d %s: %v",
		strings.Join(e.To, ", "), e.URL, e.Attempts, plural(e.Attempts, "attempt", "attempts"), e.Err)
}

func (e *SendError) Unwrap() error { return e.Err }

// Permanent reports whether the server refused the message for good (a
// 5xx answer): sending it again later will not help.
func (e *SendError) Permanent() bool { return permanent(e.Err) }

// Send mails msg. A failed attempt is retried with back-off, up to
// Attempts in all, unless the server refused for good (a 5xx answer to
// the message) or ctx ends; then it returns a *SendError.
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	to := msg.To
	if to == nil {
		to = m.To
	}
	if len(to) == 0 {
		return errors.New("email: no recipient")
	}
	for _, a := range msg.Attachments {
		if _, err := os.Stat(a.Path); err != nil {
			return fmt.Errorf("email: attachment: %w", err)
		}
	}
	gm, err := m.message(msg, to)
	if err != nil {
		return err
	}
	attempts := max(1, m.Attempts)
	wait := m.Backoff
	n := 0
	for {
		n++
		if err = m.attempt(ctx, gm); err == nil {
			return nil
		}
		m.logger().LogAttrs(ctx, slog.LevelWarn, "email attempt failed",
			slog.Int("attempt", n), slog.Int("of", attempts), slog.String("smtp", m.URL.String()), logging.Err(err))
		if n >= attempts || permanent(err) {
			break
		}
		if werr := sleep(ctx, wait); werr != nil {
			err = errors.Join(err, werr)
			break
		}
		wait *= 2
	}
	return &SendError{URL: m.URL.String(), To: to, Attempts: n, Err: err}
}

// Check connects to the relay, with TLS and AUTH as configured, and
// leaves without sending: `flabsync doctor`'s test of mail settings.
func (m *Mailer) Check(ctx context.Context) error {
	c, err := m.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout())
	defer cancel()
	if err := c.DialWithContext(ctx); err != nil {
		return fmt.Errorf("smtp %s: %w", m.URL, err)
	}
	return c.Close()
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (m *Mailer) attempt(ctx context.Context, msg *gomail.Msg) error {
	c, err := m.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout())
	defer cancel()
	return c.DialAndSendWithContext(ctx, msg)
}

func (m *Mailer) message(in Message, to []string) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.From(m.From); err != nil {
		return nil, fmt.Errorf("from %q: %w", m.From, err)
	}
	if err := msg.To(to...); err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	msg.Subject(in.Subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(gomail.TypeTextPlain, in.Text)
	if in.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, in.HTML)
	}
	for _, a := range in.Attachments {
		name := a.Name
		if name == "" {
			name = filepath.Base(a.Path)
		}
		opts := []gomail.FileOption{gomail.WithFileName(name)}
		if a.ContentType != "" {
			opts = append(opts, gomail.WithFileContentType(gomail.ContentType(a.ContentType)))
		}
		msg.AttachFile(a.Path, opts...)
	}
	return msg, nil
}

func (m *Mailer) timeout() time.Duration {
	if m.Timeout <= 0 {
		return DefaultTimeout
	}
	return m.Timeout
}

func (m *Mailer) client() (*gomail.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if m.TLSConfig != nil {
		tc = m.TLSConfig.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = m.URL.Host
	}
	opts := []gomail.Option{gomail.WithPort(m.URL.Port), gomail.WithTimeout(m.timeout()), gomail.WithTLSConfig(tc)}
	switch m.URL.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSRequired:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if m.URL.Auth() {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(m.URL.Username), gomail.WithPassword(m.URL.Password))
	}
	c, err := gomail.NewClient(m.URL.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client: %w", err)
	}
	return c, nil
}

func (m *Mailer) logger() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// permanent reports whether the server refused the message for good: a
// 5xx answer to MAIL, RCPT or DATA will be the same in a minute.
func permanent(err error) bool {
	var se *gomail.SendError
	return errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
