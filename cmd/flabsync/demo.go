package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flabsync/flabsync/fixtures"
	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/pipeline/receipt"
	"github.com/flabsync/flabsync/reconcile/nightly"
	"github.com/flabsync/flabsync/schedules"
)

// demoHorizon is how far the demo winds the simulator's webhook clock:
// every event of every bill falls due within it.
const demoHorizon = 72 * time.Hour

func runDemo(ctx context.Context, m *Main, args []string) error {
	fset := m.newFlagSet("demo", "demo [--dir DIR]",
		"Runs the whole product in one process, with no config: the built-in Flabs simulator, the\n"+
			"daemon (inbox watcher, submitter, webhook receiver), the sample partner sheets dropped into\n"+
			"the inbox, Flabs' webhooks on an accelerated clock (ten hours a second, some lost, late,\n"+
			"deleted or stalled), then the reconciliation: the exception workbook, the partners' reject\n"+
			"files, the email and the clinics' receipts (written to DIR/outbox). DIR (default ./demo) is\n"+
			"made afresh each run.")
	dir := fset.String("dir", "demo", "workspace directory (recreated)")
	if err := parse(fset, args); err != nil {
		return err
	}
	start := time.Now()
	out := m.Stdout
	for _, sub := range []string{"inbox", "archive", "errors", "reports", "outbox"} {
		os.RemoveAll(filepath.Join(*dir, sub))
	}
	for _, f := range []string{"flabsync.db", "flabsync.db-wal", "flabsync.db-shm"} {
		os.Remove(filepath.Join(*dir, f))
	}
	if err := os.MkdirAll(filepath.Join(*dir, "outbox"), 0o755); err != nil {
		return fmt.Errorf("demo: workspace: %w", err)
	}

	// Flabs: the simulator on loopback, with the sample lab and catalogue.
	simOpts := flabstest.Options{AllowHTTPWebhooks: true, Seed: 7,
		Webhooks: flabstest.WebhookOptions{Manual: true, NoBillRate: 0.08, StallRate: 0.1, DeleteRate: 0.05,
			MissingReportRate: 0.1, DropRate: 0.05}}
	cat, err := fixtures.LoadCatalogue()
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	cat.Serve(&simOpts)
	sim := flabstest.New(simOpts)
	defer sim.Close()
	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo: simulator: %w", err)
	}
	simSrv := &http.Server{Handler: sim, ReadHeaderTimeout: 5 * time.Second}
	go simSrv.Serve(simLn)
	defer simSrv.Close()
	base := "http://" + simLn.Addr().String()
	sim.SetURL(base)
	fmt.Fprintf(out, "1. Flabs       the built-in simulator on %s (its webhook clock is wound on by the demo)\n", base)

	cfg := config.Default()
	cfg.Database = "sqlite:" + filepath.Join(*dir, "flabsync.db")
	cfg.Flabs.BaseURL, cfg.Flabs.ClientID, cfg.Flabs.ClientSecret = base, flabstest.DefaultClientID, flabstest.DefaultClientSecret
	cfg.Flabs.RatePerSecond, cfg.Flabs.Burst = 50, 10
	cfg.Inbox = config.Inbox{Dir: filepath.Join(*dir, "inbox"), ArchiveDir: filepath.Join(*dir, "archive"),
		ErrorDir: filepath.Join(*dir, "errors"), Settle: 300 * time.Millisecond}
	cfg.Webhook.Listen, cfg.Serve.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Webhook.AuthToken = "demo-webhook-token"
	cfg.Report.Dir = filepath.Join(*dir, "reports")
	cfg.DefaultLeadSource = "partner-sheet"
	cfg.Schedules = map[string]string{"import": "@every 2s", "mapping-sync": "off", "reconcile": "off", "expected-drops": "off"}
	cfg.Log.Level = "warn"
	// Each clinic gets a receipt per file; the demo's go to DIR/outbox.
	cfg.Partners = map[string]config.Partner{}
	for _, p := range []string{"apollo", "cityclinic", "greenleaf", "hillside", "lakeview", "metro", "sunrise"} {
		cfg.Partners[p] = config.Partner{Email: config.StringList{"frontdesk@" + p + ".example"}}
	}
	outbox := filepath.Join(*dir, "outbox")

	db, err := openStore(ctx, &cfg)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer db.Close()
	client, err := flabs.NewClient(flabs.Config{BaseURL: base, ClientID: cfg.Flabs.ClientID, ClientSecret: cfg.Flabs.ClientSecret})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	ms := mapping.NewStore(db)
	rep, err := ms.Sync(ctx, client, "", time.Now())
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	lines, err := mapping.ReadTable(bytes.NewReader(fixtures.Mappings()))
	if err != nil {
		return fmt.Errorf("demo: mapping table: %w", err)
	}
	plan, err := ms.Import(ctx, lines, mapping.ImportOptions{By: "demo", Now: time.Now()})
	if err != nil || !plan.OK() {
		return fmt.Errorf("demo: the sample mapping table does not import: %v %v", err, plan)
	}
	fmt.Fprintf(out, "2. mapping     catalogue of %q synced (%d tests, %d packages); %d aliases imported\n",
		rep.LabName, rep.Tests, rep.Packages, plan.Added)

	// The daemon, in this process.
	dctx, stopDaemon := context.WithCancel(ctx)
	defer stopDaemon()
	ready := make(chan schedules.Addrs, 1)
	daemonDone := make(chan error, 1)
	quiet := &Main{Stdout: m.Stdout, Stderr: io.Discard, Stdin: m.Stdin}
	svc := &schedules.Service{Config: &cfg, Client: client, Name: "demo", Logger: quiet.logger(&cfg).With("process", "demo"),
		Receipts: receipt.NewOutbox(outbox), Ready: func(a schedules.Addrs) { ready <- a }}
	go func() { daemonDone <- svc.Run(dctx) }()
	var info schedules.Addrs
	select {
	case info = <-ready:
	case err := <-daemonDone:
		return fmt.Errorf("demo: the daemon did not start: %w", err)
	}
	endpoint := "http://" + info.Webhooks + cfg.Webhook.Path
	if err := client.Subscribe(ctx, &flabs.SubscribeRequest{Endpoint: endpoint, Protocol: "https", Events: flabs.BillEvents,
		AuthToken: cfg.Webhook.AuthToken}); err != nil {
		return fmt.Errorf("demo: subscribe: %w", err)
	}
	fmt.Fprintf(out, "3. daemon      watching %s; webhooks subscribed at %s; metrics at http://%s/metrics\n",
		cfg.Inbox.Dir, endpoint, info.Admin)

	// Partners drop their sheets (and one clinic sends a PDF).
	dropped, err := fixtures.DropSamples(cfg.Inbox.Dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "4. inbox       %d sheets dropped in by partner clinics (one of them a PDF)\n", dropped)
	led := ledger.New(db)
	if err := waitFor(ctx, 45*time.Second, func() bool {
		a, _ := filepath.Glob(filepath.Join(cfg.Inbox.ArchiveDir, "*", "*"))
		e, _ := filepath.Glob(filepath.Join(cfg.Inbox.ErrorDir, "*", "*.error.txt"))
		open, err := led.CountUnsettled(ctx)
		return len(a)+len(e) == dropped && open == 0 && err == nil
	}); err != nil {
		return fmt.Errorf("demo: files not handled: %w", err)
	}
	st, err := schedules.GatherStatus(ctx, db, &cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "5. submitted   rows: %s; files: %s\n", mapLine(st.Rows), mapLine(st.Files))

	// Three days pass in Flabs: its webhooks are delivered in the order
	// they fall due, the lost ones lost, the same way every run.
	events := sim.Advance(ctx, demoHorizon)
	fmt.Fprintf(out, "6. webhooks    %d events delivered for %d bookings (some were never sent: that is the point)\n",
		events, len(sim.Bookings()))

	// The nightly run, as of three days later.
	at := time.Now().Add(80 * time.Hour)
	r, err := nightly.Run(ctx, &cfg, db, at, nightly.Options{})
	if err != nil {
		return fmt.Errorf("demo: reconcile: %w", err)
	}
	var cats []string
	for _, c := range sortedKeys(r.Result.Counts) {
		cats = append(cats, fmt.Sprintf("%s %d", c, r.Result.Total(c)))
	}
	fmt.Fprintf(out, "7. reconciled  as of three days later: %d exceptions (%s)\n", r.Result.New+r.Result.Open, strings.Join(cats, ", "))
	mailFile := filepath.Join(*dir, "outbox", "digest.txt")
	os.WriteFile(mailFile, []byte("Subject: "+r.Digest.Subject()+"\n\n"+r.Digest.Text()), 0o644)
	os.WriteFile(filepath.Join(*dir, "outbox", "digest.html"), []byte(r.Digest.HTML()), 0o644)

	stopDaemon()
	if err := <-daemonDone; err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("demo: daemon: %w", err)
	}
	receipts, _ := filepath.Glob(filepath.Join(outbox, "receipt-*.txt"))
	fmt.Fprintf(out, "\nDone in %s. Where to look:\n", time.Since(start).Round(100*time.Millisecond))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  %s\tthe exception workbook (Summary, a sheet per problem, Unmapped to fill in)\n", r.Workbook)
	for _, p := range r.Rejects {
		fmt.Fprintf(tw, "  %s\trows sent back to the clinic, with the reason\n", p)
	}
	fmt.Fprintf(tw, "  %s\tthe email ops would get (with --email and mail.* set)\n", mailFile)
	if len(receipts) > 0 {
		fmt.Fprintf(tw, "  %s\t%d receipts the clinics would get (partners.<name>.email), rejected rows attached\n",
			filepath.Join(outbox, "receipt-*"), len(receipts))
	}
	fmt.Fprintf(tw, "  %s\tfiles done (and %s: refused, each with a .error.txt)\n", cfg.Inbox.ArchiveDir, cfg.Inbox.ErrorDir)
	statusCfg := filepath.Join(*dir, "flabsync.yaml")
	os.WriteFile(statusCfg, []byte("# the demo's database, for `flabsync status --config "+statusCfg+"`\ndatabase: "+cfg.Database+"\n"), 0o644)
	fmt.Fprintf(tw, "  flabsync status --config %s\tfiles, rows, bookings, jobs, exceptions\n", statusCfg)
	tw.Flush()
	if n := len(sim.DoubleBooked()); n != 0 {
		return &partialError{msg: fmt.Sprintf("demo: %d bookings were made twice in the simulator", n)}
	}
	return nil
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

func mapLine(m map[string]int) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
