package report_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/reconcile/report"
)

// newMailer is a Mailer for srv with quick back-off.
func newMailer(t *testing.T, url string) *report.Mailer {
	t.Helper()
	m, err := report.NewMailer(config.Mail{SMTPURL: url, From: "flabsync <flabsync@example.com>",
		To: config.StringList{"ops@example.com", "lead@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	m.Backoff = 5 * time.Millisecond
	m.Timeout = 10 * time.Second
	return m
}

// checkDelivered checks one message arrived to both recipients with the
// digest in text and HTML and the workbook attached, and that the
// attachment opens and agrees with the digest.
func checkDelivered(t *testing.T, srv *smtpServer, path string, dg report.Digest) received {
	t.Helper()
	msgs := srv.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages arrived, want 1", len(msgs))
	}
	msg := msgs[0]
	if msg.From != "flabsync@example.com" || !slices.Equal(msg.To, []string{"ops@example.com", "lead@example.com"}) {
		t.Errorf("envelope from %q to %q", msg.From, msg.To)
	}
	p := parseMail(t, msg.Data)
	p.Text = strings.ReplaceAll(p.Text, "\r\n", "\n")
	if p.Subject != dg.Subject() {
		t.Errorf("subject %q, want %q", p.Subject, dg.Subject())
	}
	if strings.TrimSpace(p.Text) != strings.TrimSpace(dg.Text()) {
		t.Errorf("text body:\n%s\nwant:\n%s", p.Text, dg.Text())
	}
	if !strings.Contains(p.HTML, "<b>Open exceptions: ") {
		t.Errorf("no HTML digest:\n%s", p.HTML)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Attachment, want) {
		t.Fatalf("attachment %q: %d bytes, the workbook has %d", p.AttachName, len(p.Attachment), len(want))
	}
	if p.AttachName != filepath.Base(path) || p.AttachType != report.XLSXContentType {
		t.Errorf("attachment %q of type %q", p.AttachName, p.AttachType)
	}
	f, err := excelize.OpenReader(bytes.NewReader(p.Attachment))
	if err != nil {
		t.Fatalf("the attachment does not open: %v", err)
	}
	defer f.Close()
	checkDigestMatchesSummary(t, p.Text, readSummary(t, f))
	return msg
}

func TestSendPlain(t *testing.T) {
	srv := startSMTP(t, smtpOpts{})
	path, d, info := writeSample(t)
	dg := report.NewDigest(d, info)
	m := newMailer(t, fmt.Sprintf("smtp://127.0.0.1:%d?starttls=none", srv.Port))
	if err := m.Send(context.Background(), dg, path); err != nil {
		t.Fatal(err)
	}
	msg := checkDelivered(t, srv, path, dg)
	if msg.TLS || msg.User != "" {
		t.Errorf("tls %v user %q", msg.TLS, msg.User)
	}
}

func TestSendSTARTTLSAuth(t *testing.T) {
	tc, pool := selfSigned(t)
	srv := startSMTP(t, smtpOpts{user: "ops", pass: "p@ss:w/rd", tls: tc})
	path, d, info := writeSample(t)
	dg := report.NewDigest(d, info)
	m := newMailer(t, fmt.Sprintf("smtp://ops:p%%40ss%%3Aw%%2Frd@127.0.0.1:%d", srv.Port))
	if m.URL.TLS != report.TLSRequired {
		t.Fatalf("a URL with a password gets %q, want STARTTLS required", m.URL.TLS)
	}
	t.Run("UntrustedCert", func(t *testing.T) {
		m := *m
		m.Attempts = 1
		err := m.Send(context.Background(), dg, path)
		if err == nil || len(srv.messages()) != 0 {
			t.Fatalf("sent over a certificate nobody trusts (err %v)", err)
		}
	})
	m.TLSConfig = &tls.Config{RootCAs: pool}
	if err := m.Send(context.Background(), dg, path); err != nil {
		t.Fatal(err)
	}
	msg := checkDelivered(t, srv, path, dg)
	if !msg.TLS || msg.User != "ops" {
		t.Errorf("tls %v user %q, want TLS and user ops", msg.TLS, msg.User)
	}
}

func TestSendImplicitTLS(t *testing.T) {
	tc, pool := selfSigned(t)
	srv := startSMTP(t, smtpOpts{user: "ops", pass: "secret", tls: tc, implicit: true})
	path, d, info := writeSample(t)
	dg := report.NewDigest(d, info)
	m := newMailer(t, fmt.Sprintf("smtps://ops:secret@127.0.0.1:%d", srv.Port))
	m.TLSConfig = &tls.Config{RootCAs: pool}
	if err := m.Send(context.Background(), dg, path); err != nil {
		t.Fatal(err)
	}
	if msg := checkDelivered(t, srv, path, dg); !msg.TLS || msg.User != "ops" {
		t.Errorf("tls %v user %q", msg.TLS, msg.User)
	}
}

func TestSendRetries(t *testing.T) {
	srv := startSMTP(t, smtpOpts{failData: 1}) // the first DATA gets 451
	path, d, info := writeSample(t)
	dg := report.NewDigest(d, info)
	m := newMailer(t, fmt.Sprintf("smtp://127.0.0.1:%d?starttls=none", srv.Port))
	if err := m.Send(context.Background(), dg, path); err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, srv, path, dg)
	if n := srv.sessions.Load(); n != 2 {
		t.Errorf("%d SMTP sessions, want 2 (one failed, one retried)", n)
	}
}

func TestSendFails(t *testing.T) {
	path, d, info := writeSample(t)
	dg := report.NewDigest(d, info)
	cases := map[string]struct {
		opts         smtpOpts
		url          string
		wantAttempts int
	}{
		"TemporaryEveryTime": {opts: smtpOpts{failData: 100}, url: "smtp://127.0.0.1:%d?starttls=none", wantAttempts: 3},
		"Permanent":          {opts: smtpOpts{failData: 100, failCode: 554}, url: "smtp://127.0.0.1:%d?starttls=none", wantAttempts: 1},
		"BadPassword": {opts: smtpOpts{user: "ops", pass: "right"},
			url: "smtp://ops:wrong@127.0.0.1:%d?starttls=none", wantAttempts: 3},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			srv := startSMTP(t, c.opts)
			m := newMailer(t, fmt.Sprintf(c.url, srv.Port))
			err := m.Send(context.Background(), dg, path)
			var se *report.SendError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a *SendError", err)
			}
			if se.Attempts != c.wantAttempts || se.Path != path {
				t.Errorf("attempts %d path %q, want %d and %q", se.Attempts, se.Path, c.wantAttempts, path)
			}
			for _, want := range []string{"the workbook is still at " + path, "ops@example.com", fmt.Sprintf("127.0.0.1:%d", srv.Port)} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "wrong") {
				t.Errorf("error %q shows the password", err)
			}
			if len(srv.messages()) != 0 {
				t.Error("a message arrived")
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("workbook gone: %v", err)
			}
		})
	}
}

func TestSendCancelled(t *testing.T) {
	path, d, info := writeSample(t)
	srv := startSMTP(t, smtpOpts{})
	m := newMailer(t, fmt.Sprintf("smtp://127.0.0.1:%d?starttls=none", srv.Port))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := m.Send(ctx, report.NewDigest(d, info), path)
	var se *report.SendError
	if !errors.As(err, &se) || se.Attempts != 1 || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled send: %v", err)
	}
}

func TestSendMissingAttachment(t *testing.T) {
	srv := startSMTP(t, smtpOpts{})
	m := newMailer(t, fmt.Sprintf("smtp://127.0.0.1:%d?starttls=none", srv.Port))
	err := m.Send(context.Background(), report.Digest{}, filepath.Join(t.TempDir(), "nope.xlsx"))
	if !errors.Is(err, os.ErrNotExist) || srv.sessions.Load() != 0 {
		t.Fatalf("err %v, %d sessions", err, srv.sessions.Load())
	}
}

func TestNewMailer(t *testing.T) {
	good := config.Mail{SMTPURL: "smtp://mail:587", From: "a@example.com", To: config.StringList{"b@example.com"}}
	if _, err := report.NewMailer(good); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		cfg  config.Mail
		want string
	}{
		"NoURL":   {config.Mail{From: "a@example.com", To: config.StringList{"b@example.com"}}, "smtp_url"},
		"BadURL":  {config.Mail{SMTPURL: "http://x", From: "a@example.com", To: config.StringList{"b@example.com"}}, "smtp_url"},
		"BadFrom": {config.Mail{SMTPURL: "smtp://x", From: "not an address", To: config.StringList{"b@example.com"}}, "mail.from"},
		"NoTo":    {config.Mail{SMTPURL: "smtp://x", From: "a@example.com"}, "mail.to"},
		"BadTo":   {config.Mail{SMTPURL: "smtp://x", From: "a@example.com", To: config.StringList{"b@example.com", "nope"}}, `mail.to "nope"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := report.NewMailer(c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one about %s", err, c.want)
			}
		})
	}
	if _, err := report.NewMailer(config.Mail{}); !errors.Is(err, report.ErrNoMail) {
		t.Errorf("empty config: %v, want ErrNoMail", err)
	}
}

// TestSendTooLargeToAttach: a workbook over mail.max_attachment_bytes is
// not attached (mail servers refuse big messages); the email still goes,
// and says how big the workbook is and where it lies.
func TestSendTooLargeToAttach(t *testing.T) {
	srv := startSMTP(t, smtpOpts{})
	path, d, info := writeSample(t)
	dg := report.NewDigest(d, info)
	m := newMailer(t, fmt.Sprintf("smtp://127.0.0.1:%d?starttls=none", srv.Port))
	m.MaxAttachment = 1024 // the sample workbook is larger
	if err := m.Send(context.Background(), dg, path); err != nil {
		t.Fatal(err)
	}
	msgs := srv.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	p := parseMail(t, msgs[0].Data)
	if len(p.Attachment) != 0 {
		t.Errorf("a %d-byte attachment went although the limit is 1 KiB", len(p.Attachment))
	}
	for _, body := range []string{p.Text, p.HTML} {
		if !strings.Contains(body, "too large to attach") || !strings.Contains(body, path) {
			t.Errorf("the email does not say where the workbook is:\n%s", body)
		}
	}
}
