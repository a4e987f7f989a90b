package main

import (
	"context"
	"fmt"

	"github.com/flabsync/flabsync/schedules"
)

func runStatus(ctx context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("status", "status [--config FILE] [--json]",
		"Opens the configured database (applying pending migrations) and shows: the schema version,\n"+
			"the synced catalogue, files and rows by state, bookings by ledger state, the last run of\n"+
			"each job, open exceptions by category, each partner's bookings waiting to be sent (and how\n"+
			"long the oldest has waited), and who holds which lease.")
	cfgPath := fs.String("config", "", "config file (default $FLABSYNC_CONFIG, else ./flabsync.yaml)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, db, err := openConfigStore(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer db.Close()
	rep, err := schedules.GatherStatus(ctx, db, cfg)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(m.Stdout, rep)
	}
	fmt.Fprint(m.Stdout, rep.Text())
	return nil
}
