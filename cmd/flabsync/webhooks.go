package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/flabs"
)

func runWebhooks(ctx context.Context, m *Main, args []string) error {
	if len(args) == 0 || (args[0] != "subscribe" && args[0] != "-h" && args[0] != "--help") {
		if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
			return usageErrorf("webhooks: unknown subcommand %q", args[0]).hint("flabsync webhooks subscribe --endpoint URL")
		}
		fs := m.newFlagSet("webhooks", "webhooks subscribe --endpoint URL [--events LIST]",
			"subscribe registers flabsync's webhook receiver with Flabs (POST /client/events/subscribe).")
		if err := parse(fs, args); err != nil {
			return err
		}
		return usageErrorf("webhooks: say subscribe").hint("flabsync webhooks subscribe --endpoint https://host/webhooks/flabs")
	}
	if args[0] == "subscribe" {
		args = args[1:]
	}
	fs := m.newFlagSet("webhooks subscribe", "webhooks subscribe --endpoint URL [--events LIST] [--config FILE]",
		"Registers the webhook receiver with Flabs. Flabs requires an https endpoint that it can reach.\n"+
			"The token in webhook.auth_token is sent along (older Flabs accounts deliver it back with\n"+
			"every event). flabs.lab_id is sent as labID when set.")
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
		AuthToken: cfg.Webhook.AuthToken, CorporateUser: *corporate, Organization: *org}
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

// newFlabsClient builds the Flabs client from config, checking that the
// credentials are there first.
func newFlabsClient(m *Main, cfg *config.Config) (*flabs.Client, error) {
	if err := cfg.RequireFlabs(); err != nil {
		return nil, &configError{err: err}
	}
	return flabs.NewClient(flabs.Config{
		BaseURL:      cfg.Flabs.BaseURL,
		ClientID:     cfg.Flabs.ClientID,
		ClientSecret: cfg.Flabs.ClientSecret,
		Timeout:      cfg.Flabs.Timeout,
		Logger:       m.logger(cfg).With("component", "flabs"),
	})
}
