package report

import (
	"context"
	"fmt"
	"os"

	"github.com/flabsync/flabsync/internal/mail"
)

// XLSXContentType is the workbook attachment's MIME type.
const XLSXContentType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// SendDigest mails the digest (plain text and HTML) to mail.to with the
// workbook attached. A workbook over maxAttachment bytes (0: no limit) is
// left out and the digest says where it is. A failed send says where
// the workbook still is.
func SendDigest(ctx context.Context, m *mail.Mailer, dg Digest, workbook string, maxAttachment int64) error {
	fi, err := os.Stat(workbook)
	if err != nil {
		return fmt.Errorf("email: attachment: %w", err)
	}
	msg := mail.Message{Subject: dg.Subject()}
	if maxAttachment > 0 && fi.Size() > maxAttachment {
		dg.NotAttached = fmt.Sprintf("The workbook (%.1f MiB) is too large to attach (mail.max_attachment_bytes is %.1f MiB); it is at %s",
			float64(fi.Size())/(1<<20), float64(maxAttachment)/(1<<20), workbook)
	} else {
		msg.Attachments = []mail.Attachment{{Path: workbook, ContentType: XLSXContentType}}
	}
	msg.Text, msg.HTML = dg.Text(), dg.HTML()
	if err := m.Send(ctx, msg); err != nil {
		return fmt.Errorf("%w; the workbook is still at %s", err, workbook)
	}
	return nil
}
