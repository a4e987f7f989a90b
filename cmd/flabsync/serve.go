package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/schedules"
)

func runServe(ctx context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("serve", "serve [--config FILE] [--name NAME]",
		"Runs flabsync as a daemon: the inbox watcher (files are taken once they settle and sent),\n"+
			"the webhook receiver (webhook.listen + webhook.path),\n"+
			"the scheduled jobs (import, mapping-sync, reconcile, expected-drops, prune; schedules/default.yaml,\n"+
			"overridden by the config's schedules), and /healthz, /readyz and Prometheus /metrics on serve.listen.\n"+
			"Several serve processes may share one PostgreSQL and one inbox folder: a file is claimed by\n"+
			"one of them, and each job runs on one at a time. Give each process on one host its own\n"+
			"--name. SIGTERM stops taking work, lets requests on their way finish, and exits.\n"+
			"Exits 1 when Flabs refuses the credentials, at start or later: files not yet read stay in the inbox.")
	cfgPath := fs.String("config", "", "config file (default $FLABSYNC_CONFIG, else ./flabsync.yaml)")
	host, _ := os.Hostname()
	nameFlag := fs.String("name", host, "this process's name: its claimed files and job leases are kept under it")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	return serveDaemon(ctx, m, cfg, *nameFlag, nil)
}

// serveDaemon is `flabsync serve` with its config: it runs until ctx ends
// (the demo runs it in-process). ready, if not nil, hears where it
// listens once it does.
func serveDaemon(ctx context.Context, m *Main, cfg *config.Config, name string, ready func(schedules.Addrs)) error {
	if err := cfg.RequireFlabs(); err != nil {
		return &configError{err: err}
	}
	if err := cfg.RequireWebhookAuth(); err != nil {
		return &configError{err: err}
	}
	client, err := newFlabsClient(m, cfg)
	if err != nil {
		return err
	}
	svc := &schedules.Service{Config: cfg, Client: client, Name: name, Logger: m.logger(cfg).With("process", name),
		Ready: func(a schedules.Addrs) {
			fmt.Fprintf(m.Stderr, "flabsync serve: inbox %s, webhooks %s%s, admin http://%s (/healthz /readyz /metrics)\n",
				cfg.Inbox.Dir, a.Webhooks, cfg.Webhook.Path, a.Admin)
			if ready != nil {
				ready(a)
			}
		}}
	err = svc.Run(ctx)
	switch {
	case errors.Is(err, flabs.ErrAuth):
		return &partialError{msg: err.Error() + "; fix them and start again (files not yet read stay in the inbox)"}
	case err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled):
		return nil
	}
	return err
}
