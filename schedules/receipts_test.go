package schedules

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flabsync/flabsync/fixtures"
	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/internal/mail"
	"github.com/flabsync/flabsync/internal/mail/mailtest"
	"github.com/flabsync/flabsync/internal/sheet"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/pipeline/inbox"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/pipeline/receipt"
)

// sent collects the messages a Sender was given.
type sent struct {
	mu       sync.Mutex
	subjects []string
	texts    []string
}

func (s *sent) Send(_ context.Context, m mail.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subjects = append(s.subjects, m.Subject)
	s.texts = append(s.texts, m.Text)
	return nil
}

// Each file the inbox takes gets exactly one receipt, queued with its
// final state in the ledger: the reading's when it got a ledger entry
// (the Refused callback that follows records nothing more), the
// callback's when the file was refused before it was claimed (with the
// inbox's reason) or before the reading reached the ledger (a lab fault,
// no detail); a file put back at a stop gets none yet.
func TestInboxReceiptsOnePerFile(t *testing.T) {
	cfg := config.Default()
	cfg.Partners = map[string]config.Partner{"sunrise": {Email: config.StringList{"desk@sunrise.example"}}}
	s := &sent{}
	db := storetest.OpenSQLite(t)
	parts := Build(&cfg, db, nil, "test:1", nil, s)
	led := parts.Ledger
	ctx := context.Background()
	file := func(name string) inbox.File {
		return inbox.File{Path: "/inbox/.processing/sunrise/" + name, Name: name, Partner: "sunrise"}
	}
	refused := func(f inbox.File, dest, reason string) {
		t.Helper()
		if err := led.RecordRefusedFile(ctx, refusedFile(f, dest, reason)); err != nil {
			t.Fatal(err)
		}
	}
	read := func(f inbox.File, cause error) {
		t.Helper()
		id, _, err := led.StartFile(ctx, ledger.File{Partner: f.Partner, Name: f.Name, Path: f.Path, SHA256: f.Name})
		if err != nil {
			t.Fatal(err)
		}
		if err := led.FailFile(ctx, id, cause); err != nil {
			t.Fatal(err)
		}
	}

	// Read and refused (not readable): the reading's receipt, once.
	xls := file("sunrise_old.xls")
	read(xls, fmt.Errorf("ingest sunrise_old.xls: %w: old binary Excel (.xls) is not read; save it as .xlsx", sheet.ErrRefused))
	led.Moved(ctx, xls.Path, "/inbox/errors/sunrise_old.xls")
	refused(xls, "/inbox/errors/sunrise_old.xls", "old binary Excel")
	// Refused before it was claimed: the callback's, with the inbox's reason.
	refused(inbox.File{Path: "/inbox/errors/sunrise_empty.csv", Name: "sunrise_empty.csv", Partner: "sunrise"},
		"/inbox/errors/sunrise_empty.csv", "the file is empty (0 bytes)")
	// The handler failed before the ledger had it (a lab fault): the callback's, without the detail.
	refused(file("sunrise_locked.csv"), "/inbox/errors/sunrise_locked.csv", "mapping: database is locked")
	// Put back at a stop: none.
	read(file("sunrise_stopped.csv"), fmt.Errorf("ingest: %w", context.Canceled))

	if b, err := led.Receipts(ctx); err != nil || b.Unsent != 3 {
		t.Fatalf("outbox = %+v, %v; want 3 unsent", b, err)
	}
	if _, err := parts.Courier.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Receipt for sunrise_empty.csv: could not be read",
		"Receipt for sunrise_locked.csv: received, not processed yet",
		"Receipt for sunrise_old.xls: could not be read",
	}
	if got := slices.Sorted(slices.Values(s.subjects)); !slices.Equal(got, want) {
		t.Errorf("receipts sent:\n got %q\nwant %q", got, want)
	}
	for _, text := range s.texts {
		if strings.Contains(text, "database") {
			t.Errorf("a lab fault's detail reached the clinic:\n%s", text)
		}
	}

	// No sender and no mail configured: no Courier, and no receipt queued.
	none := Build(&cfg, db, nil, "test:2", nil, nil)
	if none.Courier != nil {
		t.Fatal("a Courier without mail configured")
	}
	if err := none.Ledger.RecordRefused(ctx, "sunrise", "sunrise_x.csv", "/inbox/errors/sunrise_x.csv", "empty"); err != nil {
		t.Fatal(err)
	}
	if b, _ := led.Receipts(ctx); b.Unsent != 0 {
		t.Errorf("%d receipts queued without a sender", b.Unsent)
	}
}

// serviceRig is a config for a Service on db's database, the simulator
// as Flabs (with the sample catalogue) and mail to srv.
func serviceRig(t *testing.T, dsn string, srv *mailtest.Server) (*config.Config, *flabs.Client) {
	t.Helper()
	c, err := fixtures.LoadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	sim := flabstest.NewTestServer(t, flabstest.Options{Labs: []flabs.Lab{c.Lab}, Tests: c.Tests, Packages: c.Packages})
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Database = dsn
	cfg.Flabs.BaseURL, cfg.Flabs.ClientID, cfg.Flabs.ClientSecret = sim.URL(), flabstest.DefaultClientID, flabstest.DefaultClientSecret
	cfg.Inbox = config.Inbox{Dir: filepath.Join(dir, "inbox"), ArchiveDir: filepath.Join(dir, "archive"), ErrorDir: filepath.Join(dir, "errors"),
		Settle: 50 * time.Millisecond}
	cfg.Webhook.Listen, cfg.Serve.Listen, cfg.Webhook.AuthToken = "127.0.0.1:0", "127.0.0.1:0", "token"
	cfg.Schedules = map[string]string{JobImport: "off", JobMappingSync: "off", JobReconcile: "off", JobExpectedDrops: "off", JobPrune: "off"}
	cfg.Mail = config.Mail{SMTPURL: fmt.Sprintf("smtp://127.0.0.1:%d?starttls=none", srv.Port), From: "lab@lab.example", To: config.StringList{"ops@lab.example"}}
	cfg.Partners = map[string]config.Partner{"metro": {Email: config.StringList{"desk@metro.example"}}}
	cfg.Log.Level = "warn"
	client, err := flabs.NewClient(flabs.Config{BaseURL: sim.URL(), ClientID: cfg.Flabs.ClientID, ClientSecret: cfg.Flabs.ClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	return &cfg, client
}

// runService runs a Service until done says so once it listens (at most
// 20 s), then stops it.
func runService(t *testing.T, cfg *config.Config, client *flabs.Client, name string, done func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ready := func(Addrs) {
		go func() {
			defer cancel()
			for deadline := time.Now().Add(20 * time.Second); !done() && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	svc := &Service{Config: cfg, Client: client, Name: name, Logger: slog.New(slog.DiscardHandler), Ready: ready}
	if err := svc.Run(ctx); err != nil && ctx.Err() == nil {
		t.Fatalf("service %s: %v", name, err)
	}
}

// A receipt queued by a process killed before it could send it is sent
// by the next service to start, exactly once (the SMTP server counts),
// however many start after.
func TestServiceSendsReceiptsLeftByADeadProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the service")
	}
	srv := mailtest.Start(t, mailtest.Options{})
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "flabsync.db")
	cfg, client := serviceRig(t, dsn, srv)

	// The dead process: its file's final state and receipt are in the
	// ledger; its sender never ran.
	db, err := store.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	dead := Build(cfg, db, client, "dead:1", nil, nil)
	id, _, err := dead.Ledger.StartFile(t.Context(), ledger.File{Partner: "metro", Name: "metro_a.csv", SHA256: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dead.Ledger.FinishFile(t.Context(), id, 0); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if len(srv.Messages()) != 0 {
		t.Fatal("sent before any sender ran")
	}

	runService(t, cfg, client, "a", func() bool { return len(srv.Messages()) > 0 })
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages after the first service, want 1", n)
	}
	// The second runs a second: long enough to have looked at the outbox.
	start := time.Now()
	runService(t, cfg, client, "b", func() bool { return time.Since(start) > time.Second })
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages after the second service, want still 1", n)
	}
	p := mailtest.Parse(t, srv.Messages()[0].Data)
	if !strings.HasPrefix(p.Subject, "Receipt for metro_a.csv") {
		t.Errorf("sent %q", p.Subject)
	}
}

// blockSender never finishes a send until its context ends: mail that
// does not answer.
type blockSender struct{}

func (b *blockSender) Send(ctx context.Context, _ mail.Message) error {
	<-ctx.Done()
	return ctx.Err()
}

// A hand-run import waits a bounded time for its receipts; those not sent
// stay queued (and it says how many), and the next process sends them.
func TestImportWaitsBoundedForReceipts(t *testing.T) {
	if testing.Short() {
		t.Skip("imports through the simulator")
	}
	srv := mailtest.Start(t, mailtest.Options{})
	db := storetest.OpenSQLite(t)
	cfg, client := serviceRig(t, "", srv)
	cfg.DefaultLeadSource = "sheet"
	if _, err := mapping.NewStore(db).Sync(t.Context(), client, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	sheet := filepath.Join(t.TempDir(), "metro_2026-11-26.csv")
	os.WriteFile(sheet, []byte("Booking ID,Patient Name,Age,Gender,Tests\nM-1,Asha Q,30,F,CBC\n"), 0o600)

	start := time.Now()
	imp := &Import{Config: cfg, DB: db, Client: client, Holder: "test", Receipts: &blockSender{}, ReceiptWait: 200 * time.Millisecond}
	res, err := imp.Run(t.Context(), []string{sheet})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("import took %s with mail not answering", took)
	}
	if res.ReceiptsQueued != 1 || res.Total.Submitted != 1 {
		t.Fatalf("queued %d receipts, submitted %d; want 1 and 1", res.ReceiptsQueued, res.Total.Submitted)
	}
	// The next import (nothing to read but the same file again) sends it.
	imp = &Import{Config: cfg, DB: db, Client: client, Holder: "test"}
	if res, err = imp.Run(t.Context(), []string{sheet}); err != nil || res.ReceiptsQueued != 0 {
		t.Fatalf("second import: %+v, %v", res, err)
	}
	var subjects []string
	for _, m := range srv.Messages() {
		subjects = append(subjects, mailtest.Parse(t, m.Data).Subject)
	}
	if len(subjects) != 2 || !strings.HasPrefix(subjects[0], "Receipt for metro_2026-11-26.csv") ||
		!strings.HasPrefix(subjects[1], "Receipt for metro_2026-11-26.csv") {
		t.Errorf("sent %q: want the first run's receipt and the second's, each once", subjects)
	}
	if b, _ := ledger.New(db).Receipts(t.Context()); b.Unsent != 0 {
		t.Errorf("%d left unsent", b.Unsent)
	}
}

var _ receipt.Sender = (*blockSender)(nil)
