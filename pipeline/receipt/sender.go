package receipt

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/logging"
	"github.com/flabsync/flabsync/internal/mail"
)

// Sender delivers one message. *mail.Mailer sends it over SMTP, retrying
// with back-off (it returns a *mail.SendError when every attempt failed);
// an Outbox writes it to a folder.
type Sender interface {
	Send(ctx context.Context, msg mail.Message) error
}

var (
	_ Sender = (*mail.Mailer)(nil)
	_ Sender = (*Outbox)(nil)
)

// MailerFor returns the Mailer receipts go out by: nil (and no error)
// when mail.smtp_url is not set.
func MailerFor(cfg *config.Config, log *slog.Logger) (Sender, error) {
	if strings.TrimSpace(cfg.Mail.SMTPURL) == "" {
		return nil, nil
	}
	m, err := mail.New(cfg.Mail)
	if err != nil {
		return nil, fmt.Errorf("receipts: %w", err)
	}
	if log != nil {
		m.Logger = log.With(logging.KeyComponent, "mail")
	}
	return m, nil
}

// Outbox is a Sender that writes each message into Dir instead of sending
// it (the demo's): receipt-<file>.txt holds the recipients, subject and
// text; each attachment is copied beside it under its own name.
type Outbox struct {
	Dir string

	mu sync.Mutex
	n  int
}

// NewOutbox returns an Outbox writing into dir (made when needed).
func NewOutbox(dir string) *Outbox { return &Outbox{Dir: dir} }

// Send writes msg as message-<n>.txt.
func (o *Outbox) Send(ctx context.Context, msg mail.Message) error {
	o.mu.Lock()
	o.n++
	n := o.n
	o.mu.Unlock()
	return o.SendAs(ctx, fmt.Sprintf("message-%d", n), msg)
}

// SendAs writes msg as <name>.txt and its attachments beside it under
// their own names; a name already taken gets a number (<name>-2.txt).
func (o *Outbox) SendAs(_ context.Context, name string, msg mail.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "To: %s\nSubject: %s\n", strings.Join(msg.To, ", "), msg.Subject)
	for _, a := range msg.Attachments {
		an := a.Name
		if an == "" {
			an = filepath.Base(a.Path)
		}
		dst := free(o.Dir, safeName(an))
		if err := copyFile(a.Path, dst); err != nil {
			return fmt.Errorf("outbox: attachment %s: %w", an, err)
		}
		fmt.Fprintf(&b, "Attached: %s\n", filepath.Base(dst))
	}
	b.WriteString("\n" + msg.Text)
	if err := os.WriteFile(free(o.Dir, safeName(name)+".txt"), []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// free returns dir/name, or dir/name with a number before its extension
// (x-2.csv) when that is taken.
func free(dir, name string) string {
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	path := filepath.Join(dir, name)
	for i := 2; ; i++ {
		if _, err := os.Lstat(path); os.IsNotExist(err) {
			return path
		}
		path = filepath.Join(dir, fmt.Sprintf("%s-%d%s", stem, i, ext))
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
