package main

import (
	"context"
	"fmt"
	"os"

	"github.com/flabsync/flabsync/internal/config"
)

func runConfig(ctx context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("config", "config example | config check [--config FILE]",
		"example prints a complete, commented config with every key and its default.\n"+
			"check loads the config in force, validates it and prints the effective values,\n"+
			"secrets masked. It exits 2 naming the key and value when something is wrong.")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageErrorf("config: say example or check").hint("flabsync config example > flabsync.yaml")
	}
	switch sub, rest := fs.Arg(0), fs.Args()[1:]; sub {
	case "example":
		efs := m.newFlagSet("config example", "config example", "Prints a complete, commented config; redirect it into flabsync.yaml.")
		if err := parse(efs, rest); err != nil {
			return err
		}
		fmt.Fprint(m.Stdout, config.Example())
		return nil
	case "check":
		cfs := m.newFlagSet("config check", "config check [--config FILE]",
			"Loads and validates the config in force and prints the effective values, secrets masked.")
		path := cfs.String("config", "", "config file (default $FLABSYNC_CONFIG, else ./flabsync.yaml)")
		if err := parse(cfs, rest); err != nil {
			return err
		}
		p, explicit := config.Path(*path)
		cfg, err := loadConfig(*path)
		if err != nil {
			return err
		}
		if _, statErr := os.Stat(p); explicit || statErr == nil {
			fmt.Fprintf(m.Stdout, "# config: %s (valid)\n", p)
		} else {
			fmt.Fprintf(m.Stdout, "# config: none found (%s), built-in defaults in force (valid)\n", p)
		}
		fmt.Fprint(m.Stdout, cfg.Effective())
		if err := cfg.RequireWebhookAuth(); err != nil {
			fmt.Fprintf(m.Stdout, "# warning: serve and webhooks listen will refuse to start: %v\n", err)
		}
		for _, w := range cfg.Warnings() {
			fmt.Fprintf(m.Stdout, "# warning: %s\n", w)
		}
		return nil
	default:
		return usageErrorf("config: unknown subcommand %q", sub).hint("say example or check")
	}
}
