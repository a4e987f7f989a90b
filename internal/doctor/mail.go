package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/mail"
)

// checkMail connects to the relay with STARTTLS (or implicit TLS) and
// AUTH as mail.smtp_url says, and leaves without sending; with
// SendTestMail it then sends one short message to mail.to. No mail
// configured is a warning: the nightly report is then only written to
// report.dir.
func checkMail(ctx context.Context, cfg *config.Config, opts Options) Check {
	m, err := mail.New(cfg.Mail)
	if errors.Is(err, mail.ErrNoMail) {
		return warn(NameMail, "mail.smtp_url is not set: the nightly report will not be emailed (only written to report.dir %s); set mail.smtp_url, mail.from and mail.to", cfg.Report.Dir)
	}
	if err != nil {
		return fail(NameMail, "%v", err)
	}
	m.TLSConfig = opts.MailTLS
	m.Attempts = 1
	m.Timeout = opts.Timeout
	if err := m.Check(ctx); err != nil {
		return fail(NameMail, "%v: check mail.smtp_url (host, port, starttls, user and password) and that this machine may reach the relay", err)
	}
	did := "connected to " + m.URL.String() + describeSession(m.URL)
	if !opts.SendTestMail {
		return pass(NameMail, "%s; --send-test-mail sends a test message to %s", did, strings.Join(m.To, ", "))
	}
	host, _ := os.Hostname()
	err = m.Send(ctx, mail.Message{
		Subject: "flabsync doctor: test message",
		Text: fmt.Sprintf("This is a test message from `flabsync doctor` on %s, sent at %s.\n\n"+
			"It proves the nightly exception report can reach this address. Nothing needs doing.\n",
			host, time.Now().Format(time.RFC1123)),
	})
	if err != nil {
		return fail(NameMail, "%s, but the test message was not accepted: %v", did, err)
	}
	return pass(NameMail, "%s; a test message went to %s", did, strings.Join(m.To, ", "))
}

// describeSession says what a successful check did beyond connecting.
func describeSession(u mail.SMTPURL) string {
	var s string
	switch u.TLS {
	case mail.TLSImplicit:
		s = " over TLS"
	case mail.TLSRequired:
		s = " with STARTTLS"
	case mail.TLSOpportunistic:
		s = " (STARTTLS if offered)"
	case mail.TLSNone:
		s = " without TLS"
	}
	if u.Auth() {
		s += ", logged in as " + u.Username
	}
	return s
}
