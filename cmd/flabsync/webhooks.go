package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/logging"
	"github.com/flabsync/flabsync/reconcile/webhook"
)

// webhooksUsage lists the webhooks subcommands.
const webhooksUsage = "webhooks subscribe --endpoint URL [--events LIST] | webhooks listen | webhooks replay FILE|DIR…"

func runWebhooks(ctx context.Context, m *Main, args []string) error {
	sub := ""
	if len(args) > 0 {
		sub = args[0]
	}
	switch sub {
	case "subscribe":
		return runWebhooksSubscribe(ctx, m, args[1:])
	case "listen":
		return runWebhooksListen(ctx, m, args[1:])
	case "replay":
		return runWebhooksReplay(ctx, m, args[1:])
	}
	if sub != "" && sub[0] != '-' {
		return usageErrorf("webhooks: unknown subcommand %q", sub).hint("flabsync " + webhooksUsage)
	}
	fs := m.newFlagSet("webhooks", webhooksUsage,
		"subscribe registers flabsync's webhook receiver with Flabs (POST /client/events/subscribe).\n"+
			"listen runs the receiver alone, in the foreground, on webhook.listen (serve runs it too).\n"+
			"replay stores raw webhook bodies from files again, as if delivered; repeats are recognised.")
	if err := parse(fs, args); err != nil {
		return err
	}
	return usageErrorf("webhooks: say subscribe, listen or replay").hint("flabsync webhooks subscribe --endpoint https://host/webhooks/flabs")
}

func runWebhooksSubscribe(ctx context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("webhooks subscribe", "webhooks subscribe --endpoint URL [--events LIST] [--config FILE]",
		"Registers the webhook receiver with Flabs. Flabs requires an https endpoint that it can reach.\n"+
			"With webhook.subscribe_sends_token (default true) the token in webhook.auth_token is sent\n"+
			"along: older Flabs accounts deliver it back with every event; the current docs no longer\n"+
			"list the field. flabs.lab_id is sent as labID when set.")
	cfgPath := fs.String("config", "", "config file")
	endpoint := fs.String("endpoint", "", "public https URL of the receiver, e.g. https://sync.lab.example/webhooks/flabs (required)")
	events := fs.String("events", strings.Join(flabs.BillEvents, ","), "comma-separated events")
	corporate := fs.String("corporate-user", "", "party-scoped accounts: bind to this corporate")
	org := fs.String("organization", "", "party-scoped accounts: bind to this doctor/hospital")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *endpoint == "" {
		return usageErrorf("webhooks subscribe: --endpoint is required").hint("the public https URL Flabs will POST to, ending in webhook.path")
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	client, err := newFlabsClient(m, cfg)
	if err != nil {
		return err
	}
	req := &flabs.SubscribeRequest{LabID: cfg.Flabs.LabID, Endpoint: *endpoint, Protocol: "https",
		CorporateUser: *corporate, Organization: *org}
	if cfg.Webhook.SubscribeSendsToken {
		req.AuthToken = cfg.Webhook.AuthToken
	}
	for _, e := range strings.Split(*events, ",") {
		if e = strings.TrimSpace(e); e != "" {
			req.Events = append(req.Events, e)
		}
	}
	if err := client.Subscribe(ctx, req); err != nil {
		return fmt.Errorf("subscribe %s: %w", *endpoint, err)
	}
	fmt.Fprintf(m.Stdout, "subscribed %s to %s\n", *endpoint, strings.Join(req.Events, ", "))
	return nil
}

func runWebhooksListen(ctx context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("webhooks listen", "webhooks listen [--config FILE]",
		"Runs the webhook receiver alone, in the foreground, until Ctrl-C or SIGTERM: POST on\n"+
			"webhook.listen + webhook.path, HTTPS when webhook.tls_cert/tls_key are set. Each event is\n"+
			"answered 200 only once it is in the database; repeats are answered 200 and counted.\n"+
			"`flabsync serve` runs the same receiver beside the inbox and the schedules.")
	cfgPath := fs.String("config", "", "config file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("webhooks listen: unexpected argument %q", fs.Arg(0)).hint("flabsync webhooks listen [--config FILE]")
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if err := cfg.RequireWebhookAuth(); err != nil {
		return &configError{err: err}
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	log := m.logger(cfg)
	recv := webhook.NewWithOptions(db, cfg.Webhook, log.With(logging.KeyComponent, "webhook"), webhook.Options{LabID: cfg.Flabs.LabID})
	err = recv.ListenAndServe(ctx)
	recv.Close()
	st := recv.Stats()
	fmt.Fprintf(m.Stderr, "webhooks: %d received: %d stored (%d orphans), %d repeats, %d refused, %d not stored\n",
		st.Received, st.Stored, st.Orphans, st.Duplicates, st.RejectedTotal(), st.Failed)
	return err
}

func runWebhooksReplay(ctx context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("webhooks replay", "webhooks replay [--config FILE] FILE|DIR…",
		"Stores raw webhook bodies again, as if Flabs had delivered them: for bodies captured while\n"+
			"the receiver was down, or refused before a fix. A FILE is one body, or one body per line\n"+
			"when it ends in .jsonl or .ndjson; a DIR gives its .json, .jsonl and .ndjson files, sorted.\n"+
			"No token is checked. Replaying twice stores nothing twice: a body already stored is\n"+
			"counted as a repeat. Bodies that are not Flabs events are listed with the reason (exit 1).")
	cfgPath := fs.String("config", "", "config file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageErrorf("webhooks replay: name at least one file or directory").hint("flabsync webhooks replay fixtures/webhooks")
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	recv := webhook.NewWithOptions(db, cfg.Webhook, m.logger(cfg).With(logging.KeyComponent, "webhook"), webhook.Options{LabID: cfg.Flabs.LabID})
	defer recv.Close()

	rep, err := recv.Replay(ctx, fs.Args())
	if err != nil {
		return err
	}
	for _, b := range rep.Bodies {
		if b.Result.Status == webhook.StatusInvalid {
			fmt.Fprintf(m.Stdout, "%s: not a Flabs event: %s\n", b.Where, b.Result.Reason)
		}
	}
	for _, u := range rep.Unread {
		fmt.Fprintf(m.Stdout, "%s\n", u)
	}
	fmt.Fprintf(m.Stdout, "replayed %d bodies: %d stored, %d already stored, %d invalid\n",
		len(rep.Bodies), rep.Count[webhook.StatusStored], rep.Count[webhook.StatusDuplicate], rep.Count[webhook.StatusInvalid])
	if n := rep.Count[webhook.StatusInvalid] + len(rep.Unread); n > 0 {
		return &partialError{msg: fmt.Sprintf("webhooks replay: %d bodies or files could not be replayed", n)}
	}
	return nil
}

// newFlabsClient builds the Flabs client from config, checking that the
// credentials are there first.
func newFlabsClient(m *Main, cfg *config.Config) (*flabs.Client, error) {
	if err := cfg.RequireFlabs(); err != nil {
		return nil, &configError{err: err}
	}
	return flabs.FromConfig(cfg.Flabs, m.logger(cfg).With(logging.KeyComponent, "flabs"))
}
