package receipt_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/mail"
	"github.com/flabsync/flabsync/internal/mail/mailtest"
	"github.com/flabsync/flabsync/internal/sheet"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/pipeline/receipt"
)

func smtpURL(srv *mailtest.Server) string {
	return fmt.Sprintf("smtp://127.0.0.1:%d?starttls=none", srv.Port)
}

func closeWithin(t *testing.T, rc *receipt.Receipts, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return rc.Close(ctx)
}

// A file with rejected rows: one receipt, to every address of the clinic,
// with the counts, and the rows to correct (rejected, and refused by
// Flabs) attached as CSV, formula-escaped; no patient name anywhere.
func TestProcessedSendsCountsAndRejectedRows(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		srv := mailtest.Start(t, mailtest.Options{})
		w := newWorld(t, db, smtpURL(srv))
		id := w.seed(t, "sunrise", "sunrise_2026-11-24.csv", 3, true,
			ledger.Row{Num: 5, Status: ledger.RowRejected, Code: "age", Ref: "=HYPERLINK(\"x\")", Message: `age "abc" is not a number`},
			ledger.Row{Num: 7, Status: ledger.RowRejected, Code: "name", Ref: "SR-7", Message: "@patient name is empty"})
		w.seed(t, "metro", "metro_2026-11-24.csv", 1, false,
			ledger.Row{Num: 3, Status: ledger.RowRejected, Code: "age", Ref: "METRO-3", Message: "metro's own reason"})

		spool := t.TempDir()
		rc := receipt.NewWithOptions(w.cfg, w.mailer(t, 5*time.Second), w.led, w.logger(), receipt.Options{SpoolDir: spool})
		rc.Processed(context.Background(), receipt.Outcome{Partner: "sunrise", Name: "sunrise_2026-11-24.csv", FileID: id})
		if err := closeWithin(t, rc, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if left, _ := os.ReadDir(spool); len(left) > 0 {
			t.Errorf("spool not cleaned up after sending: %v", left)
		}

		msgs := srv.Messages()
		if len(msgs) != 1 {
			t.Fatalf("%d messages, want 1", len(msgs))
		}
		if to := slices.Sorted(slices.Values(msgs[0].To)); !slices.Equal(to, []string{"desk@sunrise.example", "lab@sunrise.example"}) {
			t.Errorf("sent to %q, want both of sunrise's addresses", to)
		}
		p := mailtest.Parse(t, msgs[0].Data)
		if want := "Receipt for sunrise_2026-11-24.csv: 2 of 5 rows accepted, 3 to correct"; p.Subject != want {
			t.Errorf("subject %q, want %q", p.Subject, want)
		}
		for _, re := range []string{`Rows in the file:\s+5\r?\n`, `Accepted \(booked\):\s+2\r?\n`, `Rejected:\s+2\r?\n`,
			`Refused by the lab system:\s+1\r?\n`, `Already received before:\s+0 `, `The 3 rows to correct are listed in the attached file`} {
			if !regexp.MustCompile(re).MatchString(p.Text) {
				t.Errorf("text does not match %s:\n%s", re, p.Text)
			}
		}
		if p.AttachName != "sunrise_2026-11-24_rejected.csv" || p.AttachType != "text/csv" {
			t.Errorf("attachment %q (%s), want sunrise_2026-11-24_rejected.csv (text/csv)", p.AttachName, p.AttachType)
		}
		want := [][]string{
			{"Row", "Booking reference", "Reason"},
			{"2", "REF-2", "refused by the lab system: invalid test ID"},
			{"5", `'=HYPERLINK("x")`, `age "abc" is not a number`},
			{"7", "SR-7", "'@patient name is empty"},
		}
		if got := readCSV(t, p.Attachment); !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("attachment rows:\n got %q\nwant %q", got, want)
		}
		for _, part := range []string{p.Subject, p.Text, string(p.Attachment)} {
			if strings.Contains(part, patientName) || strings.Contains(part, "METRO-3") || strings.Contains(part, "metro") {
				t.Errorf("receipt holds a patient's name or another clinic's data:\n%s", part)
			}
		}
		logHas(t, w.log.String(), "receipt sent", "file=sunrise_2026-11-24.csv", "partner=sunrise", "rows_attached=3")
	})
}

// A clean file: a receipt with the counts and nothing attached.
func TestCleanFileHasNoAttachment(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{})
	w := newWorld(t, nil, smtpURL(srv))
	id := w.seed(t, "metro", "metro_2026-11-24.xlsx", 4, false)
	rc := receipt.New(w.cfg, w.mailer(t, 5*time.Second), w.led, w.logger())
	rc.Processed(context.Background(), receipt.Outcome{Partner: "metro", Name: "metro_2026-11-24.xlsx", FileID: id})
	if err := closeWithin(t, rc, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	p := mailtest.Parse(t, msgs[0].Data)
	if p.AttachName != "" || len(p.Attachment) > 0 {
		t.Errorf("clean file's receipt has an attachment %q", p.AttachName)
	}
	if !strings.Contains(p.Subject, "4 of 4 rows accepted") || strings.Contains(p.Subject, "correct") ||
		!strings.Contains(p.Text, "Every row was taken") {
		t.Errorf("clean receipt:\n%s\n%s", p.Subject, p.Text)
	}
}

// A refused file: the receipt says why, in the reader's words when the
// clinic can act on them; a fault on the lab's side is not the clinic's
// to fix and its details stay in the lab.
func TestRefusedSaysWhy(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{})
	w := newWorld(t, nil, smtpURL(srv))
	ctx := context.Background()
	xls, _, err := w.led.StartFile(ctx, ledger.File{Partner: "sunrise", Name: "sunrise_old.xls", SHA256: "xls"})
	if err != nil {
		t.Fatal(err)
	}
	readErr := fmt.Errorf("ingest sunrise_old.xls: read sunrise_old.xls: %w: old binary Excel (.xls) is not read; save it as .xlsx", sheet.ErrRefused)
	if err := w.led.FailFile(ctx, xls, readErr.Error()); err != nil {
		t.Fatal(err)
	}

	rc := receipt.New(w.cfg, w.mailer(t, 5*time.Second), w.led, w.logger())
	rc.Refused(ctx, "sunrise", "sunrise_empty.csv", "the file is empty (0 bytes)")
	rc.Processed(ctx, receipt.Outcome{Partner: "sunrise", Name: "sunrise_old.xls", FileID: xls, Err: readErr})
	rc.Processed(ctx, receipt.Outcome{Partner: "sunrise", Name: "sunrise_locked.csv", Err: errors.New("ledger: start file: database is locked")})
	if err := closeWithin(t, rc, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	got := map[string]mailtest.Parts{}
	for _, m := range srv.Messages() {
		p := mailtest.Parse(t, m.Data)
		got[p.Subject] = p
	}
	for _, tt := range []struct {
		subject string
		want    []string
		not     []string
	}{
		{"Receipt for sunrise_empty.csv: could not be read", []string{"Why: the file is empty (0 bytes)", "no booking in it was made"}, nil},
		{"Receipt for sunrise_old.xls: could not be read", []string{"Why: not a readable sheet: old binary Excel (.xls) is not read; save it as .xlsx"}, []string{"ingest "}},
		{"Receipt for sunrise_locked.csv: received, not processed yet", []string{"problem on our side", "do not need to do anything"}, []string{"database", "ledger"}},
	} {
		p, ok := got[tt.subject]
		if !ok {
			t.Errorf("no receipt %q; got %d: %v", tt.subject, len(got), slices.Collect(mapKeys(got)))
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(p.Text, w) {
				t.Errorf("%s: text lacks %q:\n%s", tt.subject, w, p.Text)
			}
		}
		for _, n := range tt.not {
			if strings.Contains(p.Text, n) {
				t.Errorf("%s: text holds %q:\n%s", tt.subject, n, p.Text)
			}
		}
		if p.AttachName != "" {
			t.Errorf("%s: refused file's receipt has an attachment", tt.subject)
		}
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// receipts: false, no email, or no partner entry: nothing is sent (not
// even a connection made).
func TestNoReceiptWhenOffOrNoEmail(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{})
	w := newWorld(t, nil, smtpURL(srv))
	off := false
	w.cfg.Partners["sunrise"] = config.Partner{Email: config.StringList{"desk@sunrise.example"}, Receipts: &off}
	w.cfg.Partners["metro"] = config.Partner{LeadSource: "Metro"}
	sunrise := w.seed(t, "sunrise", "sunrise_2026-11-24.csv", 1, false, ledger.Row{Num: 3, Status: ledger.RowRejected, Code: "age", Message: "bad age"})
	metro := w.seed(t, "metro", "metro_2026-11-24.csv", 1, false)

	rc := receipt.New(w.cfg, w.mailer(t, 5*time.Second), w.led, w.logger())
	ctx := context.Background()
	rc.Processed(ctx, receipt.Outcome{Partner: "sunrise", Name: "sunrise_2026-11-24.csv", FileID: sunrise})
	rc.Refused(ctx, "sunrise", "sunrise_empty.csv", "the file is empty (0 bytes)")
	rc.Processed(ctx, receipt.Outcome{Partner: "metro", Name: "metro_2026-11-24.csv", FileID: metro})
	rc.Refused(ctx, "ghost", "ghost_1.csv", "the file is empty (0 bytes)")
	if err := closeWithin(t, rc, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if n, s := len(srv.Messages()), srv.Sessions.Load(); n != 0 || s != 0 {
		t.Errorf("%d messages in %d sessions, want none", n, s)
	}

	// No mail configured: no Receipts at all, and a nil one does nothing.
	w.cfg.Mail = config.Mail{}
	send, err := receipt.MailerFor(w.cfg, nil)
	if err != nil || send != nil {
		t.Fatalf("MailerFor without smtp_url = %v, %v; want nil, nil", send, err)
	}
	nilRC := receipt.New(w.cfg, send, w.led, nil)
	if nilRC != nil {
		t.Fatal("New with no sender returned Receipts")
	}
	nilRC.Processed(ctx, receipt.Outcome{Partner: "sunrise", Name: "x.csv", FileID: sunrise})
	if err := nilRC.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// silentSMTP accepts connections and never says a word: a mail server
// that is down in the worst way.
func silentSMTP(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return fmt.Sprintf("smtp://%s?starttls=none", l.Addr())
}

// A mail server that never answers does not hold up the import: handing
// the file over returns at once while the send is still trying; the
// failure is logged by file and partner; Close is bounded by its context.
func TestMailDownDoesNotHoldUpImport(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, silentSMTP(t))
	id := w.seed(t, "sunrise", "sunrise_2026-11-24.csv", 1, false, ledger.Row{Num: 3, Status: ledger.RowRejected, Code: "age", Message: "bad age"})
	ctx := context.Background()

	// Two attempts of 200ms and a 50ms pause: a send takes at least 450ms.
	rc := receipt.New(w.cfg, w.mailer(t, 200*time.Millisecond), w.led, w.logger())
	start := time.Now()
	rc.Processed(ctx, receipt.Outcome{Partner: "sunrise", Name: "sunrise_2026-11-24.csv", FileID: id})
	if d := time.Since(start); d > 150*time.Millisecond {
		t.Errorf("Processed took %s with the mail server silent; it must not wait for the send", d)
	}
	if err := closeWithin(t, rc, 10*time.Second); err != nil {
		t.Fatalf("Close: %v (the send should have given up by itself)", err)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("the send gave up after %s: it did not retry", d)
	}
	logHas(t, w.log.String(), "email attempt failed", "attempt=2")
	logHas(t, w.log.String(), "receipt not sent", "file=sunrise_2026-11-24.csv", "partner=sunrise")

	// Close gives up when its context ends, and says what was not sent.
	slow := receipt.New(w.cfg, w.mailer(t, 10*time.Second), w.led, w.logger())
	slow.Processed(ctx, receipt.Outcome{Partner: "sunrise", Name: "sunrise_2026-11-24.csv", FileID: id})
	start = time.Now()
	err := closeWithin(t, slow, 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "1 not sent") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close past its deadline = %v, want 1 not sent", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %s past a 100ms deadline", d)
	}
}

// senderFunc is a Sender made of a function.
type senderFunc func(context.Context, mail.Message) error

func (f senderFunc) Send(ctx context.Context, m mail.Message) error { return f(ctx, m) }

// A full queue drops the receipt, with a warning naming the file, rather
// than wait.
func TestFullQueueDropsWithWarning(t *testing.T) {
	t.Parallel()
	w := newConfigWorld("smtp://127.0.0.1:1")
	entered, release := make(chan string, 3), make(chan struct{})
	send := senderFunc(func(ctx context.Context, m mail.Message) error {
		entered <- m.Subject
		<-release
		return nil
	})
	rc := receipt.NewWithOptions(w.cfg, send, w.led, w.logger(), receipt.Options{Queue: 1})
	ctx := context.Background()
	rc.Refused(ctx, "sunrise", "sunrise_1.csv", "empty")
	<-entered                                            // the worker is sending the first
	rc.Refused(ctx, "sunrise", "sunrise_2.csv", "empty") // waits in the queue
	done := make(chan struct{})
	go func() {
		rc.Refused(ctx, "sunrise", "sunrise_3.csv", "empty") // no room
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Refused blocked on a full queue")
	}
	logHas(t, w.log.String(), "receipt dropped", "queue is full", "file=sunrise_3.csv", "partner=sunrise")
	close(release)
	if err := closeWithin(t, rc, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := <-entered; !strings.Contains(got, "sunrise_2.csv") {
		t.Errorf("second receipt sent = %q, want sunrise_2.csv's", got)
	}
	if len(entered) != 0 {
		t.Errorf("the dropped receipt was sent: %q", <-entered)
	}
}

// The Outbox writes receipt-<file>.txt and the CSV beside it.
func TestOutboxWritesReceiptAndCSV(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, "")
	id := w.seed(t, "sunrise", "sunrise_2026-11-24.csv", 1, false, ledger.Row{Num: 3, Status: ledger.RowRejected, Code: "age", Ref: "R3", Message: "bad age"})
	dir := t.TempDir()
	rc := receipt.New(w.cfg, receipt.NewOutbox(dir), w.led, w.logger())
	rc.Processed(context.Background(), receipt.Outcome{Partner: "sunrise", Name: "sunrise_2026-11-24.csv", FileID: id})
	if err := closeWithin(t, rc, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	txt, err := readFile(dir, "receipt-sunrise_2026-11-24.csv.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(txt, "To: <desk@sunrise.example>, <lab@sunrise.example>") || !strings.Contains(txt, "Attached: sunrise_2026-11-24_rejected.csv") {
		t.Errorf("outbox receipt:\n%s", txt)
	}
	csv, err := readFile(dir, "sunrise_2026-11-24_rejected.csv")
	if err != nil {
		t.Fatal(err)
	}
	if got := readCSV(t, []byte(csv)); len(got) != 2 || !slices.Equal(got[1], []string{"3", "R3", "bad age"}) {
		t.Errorf("outbox CSV = %q", got)
	}
}
