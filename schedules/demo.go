package schedules

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/flabsync/flabsync/fixtures"
	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/pipeline/receipt"
	"github.com/flabsync/flabsync/reconcile/nightly"
)

// demoHorizon is how far the demo winds the simulator's webhook clock:
// every event of every bill falls due within it.
const demoHorizon = 72 * time.Hour

// Demo is `flabsync demo`: the whole product in one process on the
// built-in Flabs simulator — the real Service (inbox watcher, submitter,
// webhook receiver, receipts), the sample sheets dropped into its inbox,
// Flabs' webhooks on an accelerated clock, then the nightly
// reconciliation as of three days later. Dir is made afresh.
type Demo struct {
	Dir    string
	Logger *slog.Logger // the service's; nil: discarded
	// Step, when set, hears each step (1 to 7) as it is done, with what
	// the demo has come to so far.
	Step func(n int, r *DemoResult)
}

// DemoResult is what the demo did, step by step.
type DemoResult struct {
	Config     *config.Config      // the demo's config (its database, inbox, report folder)
	SimURL     string              // 1: the simulator
	Catalogue  *mapping.SyncReport // 2: the catalogue synced
	Aliases    int                 // 2: the sample mapping table's entries
	Webhooks   string              // 3: the endpoint subscribed
	Admin      string              // 3: host:port of /metrics
	Dropped    int                 // 4: sheets dropped into the inbox
	Status     *Status             // 5: once every file is handled
	Events     int                 // 6: webhook events delivered
	Bookings   int                 // 6: bookings the simulator holds
	Nightly    *nightly.Outcome    // 7: the reconciliation
	Outbox     string              // the clinics' receipts and the digest
	Digest     string              // the digest's text file
	Receipts   int                 // receipts written to Outbox
	StatusFile string              // a config naming the demo's database, for `flabsync status`
	// DoubleBooked is how many bookings the simulator made twice: never
	// any.
	DoubleBooked int
}

// demoPartners are the sample clinics, each given a receipt address.
var demoPartners = []string{"apollo", "cityclinic", "greenleaf", "hillside", "lakeview", "metro", "sunrise"}

// Run runs the demo until its story is told or ctx ends.
func (d *Demo) Run(ctx context.Context) (*DemoResult, error) {
	step := d.Step
	if step == nil {
		step = func(int, *DemoResult) {}
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir := d.Dir
	for _, sub := range []string{"inbox", "archive", "errors", "reports", "outbox"} {
		os.RemoveAll(filepath.Join(dir, sub))
	}
	for _, f := range []string{"flabsync.db", "flabsync.db-wal", "flabsync.db-shm"} {
		os.Remove(filepath.Join(dir, f))
	}
	out := &DemoResult{Outbox: filepath.Join(dir, "outbox")}
	if err := os.MkdirAll(out.Outbox, 0o755); err != nil {
		return nil, fmt.Errorf("demo: workspace: %w", err)
	}

	// Flabs: the simulator on loopback, with the sample lab and catalogue.
	simOpts := flabstest.Options{AllowHTTPWebhooks: true, Seed: 7,
		Webhooks: flabstest.WebhookOptions{Manual: true, NoBillRate: 0.08, StallRate: 0.1, DeleteRate: 0.05,
			MissingReportRate: 0.1, DropRate: 0.05}}
	cat, err := fixtures.LoadCatalogue()
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	cat.Serve(&simOpts)
	sim := flabstest.New(simOpts)
	defer sim.Close()
	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: simulator: %w", err)
	}
	simSrv := &http.Server{Handler: sim, ReadHeaderTimeout: 5 * time.Second}
	go simSrv.Serve(simLn)
	defer simSrv.Close()
	out.SimURL = "http://" + simLn.Addr().String()
	sim.SetURL(out.SimURL)
	step(1, out)

	cfg := demoConfig(dir, out.SimURL)
	out.Config = cfg
	db, err := store.Open(ctx, cfg.Database)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	defer db.Close()
	client, err := flabs.NewClient(flabs.Config{BaseURL: out.SimURL, ClientID: cfg.Flabs.ClientID, ClientSecret: cfg.Flabs.ClientSecret})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	ms := mapping.NewStore(db)
	if out.Catalogue, err = ms.Sync(ctx, client, "", time.Now()); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	lines, err := mapping.ReadTable(bytes.NewReader(fixtures.Mappings()))
	if err != nil {
		return nil, fmt.Errorf("demo: mapping table: %w", err)
	}
	plan, err := ms.Import(ctx, lines, mapping.ImportOptions{By: "demo", Now: time.Now()})
	if err != nil || !plan.OK() {
		return nil, fmt.Errorf("demo: the sample mapping table does not import: %v %v", err, plan)
	}
	out.Aliases = plan.Added
	step(2, out)

	// The daemon, in this process: the real service, its receipts
	// written to the outbox folder instead of mailed.
	dctx, stopDaemon := context.WithCancel(ctx)
	defer stopDaemon()
	ready := make(chan Addrs, 1)
	daemonDone := make(chan error, 1)
	svc := &Service{Config: cfg, Client: client, Name: "demo", Logger: log.With("process", "demo"),
		Receipts: receipt.NewOutbox(out.Outbox), Ready: func(a Addrs) { ready <- a }}
	go func() { daemonDone <- svc.Run(dctx) }()
	var addrs Addrs
	select {
	case addrs = <-ready:
	case err := <-daemonDone:
		return nil, fmt.Errorf("demo: the daemon did not start: %w", err)
	}
	out.Webhooks, out.Admin = "http://"+addrs.Webhooks+cfg.Webhook.Path, addrs.Admin
	if err := client.Subscribe(ctx, &flabs.SubscribeRequest{Endpoint: out.Webhooks, Protocol: "https", Events: flabs.BillEvents,
		AuthToken: cfg.Webhook.AuthToken}); err != nil {
		return nil, fmt.Errorf("demo: subscribe: %w", err)
	}
	step(3, out)

	// Partners drop their sheets (and one clinic sends a PDF).
	if out.Dropped, err = fixtures.DropSamples(cfg.Inbox.Dir); err != nil {
		return nil, err
	}
	step(4, out)
	led := ledger.New(db)
	if err := waitFor(ctx, 45*time.Second, func() bool {
		a, _ := filepath.Glob(filepath.Join(cfg.Inbox.ArchiveDir, "*", "*"))
		e, _ := filepath.Glob(filepath.Join(cfg.Inbox.ErrorDir, "*", "*.error.txt"))
		open, err := led.CountUnsettled(ctx)
		return len(a)+len(e) == out.Dropped && open == 0 && err == nil
	}); err != nil {
		return nil, fmt.Errorf("demo: files not handled: %w", err)
	}
	if out.Status, err = GatherStatus(ctx, db, cfg); err != nil {
		return nil, err
	}
	step(5, out)

	// Three days pass in Flabs: its webhooks are delivered in the order
	// they fall due, the lost ones lost, the same way every run.
	out.Events = sim.Advance(ctx, demoHorizon)
	out.Bookings = len(sim.Bookings())
	step(6, out)

	// The nightly run, as of three days later.
	if out.Nightly, err = nightly.Run(ctx, cfg, db, time.Now().Add(80*time.Hour), nightly.Options{}); err != nil {
		return nil, fmt.Errorf("demo: reconcile: %w", err)
	}
	out.Digest = filepath.Join(out.Outbox, "digest.txt")
	os.WriteFile(out.Digest, []byte("Subject: "+out.Nightly.Digest.Subject()+"\n\n"+out.Nightly.Digest.Text()), 0o644)
	os.WriteFile(filepath.Join(out.Outbox, "digest.html"), []byte(out.Nightly.Digest.HTML()), 0o644)
	step(7, out)

	stopDaemon()
	if err := <-daemonDone; err != nil && !errors.Is(err, context.Canceled) {
		return nil, fmt.Errorf("demo: daemon: %w", err)
	}
	receipts, _ := filepath.Glob(filepath.Join(out.Outbox, "receipt-*.txt"))
	out.Receipts = len(receipts)
	out.StatusFile = filepath.Join(dir, "flabsync.yaml")
	os.WriteFile(out.StatusFile, []byte("# the demo's database, for `flabsync status --config "+out.StatusFile+"`\ndatabase: "+cfg.Database+"\n"), 0o644)
	out.DoubleBooked = len(sim.DoubleBooked())
	return out, nil
}

// demoConfig is the demo's config: the simulator at base, everything
// under dir, the import job every 2 s, the other jobs off, and a receipt
// address for each sample clinic.
func demoConfig(dir, base string) *config.Config {
	cfg := config.Default()
	cfg.Database = "sqlite:" + filepath.Join(dir, "flabsync.db")
	cfg.Flabs.BaseURL, cfg.Flabs.ClientID, cfg.Flabs.ClientSecret = base, flabstest.DefaultClientID, flabstest.DefaultClientSecret
	cfg.Flabs.RatePerSecond, cfg.Flabs.Burst = 50, 10
	cfg.Inbox = config.Inbox{Dir: filepath.Join(dir, "inbox"), ArchiveDir: filepath.Join(dir, "archive"),
		ErrorDir: filepath.Join(dir, "errors"), Settle: 300 * time.Millisecond}
	cfg.Webhook.Listen, cfg.Serve.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Webhook.AuthToken = "demo-webhook-token"
	cfg.Report.Dir = filepath.Join(dir, "reports")
	cfg.DefaultLeadSource = "partner-sheet"
	cfg.Schedules = map[string]string{"import": "@every 2s", "mapping-sync": "off", "reconcile": "off", "expected-drops": "off"}
	cfg.Log.Level = "warn"
	cfg.Partners = map[string]config.Partner{}
	for _, p := range demoPartners {
		cfg.Partners[p] = config.Partner{Email: config.StringList{"frontdesk@" + p + ".example"}}
	}
	return &cfg
}

// waitFor polls ok until it holds or the timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, ok func() bool) error {
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}
