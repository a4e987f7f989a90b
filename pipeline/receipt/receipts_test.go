package receipt_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// A file with rejected rows: one receipt, to every address of the clinic,
// with the counts, and the rows to correct (rejected, and refused by
// Flabs) attached as CSV, formula-escaped; no patient name anywhere, and
// nothing of another clinic's file.
func TestProcessedSendsCountsAndRejectedRows(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		srv := mailtest.Start(t, mailtest.Options{})
		w := newWorld(t, db, smtpURL(srv))
		w.seed(t, "sunrise", "sunrise_2026-11-24.csv", 3, true,
			ledger.Row{Num: 5, Status: ledger.RowRejected, Code: "age", Ref: "=HYPERLINK(\"x\")", Message: `age "abc" is not a number`},
			ledger.Row{Num: 7, Status: ledger.RowRejected, Code: "name", Ref: "SR-7", Message: "@patient name is empty"})
		w.seed(t, "metro", "metro_2026-11-24.csv", 1, false,
			ledger.Row{Num: 3, Status: ledger.RowRejected, Code: "age", Ref: "METRO-3", Message: "metro's own reason"})

		spool := t.TempDir()
		if n := flush(t, w.courier(w.mailer(t, 5*time.Second), "p1", receipt.CourierOptions{SpoolDir: spool})); n != 2 {
			t.Fatalf("sent %d receipts, want 2 (one a file)", n)
		}
		if left, _ := filepath.Glob(filepath.Join(spool, "*")); len(left) > 0 {
			t.Errorf("spool not cleaned up after sending: %v", left)
		}
		var msgs []mailtest.Received
		for _, m := range srv.Messages() {
			if slices.Contains(m.To, "desk@sunrise.example") {
				msgs = append(msgs, m)
			}
		}
		if len(msgs) != 1 {
			t.Fatalf("%d messages to sunrise, want 1", len(msgs))
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
		if b := w.backlog(t); b.Unsent != 0 || b.GivenUp != 0 {
			t.Errorf("backlog after sending = %+v, want none", b)
		}
	})
}

// A clean file: a receipt with the counts and nothing attached.
func TestCleanFileHasNoAttachment(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{})
	w := newWorld(t, nil, smtpURL(srv))
	w.seed(t, "metro", "metro_2026-11-24.xlsx", 4, false)
	flush(t, w.courier(w.mailer(t, 5*time.Second), "p1", receipt.CourierOptions{}))
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
// to fix and its details stay in the lab. A file the run stopped in the
// middle of gets none (it is read again).
func TestRefusedSaysWhy(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{})
	w := newWorld(t, nil, smtpURL(srv))
	ctx := context.Background()
	start := func(name string) int64 {
		id, _, err := w.led.StartFile(ctx, ledger.File{Partner: "sunrise", Name: name, SHA256: name})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	readErr := fmt.Errorf("ingest sunrise_old.xls: read sunrise_old.xls: %w: old binary Excel (.xls) is not read; save it as .xlsx", sheet.ErrRefused)
	if err := w.led.FailFile(ctx, start("sunrise_old.xls"), readErr); err != nil {
		t.Fatal(err)
	}
	if err := w.led.FailFile(ctx, start("sunrise_stopped.csv"), fmt.Errorf("ingest: %w", context.Canceled)); err != nil {
		t.Fatal(err)
	}
	if err := w.led.RecordRefused(ctx, "sunrise", "sunrise_empty.csv", "/errors/sunrise_empty.csv", "the file is empty (0 bytes)"); err != nil {
		t.Fatal(err)
	}
	if err := w.led.RecordRefusedFile(ctx, ledger.RefusedFile{Partner: "sunrise", Name: "sunrise_locked.csv", Path: "/errors/sunrise_locked.csv",
		Reason: "ledger: start file: database is locked"}); err != nil {
		t.Fatal(err)
	}
	flush(t, w.courier(w.mailer(t, 5*time.Second), "p1", receipt.CourierOptions{}))

	got := map[string]mailtest.Parts{}
	for _, m := range srv.Messages() {
		p := mailtest.Parse(t, m.Data)
		got[p.Subject] = p
	}
	if len(got) != 3 {
		t.Errorf("%d receipts, want 3 (none for the file the run stopped in)", len(got))
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
			t.Errorf("no receipt %q", tt.subject)
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

// receipts: false, no email, or no partner entry: no receipt is queued,
// and nothing is sent (not even a connection made). No sender: no
// Courier, and a nil one does nothing.
func TestNoReceiptWhenOffOrNoEmail(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{})
	w := newWorld(t, nil, smtpURL(srv))
	off := false
	w.cfg.Partners["sunrise"] = config.Partner{Email: config.StringList{"desk@sunrise.example"}, Receipts: &off}
	w.cfg.Partners["metro"] = config.Partner{LeadSource: "Metro"}
	ctx := context.Background()
	w.seed(t, "sunrise", "sunrise_2026-11-24.csv", 1, false, ledger.Row{Num: 3, Status: ledger.RowRejected, Code: "age", Message: "bad age"})
	w.seed(t, "metro", "metro_2026-11-24.csv", 1, false)
	w.led.RecordRefused(ctx, "sunrise", "sunrise_empty.csv", "/e/sunrise_empty.csv", "the file is empty (0 bytes)")
	w.led.RecordRefused(ctx, "ghost", "ghost_1.csv", "/e/ghost_1.csv", "the file is empty (0 bytes)")
	if b := w.backlog(t); b.Unsent != 0 {
		t.Errorf("%d receipts queued, want none", b.Unsent)
	}
	flush(t, w.courier(w.mailer(t, 5*time.Second), "p1", receipt.CourierOptions{}))
	if n, s := len(srv.Messages()), srv.Sessions.Load(); n != 0 || s != 0 {
		t.Errorf("%d messages in %d sessions, want none", n, s)
	}

	w.cfg.Mail = config.Mail{}
	send, err := receipt.MailerFor(w.cfg, nil)
	if err != nil || send != nil {
		t.Fatalf("MailerFor without smtp_url = %v, %v; want nil, nil", send, err)
	}
	none := w.courier(send, "p1", receipt.CourierOptions{})
	if none != nil {
		t.Fatal("NewCourier with no sender returned a Courier")
	}
	none.Wake()
	none.Run(ctx)
	if n, err := none.Flush(ctx); n != 0 || err != nil {
		t.Fatalf("nil Courier Flush = %d, %v", n, err)
	}
}

// A send the mail server refuses for now is tried again after a
// back-off, not before, and then goes once; one it refuses for good is
// given up, and status counts it.
func TestFailedSendRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{FailData: 1, FailCode: 451})
	w := newWorld(t, nil, smtpURL(srv))
	w.seed(t, "metro", "metro_2026-11-24.csv", 1, false)
	m := w.mailer(t, 5*time.Second)
	m.Attempts = 1
	now := time.Now()
	c := w.courier(m, "p1", receipt.CourierOptions{Backoff: time.Minute, Now: func() time.Time { return now }})

	if n := flush(t, c); n != 0 {
		t.Fatalf("sent %d while the server refuses", n)
	}
	if b := w.backlog(t); b.Unsent != 1 || b.Oldest.IsZero() {
		t.Fatalf("backlog after a refused send = %+v, want 1 unsent", b)
	}
	logHas(t, w.log.String(), "will try again", "file=metro_2026-11-24.csv", "partner=metro")
	sessions := srv.Sessions.Load()
	now = now.Add(59 * time.Second)
	if n := flush(t, c); n != 0 || srv.Sessions.Load() != sessions {
		t.Fatalf("tried again before the back-off: sent %d, sessions %d → %d", n, sessions, srv.Sessions.Load())
	}
	now = now.Add(2 * time.Second)
	if n := flush(t, c); n != 1 {
		t.Fatalf("sent %d after the back-off, want 1", n)
	}
	if n := flush(t, c); n != 0 || len(srv.Messages()) != 1 {
		t.Fatalf("sent again: %d now, %d in all", n, len(srv.Messages()))
	}

	perm := mailtest.Start(t, mailtest.Options{FailData: 1, FailCode: 550})
	w2 := newWorld(t, nil, smtpURL(perm))
	w2.seed(t, "metro", "metro_2026-11-24.csv", 1, false)
	m2 := w2.mailer(t, 5*time.Second)
	flush(t, w2.courier(m2, "p1", receipt.CourierOptions{}))
	if b := w2.backlog(t); b.Unsent != 0 || b.GivenUp != 1 {
		t.Errorf("backlog after a refusal for good = %+v, want 1 given up", b)
	}
	logHas(t, w2.log.String(), "given up", "file=metro_2026-11-24.csv")
}

// A receipt written by a process that died before sending it (or whose
// sender stopped) is sent by the next one, exactly once; one a dead
// process had claimed is sent once its claim lapses, not before.
func TestReceiptLeftByDeadProcessSentOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		srv := mailtest.Start(t, mailtest.Options{})
		w := newWorld(t, db, smtpURL(srv))
		w.seed(t, "sunrise", "sunrise_a.csv", 1, false)
		w.seed(t, "metro", "metro_b.csv", 1, false)
		w.seed(t, "metro", "metro_c.csv", 1, false)
		// The dead process had claimed one of them when it was killed.
		now := time.Now()
		claimed, err := w.led.ClaimReceipts(context.Background(), "dead", now, time.Minute, 1)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim = %v, %v", claimed, err)
		}

		c := w.courier(w.mailer(t, 5*time.Second), "alive", receipt.CourierOptions{Now: func() time.Time { return now }})
		if n := flush(t, c); n != 2 {
			t.Fatalf("sent %d, want the 2 nobody held", n)
		}
		now = now.Add(2 * time.Minute)
		if n := flush(t, c); n != 1 {
			t.Fatalf("sent %d once the dead claim lapsed, want 1", n)
		}
		again := w.courier(w.mailer(t, 5*time.Second), "restarted", receipt.CourierOptions{Now: func() time.Time { return now }})
		if n := flush(t, again); n != 0 {
			t.Fatalf("a new process sent %d more", n)
		}
		var subjects []string
		for _, m := range srv.Messages() {
			subjects = append(subjects, mailtest.Parse(t, m.Data).Subject)
		}
		slices.Sort(subjects)
		if want := []string{"Receipt for metro_b.csv: 1 of 1 rows accepted", "Receipt for metro_c.csv: 1 of 1 rows accepted",
			"Receipt for sunrise_a.csv: 1 of 1 rows accepted"}; !slices.Equal(subjects, want) {
			t.Errorf("sent:\n%q\nwant each once:\n%q", subjects, want)
		}
	})
}

// Two processes on one database (two connections pools, as two serves
// have) send each receipt once between them.
func TestTwoCouriersSendEachOnce(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			var url string
			if backend == "sqlite" {
				url = "sqlite:" + filepath.Join(t.TempDir(), "flabsync.db")
			} else {
				url = storetest.PostgresSchemaURL(t)
			}
			open := func() *store.DB {
				db, err := store.Open(context.Background(), url)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db
			}
			srv := mailtest.Start(t, mailtest.Options{})
			w1, w2 := newWorld(t, open(), smtpURL(srv)), newWorld(t, open(), smtpURL(srv))
			const files = 50
			for i := range files {
				w1.seed(t, "metro", fmt.Sprintf("metro_%02d.csv", i), 1, false)
			}
			c1 := w1.courier(w1.mailer(t, 5*time.Second), "serve-1", receipt.CourierOptions{})
			c2 := w2.courier(w2.mailer(t, 5*time.Second), "serve-2", receipt.CourierOptions{})
			var wg sync.WaitGroup
			sent := make([]int, 2)
			errs := make([]error, 2)
			for i, c := range []*receipt.Courier{c1, c2} {
				wg.Go(func() { sent[i], errs[i] = c.Flush(context.Background()) })
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			seen := map[string]int{}
			for _, m := range srv.Messages() {
				seen[mailtest.Parse(t, m.Data).Subject]++
			}
			if len(seen) != files || sent[0]+sent[1] != files {
				t.Errorf("%d distinct receipts (%d + %d sent), want %d", len(seen), sent[0], sent[1], files)
			}
			for s, n := range seen {
				if n != 1 {
					t.Errorf("%q sent %d times", s, n)
				}
			}
			t.Logf("serve-1 sent %d, serve-2 sent %d", sent[0], sent[1])
		})
	}
}

// The Outbox writes receipt-<file>.txt and the CSV beside it.
func TestOutboxWritesReceiptAndCSV(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, "")
	w.seed(t, "sunrise", "sunrise_2026-11-24.csv", 1, false, ledger.Row{Num: 3, Status: ledger.RowRejected, Code: "age", Ref: "R3", Message: "bad age"})
	dir := t.TempDir()
	flush(t, w.courier(receipt.NewOutbox(dir), "p1", receipt.CourierOptions{}))
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

// slowSender sends by a Mailer, each send first moving the couriers'
// clock on by take (a slow mail server), and calls during (if set) in
// the middle of its n-th send.
type slowSender struct {
	m      receipt.Sender
	clock  *atomic.Int64 // Unix nanoseconds
	take   time.Duration
	n      int
	during func()
	calls  int
}

func (s *slowSender) Send(ctx context.Context, msg mail.Message) error {
	s.clock.Add(int64(s.take))
	if s.calls++; s.calls == s.n && s.during != nil {
		s.during()
	}
	return s.m.Send(ctx, msg)
}

// A slow mail server: a batch claimed at once is not sent past its claim.
// Each send takes as long as a send may (half the claim, and the ledger
// reads), so the second of a batch would end after the claim lapsed,
// while another process, polling, takes the receipts and sends them too:
// the clinic would get them twice. The rest of the batch is claimed
// afresh instead, and each receipt goes once.
func TestSlowSendsNotPastTheClaim(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		srv := mailtest.Start(t, mailtest.Options{})
		w := newWorld(t, db, smtpURL(srv))
		const files = 3
		for i := range files {
			w.seed(t, "metro", fmt.Sprintf("metro_%d.csv", i), 1, false)
		}
		var clock atomic.Int64
		clock.Store(time.Now().UnixNano())
		now := func() time.Time { return time.Unix(0, clock.Load()) }
		other := w.courier(w.mailer(t, 5*time.Second), "serve-2", receipt.CourierOptions{Now: now})
		otherSent := 0
		slow := &slowSender{m: w.mailer(t, 5*time.Second), clock: &clock, take: receipt.DefaultLease/2 + 10*time.Second, n: 2,
			during: func() { otherSent = flush(t, other) }} // the other process polls while the second send is on
		sent := flush(t, w.courier(slow, "serve-1", receipt.CourierOptions{Now: now}))

		seen := map[string]int{}
		for _, m := range srv.Messages() {
			seen[mailtest.Parse(t, m.Data).Subject]++
		}
		for s, n := range seen {
			if n != 1 {
				t.Errorf("%q sent %d times", s, n)
			}
		}
		if len(seen) != files || sent+otherSent != files {
			t.Errorf("%d distinct receipts (%d + %d sent), want %d", len(seen), sent, otherSent, files)
		}
		if b := w.backlog(t); b.Unsent != 0 {
			t.Errorf("backlog = %+v, want none unsent", b)
		}
		if strings.Contains(w.log.String(), "not marked sent") {
			t.Errorf("a receipt was sent on a lapsed claim:\n%s", w.log.String())
		}
		logHas(t, w.log.String(), "too little of the claim left", "released=2")
	})
}
