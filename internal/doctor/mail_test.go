package doctor_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/flabsync/flabsync/internal/doctor"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/internal/mail/mailtest"
)

// TestUnreachableSMTP: a relay that refuses connections fails the mail
// check alone.
func TestUnreachableSMTP(t *testing.T) {
	t.Parallel()
	r := newRig(t, flabstest.Options{})
	r.smtp.Close()
	by := only(t, r.run(t), doctor.NameMail)
	contains(t, by[doctor.NameMail], "check mail.smtp_url", "smtp://ops:xxxxx@127.0.0.1")
}

// TestWrongSMTPPassword: AUTH is part of the check, so a refused password
// fails it (before anything is sent).
func TestWrongSMTPPassword(t *testing.T) {
	t.Parallel()
	r := newRig(t, flabstest.Options{})
	r.cfg.Mail.SMTPURL = strings.Replace(r.cfg.Mail.SMTPURL, smtpPass, wrongSecret, 1)
	by := only(t, r.run(t), doctor.NameMail)
	contains(t, by[doctor.NameMail], "535")
	if n := len(r.smtp.Messages()); n != 0 {
		t.Errorf("%d messages arrived", n)
	}
}

// TestSendTestMail: --send-test-mail delivers exactly one message to
// mail.to, over STARTTLS, as the configured user.
func TestSendTestMail(t *testing.T) {
	t.Parallel()
	r := newRig(t, flabstest.Options{})
	r.opts.SendTestMail = true
	by := only(t, r.run(t))
	contains(t, by[doctor.NameMail], "a test message went to <ops@lab.example>")
	msgs := r.smtp.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages arrived, want 1", len(msgs))
	}
	m := msgs[0]
	if !slices.Equal(m.To, []string{"ops@lab.example"}) || !m.TLS || m.User != "ops" {
		t.Errorf("message to %v, TLS %v, user %q: want ops@lab.example over TLS as ops", m.To, m.TLS, m.User)
	}
	if p := mailtest.Parse(t, m.Data); p.Subject != "flabsync doctor: test message" || !strings.Contains(p.Text, "flabsync doctor") {
		t.Errorf("subject %q, text %q", p.Subject, p.Text)
	}
	noSecrets(t, string(m.Data))
}

// TestNoMailIsAWarning: without mail.smtp_url the check passes with a
// warning that the report will not be emailed.
func TestNoMailIsAWarning(t *testing.T) {
	t.Parallel()
	r := newRig(t, flabstest.Options{})
	r.cfg.Mail.SMTPURL = ""
	by := only(t, r.run(t))
	if !by[doctor.NameMail].Warning {
		t.Errorf("mail: want a warning: %+v", by[doctor.NameMail])
	}
	contains(t, by[doctor.NameMail], "will not be emailed")
}
