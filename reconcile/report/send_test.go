package report_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/mail"
	"github.com/flabsync/flabsync/internal/mail/mailtest"
	"github.com/flabsync/flabsync/reconcile/report"
)

func newMailer(t *testing.T, srv *mailtest.Server) *mail.Mailer {
	t.Helper()
	m, err := mail.New(config.Mail{SMTPURL: fmt.Sprintf("smtp://127.0.0.1:%d?starttls=none", srv.Port),
		From: "flabsync <flabsync@example.com>", To: config.StringList{"ops@example.com", "lead@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	m.Backoff, m.Timeout = 5*time.Millisecond, 10*time.Second
	return m
}

// TestSendDigest: one message reaches both recipients with the digest
// in text and HTML and the workbook attached; the attachment opens and
// agrees with the digest.
func TestSendDigest(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	path, d, info := writeSample(t)
	dg := report.NewDigest(d, info)
	if err := report.SendDigest(context.Background(), newMailer(t, srv), dg, path, 0); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages arrived, want 1", len(msgs))
	}
	if !slices.Equal(msgs[0].To, []string{"ops@example.com", "lead@example.com"}) {
		t.Errorf("to %q", msgs[0].To)
	}
	p := mailtest.Parse(t, msgs[0].Data)
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
	if !bytes.Equal(p.Attachment, want) || p.AttachName != filepath.Base(path) || p.AttachType != report.XLSXContentType {
		t.Fatalf("attachment %q (%s): %d bytes, the workbook has %d", p.AttachName, p.AttachType, len(p.Attachment), len(want))
	}
	f, err := excelize.OpenReader(bytes.NewReader(p.Attachment))
	if err != nil {
		t.Fatalf("the attachment does not open: %v", err)
	}
	defer f.Close()
	checkDigestMatchesSummary(t, p.Text, readSummary(t, f))
}

// TestSendDigestTooLargeToAttach: a workbook over mail.max_attachment_bytes
// is not attached (mail servers refuse big messages); the email still
// goes, and says how big the workbook is and where it lies.
func TestSendDigestTooLargeToAttach(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	path, d, info := writeSample(t)
	if err := report.SendDigest(context.Background(), newMailer(t, srv), report.NewDigest(d, info), path, 1024); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	p := mailtest.Parse(t, msgs[0].Data)
	if len(p.Attachment) != 0 {
		t.Errorf("a %d-byte attachment went although the limit is 1 KiB", len(p.Attachment))
	}
	for _, body := range []string{p.Text, p.HTML} {
		if !strings.Contains(body, "too large to attach") || !strings.Contains(body, path) {
			t.Errorf("the email does not say where the workbook is:\n%s", body)
		}
	}
}

// TestSendDigestFailsSaysWhere: a digest that cannot be sent says where
// the workbook still is, and the workbook stays.
func TestSendDigestFailsSaysWhere(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{FailData: 100, FailCode: 554})
	path, d, info := writeSample(t)
	err := report.SendDigest(context.Background(), newMailer(t, srv), report.NewDigest(d, info), path, 0)
	if err == nil || !strings.Contains(err.Error(), "the workbook is still at "+path) {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("workbook gone: %v", err)
	}
}
