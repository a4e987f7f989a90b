package receipt_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/mail"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/pipeline/receipt"
)

// patientName is on every booking the tests seed: no receipt may carry it.
const patientName = "Quixotefield"

// syncBuffer is a log sink tests read while the worker writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// world is a ledger on a real SQLite file and a config with two clinics:
// sunrise (two addresses, as one comma-separated string would give) and
// metro (one address).
type world struct {
	cfg *config.Config
	db  *store.DB
	led *ledger.Ledger
	log *syncBuffer
}

func newWorld(t *testing.T, db *store.DB, smtpURL string) *world {
	t.Helper()
	if db == nil {
		db = storetest.OpenSQLite(t)
	}
	w := newConfigWorld(smtpURL)
	w.db = db
	w.led = ledger.New(db).WithReceipts(receipt.Rule(w.cfg, nil))
	return w
}

// courier is a Courier over w's ledger sending by send, named holder.
func (w *world) courier(send receipt.Sender, holder string, o receipt.CourierOptions) *receipt.Courier {
	o.Holder = holder
	return receipt.NewCourier(w.cfg, send, w.led, w.logger(), o)
}

// flush sends what is due and fails the test on an outbox error.
func flush(t *testing.T, c *receipt.Courier) int {
	t.Helper()
	n, err := c.Flush(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// backlog is the outbox's state.
func (w *world) backlog(t *testing.T) ledger.ReceiptBacklog {
	t.Helper()
	b, err := w.led.Receipts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newConfigWorld is a world without a ledger, for receipts of refused
// files (which read none).
func newConfigWorld(smtpURL string) *world {
	cfg := config.Default()
	cfg.Mail = config.Mail{SMTPURL: smtpURL, From: "lab@lab.example", To: config.StringList{"ops@lab.example"}}
	cfg.Partners = map[string]config.Partner{
		"sunrise": {Email: config.StringList{"desk@sunrise.example", "lab@sunrise.example"}},
		"metro":   {Email: config.StringList{"desk@metro.example"}},
	}
	return &world{cfg: &cfg, log: &syncBuffer{}}
}

func (w *world) logger() *slog.Logger { return slog.New(slog.NewTextHandler(w.log, nil)) }

// mailer is the Mailer the config names, with test-sized waits.
func (w *world) mailer(t *testing.T, timeout time.Duration) *mail.Mailer {
	t.Helper()
	m, err := mail.New(w.cfg.Mail)
	if err != nil {
		t.Fatal(err)
	}
	m.Attempts, m.Backoff, m.Timeout, m.Logger = 2, 50*time.Millisecond, timeout, w.logger()
	return m
}

// seed writes a file of partner to the ledger as the Ingester would:
// accepted bookings (submitted; the first refused by Flabs when refuse),
// the rejected rows given, and its accounting. It returns the file's ID.
func (w *world) seed(t *testing.T, partner, name string, accepted int, refuse bool, rejected ...ledger.Row) int64 {
	t.Helper()
	ctx := context.Background()
	id, _, err := w.led.StartFile(ctx, ledger.File{Partner: partner, Name: name, SHA256: partner + name})
	if err != nil {
		t.Fatal(err)
	}
	var bs []ledger.Booking
	var rows []ledger.Row
	for i := range accepted {
		iid := fmt.Sprintf("%s:%s-%d", partner, name, i)
		bs = append(bs, ledger.Booking{IntegratorID: iid, Partner: partner, FirstRow: i + 2, Rows: []int{i + 2},
			Request: &flabs.BillingRequest{IntegratorID: iid, LeadSource: "x",
				PatientDetails: flabs.PatientDetails{FirstName: "Zeb", LastName: patientName, Gender: "Male", Age: 40, AgeType: "year"}}})
		rows = append(rows, ledger.Row{Num: i + 2, Status: ledger.RowAccepted, IntegratorID: iid, Ref: fmt.Sprintf("REF-%d", i+2)})
	}
	rows = append(rows, rejected...)
	if _, err := w.led.Admit(ctx, id, bs, rows); err != nil {
		t.Fatal(err)
	}
	for i, b := range bs {
		if _, err := w.led.Sending(ctx, b.IntegratorID, "test"); err != nil {
			t.Fatal(err)
		}
		r := ledger.Result{IntegratorID: b.IntegratorID, State: ledger.Submitted, PreBookingID: "pb"}
		if refuse && i == 0 {
			r = ledger.Result{IntegratorID: b.IntegratorID, State: ledger.Rejected, HTTPStatus: 400, Error: "invalid test ID"}
		}
		if err := w.led.Settle(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.led.FinishFile(ctx, id, accepted+len(rejected)); err != nil {
		t.Fatal(err)
	}
	return id
}

// readCSV reads an attachment: a BOM, then the header and the rows.
func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	if !bytes.HasPrefix(b, []byte("\uFEFF")) {
		t.Errorf("attachment has no UTF-8 BOM: %q", b[:min(len(b), 10)])
	}
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\uFEFF")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// logHas fails unless the log has a line holding every one of want.
func logHas(t *testing.T, log string, want ...string) {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(line, w)
		}
		if ok {
			return
		}
	}
	t.Errorf("no log line holds all of %q:\n%s", want, log)
}

func readFile(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	return string(b), err
}
