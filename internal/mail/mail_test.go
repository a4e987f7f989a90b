package mail_test

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

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/mail"
	"github.com/flabsync/flabsync/internal/mail/mailtest"
)

// newMailer is a Mailer for url with quick back-off.
func newMailer(t *testing.T, url string) *mail.Mailer {
	t.Helper()
	m, err := mail.New(config.Mail{SMTPURL: url, From: "flabsync <flabsync@example.com>",
		To: config.StringList{"ops@example.com", "lead@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	m.Backoff = 5 * time.Millisecond
	m.Timeout = 10 * time.Second
	return m
}

// sample is a message with a CSV attachment.
func sample(t *testing.T) (mail.Message, []byte) {
	t.Helper()
	body := []byte("row,reason\n14,age \"abc\" is not a number\n")
	path := filepath.Join(t.TempDir(), "rejects.csv")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return mail.Message{Subject: "Receipt: sunrise.csv — 12 rows, 1 rejected", Text: "plain body\n", HTML: "<p>html body</p>",
		Attachments: []mail.Attachment{{Path: path, ContentType: "text/csv"}}}, body
}

// checkDelivered checks one message arrived to to with its subject,
// both bodies and the attachment byte for byte.
func checkDelivered(t *testing.T, srv *mailtest.Server, msg mail.Message, attachment []byte, to ...string) mailtest.Received {
	t.Helper()
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages arrived, want 1", len(msgs))
	}
	got := msgs[0]
	if got.From != "flabsync@example.com" || !slices.Equal(got.To, to) {
		t.Errorf("envelope from %q to %q, want to %q", got.From, got.To, to)
	}
	p := mailtest.Parse(t, got.Data)
	if p.Subject != msg.Subject {
		t.Errorf("subject %q, want %q", p.Subject, msg.Subject)
	}
	if strings.TrimSpace(strings.ReplaceAll(p.Text, "\r\n", "\n")) != strings.TrimSpace(msg.Text) || !strings.Contains(p.HTML, msg.HTML) {
		t.Errorf("bodies: text %q html %q", p.Text, p.HTML)
	}
	if !bytes.Equal(p.Attachment, attachment) || p.AttachName != "rejects.csv" || p.AttachType != "text/csv" {
		t.Errorf("attachment %q (%s): %q", p.AttachName, p.AttachType, p.Attachment)
	}
	return got
}

func TestSendPlain(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	msg, body := sample(t)
	m := newMailer(t, fmt.Sprintf("smtp://127.0.0.1:%d?starttls=none", srv.Port))
	if err := m.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	got := checkDelivered(t, srv, msg, body, "ops@example.com", "lead@example.com")
	if got.TLS || got.User != "" {
		t.Errorf("tls %v user %q", got.TLS, got.User)
	}
}

// TestSendToOthers: a message with its own recipients (a clinic's
// receipt) goes to them, not to mail.to.
func TestSendToOthers(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	msg, body := sample(t)
	msg.To = []string{"desk@sunrise.example"}
	m := newMailer(t, fmt.Sprintf("smtp://127.0.0.1:%d?starttls=none", srv.Port))
	if err := m.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, srv, msg, body, "desk@sunrise.example")
}

func TestSendSTARTTLSAuth(t *testing.T) {
	tc, pool := mailtest.SelfSigned(t)
	srv := mailtest.Start(t, mailtest.Options{User: "ops", Pass: "p@ss:w/rd", TLS: tc})
	msg, body := sample(t)
	m := newMailer(t, fmt.Sprintf("smtp://ops:p%%40ss%%3Aw%%2Frd@127.0.0.1:%d", srv.Port))
	if m.URL.TLS != mail.TLSRequired {
		t.Fatalf("a URL with a password gets %q, want STARTTLS required", m.URL.TLS)
	}
	t.Run("UntrustedCert", func(t *testing.T) {
		m := *m
		m.Attempts = 1
		if err := m.Send(context.Background(), msg); err == nil || len(srv.Messages()) != 0 {
			t.Fatalf("sent over a certificate nobody trusts (err %v)", err)
		}
		if err := m.Check(context.Background()); err == nil {
			t.Error("Check passed over a certificate nobody trusts")
		}
	})
	m.TLSConfig = &tls.Config{RootCAs: pool}
	if err := m.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if len(srv.Messages()) != 0 {
		t.Fatal("Check sent a message")
	}
	if err := m.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	got := checkDelivered(t, srv, msg, body, "ops@example.com", "lead@example.com")
	if !got.TLS || got.User != "ops" {
		t.Errorf("tls %v user %q, want TLS and user ops", got.TLS, got.User)
	}
}

func TestSendImplicitTLS(t *testing.T) {
	tc, pool := mailtest.SelfSigned(t)
	srv := mailtest.Start(t, mailtest.Options{User: "ops", Pass: "secret", TLS: tc, Implicit: true})
	msg, body := sample(t)
	m := newMailer(t, fmt.Sprintf("smtps://ops:secret@127.0.0.1:%d", srv.Port))
	m.TLSConfig = &tls.Config{RootCAs: pool}
	if err := m.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if got := checkDelivered(t, srv, msg, body, "ops@example.com", "lead@example.com"); !got.TLS || got.User != "ops" {
		t.Errorf("tls %v user %q", got.TLS, got.User)
	}
}

func TestSendRetries(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{FailData: 1}) // the first DATA gets 451
	msg, body := sample(t)
	m := newMailer(t, fmt.Sprintf("smtp://127.0.0.1:%d?starttls=none", srv.Port))
	if err := m.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, srv, msg, body, "ops@example.com", "lead@example.com")
	if n := srv.Sessions.Load(); n != 2 {
		t.Errorf("%d SMTP sessions, want 2 (one failed, one retried)", n)
	}
}

func TestSendFails(t *testing.T) {
	msg, _ := sample(t)
	cases := map[string]struct {
		opts         mailtest.Options
		url          string
		wantAttempts int
	}{
		"TemporaryEveryTime": {opts: mailtest.Options{FailData: 100}, url: "smtp://127.0.0.1:%d?starttls=none", wantAttempts: 3},
		"Permanent":          {opts: mailtest.Options{FailData: 100, FailCode: 554}, url: "smtp://127.0.0.1:%d?starttls=none", wantAttempts: 1},
		"BadPassword": {opts: mailtest.Options{User: "ops", Pass: "right"},
			url: "smtp://ops:wrong@127.0.0.1:%d?starttls=none", wantAttempts: 3},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			srv := mailtest.Start(t, c.opts)
			m := newMailer(t, fmt.Sprintf(c.url, srv.Port))
			err := m.Send(context.Background(), msg)
			var se *mail.SendError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a *SendError", err)
			}
			if se.Attempts != c.wantAttempts {
				t.Errorf("attempts %d, want %d", se.Attempts, c.wantAttempts)
			}
			for _, want := range []string{"ops@example.com", fmt.Sprintf("127.0.0.1:%d", srv.Port)} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "wrong") {
				t.Errorf("error %q shows the password", err)
			}
			if len(srv.Messages()) != 0 {
				t.Error("a message arrived")
			}
		})
	}
}

// TestCheck: a good relay passes; a wrong password or a closed port
// fails, and the error never shows the password.
func TestCheck(t *testing.T) {
	tc, pool := mailtest.SelfSigned(t)
	srv := mailtest.Start(t, mailtest.Options{User: "ops", Pass: "right", TLS: tc})
	check := func(url string) error {
		m := newMailer(t, fmt.Sprintf(url, srv.Port))
		m.TLSConfig = &tls.Config{RootCAs: pool}
		return m.Check(context.Background())
	}
	if err := check("smtp://ops:right@127.0.0.1:%d"); err != nil {
		t.Fatalf("good relay: %v", err)
	}
	if err := check("smtp://ops:wrong@127.0.0.1:%d"); err == nil || strings.Contains(err.Error(), "wrong") {
		t.Errorf("wrong password: %v", err)
	}
	closed := mailtest.Start(t, mailtest.Options{})
	port := closed.Port
	closed.Close()
	if err := newMailer(t, fmt.Sprintf("smtp://127.0.0.1:%d?starttls=none", port)).Check(context.Background()); err == nil {
		t.Error("a closed port passed")
	}
	if len(srv.Messages()) != 0 {
		t.Error("Check sent a message")
	}
}

func TestSendCancelled(t *testing.T) {
	msg, _ := sample(t)
	srv := mailtest.Start(t, mailtest.Options{})
	m := newMailer(t, fmt.Sprintf("smtp://127.0.0.1:%d?starttls=none", srv.Port))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := m.Send(ctx, msg)
	var se *mail.SendError
	if !errors.As(err, &se) || se.Attempts != 1 || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled send: %v", err)
	}
}

func TestSendMissingAttachment(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	m := newMailer(t, fmt.Sprintf("smtp://127.0.0.1:%d?starttls=none", srv.Port))
	err := m.Send(context.Background(), mail.Message{Subject: "x", Attachments: []mail.Attachment{{Path: filepath.Join(t.TempDir(), "nope.csv")}}})
	if !errors.Is(err, os.ErrNotExist) || srv.Sessions.Load() != 0 {
		t.Fatalf("err %v, %d sessions", err, srv.Sessions.Load())
	}
}

func TestNew(t *testing.T) {
	good := config.Mail{SMTPURL: "smtp://mail:587", From: "a@example.com", To: config.StringList{"b@example.com"}}
	if _, err := mail.New(good); err != nil {
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
			_, err := mail.New(c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one about %s", err, c.want)
			}
		})
	}
	if _, err := mail.New(config.Mail{}); !errors.Is(err, mail.ErrNoMail) {
		t.Errorf("empty config: %v, want ErrNoMail", err)
	}
}
