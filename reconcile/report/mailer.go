package report

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
	DefaultMailAttempts = 3
	DefaultMailBackoff  = 10 * time.Second // before the 2nd attempt; doubled before each next
	DefaultMailTimeout  = 2 * time.Minute  // per attempt, the workbook's upload included
)

// XLSXContentType is the attachment's MIME type.
const XLSXContentType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// ErrNoMail is returned by NewMailer when mail.smtp_url is empty.
var ErrNoMail = errors.New("mail.smtp_url is not set")

// Mailer sends the digest with the workbook attached to mail.to over
// SMTP (github.com/wneessen/go-mail).
type Mailer struct {
	URL  SMTPURL
	From string
	To   []string

	// TLSConfig, if set, is used for TLS instead of the system's roots
	// (for a relay with a private CA). ServerName defaults to URL.Host.
	TLSConfig *tls.Config
	Attempts  int           // DefaultMailAttempts
	Backoff   time.Duration // DefaultMailBackoff
	Timeout   time.Duration // DefaultMailTimeout
	Logger    *slog.Logger  // failed attempts are logged here; default: discarded
	// MaxAttachment is the largest workbook attached (0: no limit). A
	// larger one is left out and the digest says where it is.
	MaxAttachment int64
}

// NewMailer checks cfg and returns a Mailer with every default set. It
// fails with ErrNoMail when no SMTP URL is configured, and names the key
// and value of a bad address.
func NewMailer(cfg config.Mail) (*Mailer, error) {
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
	to := make([]string, 0, len(cfg.To))
	for _, t := range cfg.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return nil, fmt.Errorf("mail.to %q: %w", t, err)
		}
		to = append(to, a.String())
	}
	return &Mailer{
		URL: u, From: from.String(), To: to,
		Attempts: DefaultMailAttempts, Backoff: DefaultMailBackoff, Timeout: DefaultMailTimeout, MaxAttachment: cfg.MaxAttachmentBytes,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, nil
}

// SendError is a send that failed every attempt. The workbook it was to
// carry is still on disk at Path.
type SendError struct {
	URL      string // masked
	To       []string
	Attempts int
	Path     string
	Err      error // the last attempt's error
}

func (e *SendError) Error() string {
	return fmt.Sprintf("email to %s via %s failed after %d %s: %v; the workbook is still at %s",
		strings.Join(e.To, ", "), e.URL, e.Attempts, plural(e.Attempts, "attempt", "attempts"), e.Err, e.Path)
}

func (e *SendError) Unwrap() error { return e.Err }

// Send mails the digest (plain text and HTML) with the file at attachment
// attached, in one message to every recipient. A failed attempt is
// retried with back-off, up to Attempts in all, unless the server refused
// for good (a 5xx answer to the message) or ctx ends; then it returns a
// *SendError that says what failed and where the workbook still is.
func (m *Mailer) Send(ctx context.Context, dg Digest, attachment string) error {
	fi, err := os.Stat(attachment)
	if err != nil {
		return fmt.Errorf("email: attachment: %w", err)
	}
	if m.MaxAttachment > 0 && fi.Size() > m.MaxAttachment {
		dg.NotAttached = fmt.Sprintf("The workbook (%.1f MiB) is too large to attach (mail.max_attachment_bytes is %.1f MiB); it is at %s",
			float64(fi.Size())/(1<<20), float64(m.MaxAttachment)/(1<<20), attachment)
	}
	attempts := max(1, m.Attempts)
	wait := m.Backoff
	n := 0
	for {
		n++
		if err = m.attempt(ctx, dg, attachment); err == nil {
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
	return &SendError{URL: m.URL.String(), To: m.To, Attempts: n, Path: attachment, Err: err}
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

func (m *Mailer) attempt(ctx context.Context, dg Digest, attachment string) error {
	msg, err := m.message(dg, attachment)
	if err != nil {
		return err
	}
	c, err := m.client()
	if err != nil {
		return err
	}
	if m.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.Timeout)
		defer cancel()
	}
	return c.DialAndSendWithContext(ctx, msg)
}

func (m *Mailer) message(dg Digest, attachment string) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.From(m.From); err != nil {
		return nil, fmt.Errorf("from %q: %w", m.From, err)
	}
	if err := msg.To(m.To...); err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	msg.Subject(dg.Subject())
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(gomail.TypeTextPlain, dg.Text())
	msg.AddAlternativeString(gomail.TypeTextHTML, dg.HTML())
	if dg.NotAttached == "" {
		msg.AttachFile(attachment, gomail.WithFileName(filepath.Base(attachment)),
			gomail.WithFileContentType(gomail.ContentType(XLSXContentType)))
	}
	return msg, nil
}

func (m *Mailer) client() (*gomail.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if m.TLSConfig != nil {
		tc = m.TLSConfig.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = m.URL.Host
	}
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = DefaultMailTimeout
	}
	opts := []gomail.Option{gomail.WithPort(m.URL.Port), gomail.WithTimeout(timeout), gomail.WithTLSConfig(tc)}
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
