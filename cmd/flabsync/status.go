package main

import (
	"context"
	"fmt"
	"time"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/mapping"
)

func runStatus(ctx context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("status", "status [--config FILE]",
		"Opens the configured database (applying pending migrations) and shows the schema version,\n"+
			"the latest job runs and who holds which lease. A quick check that flabsync can start.")
	cfgPath := fs.String("config", "", "config file (default $FLABSYNC_CONFIG, else ./flabsync.yaml)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer db.Close()
	ver, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	out := m.Stdout
	fmt.Fprintf(out, "database  %s (schema v%d)\n", db, ver)
	ms := mapping.NewStore(db)
	info, err := ms.Info(ctx)
	if err != nil {
		return err
	}
	es, err := ms.Entries(ctx)
	if err != nil {
		return err
	}
	if info.SyncedAt.IsZero() {
		fmt.Fprintf(out, "catalogue none synced yet (flabsync mapping sync); %d aliases\n", len(es))
	} else {
		fmt.Fprintf(out, "catalogue lab %s (%s): %d tests, %d packages, synced %s; %d aliases\n", info.LabName, info.LabID,
			info.Tests, info.Packages, info.SyncedAt.Local().Format(time.RFC3339), len(es))
	}
	runs, err := db.JobRuns(ctx, "", 10)
	if err != nil {
		return err
	}
	if len(runs) == 0 {
		fmt.Fprintln(out, "jobs      none run yet")
	}
	for _, r := range runs {
		took := "running"
		if !r.FinishedAt.IsZero() {
			took = r.FinishedAt.Sub(r.StartedAt.Time).Round(time.Millisecond).String()
		}
		fmt.Fprintf(out, "job       %-10s %s  %-8s %-8s %s\n", r.Job, r.StartedAt.Format(time.RFC3339), r.Status, took, r.Summary)
	}
	leases, err := db.Leases(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, l := range leases {
		state := "held"
		if l.ExpiresAt.Before(now) {
			state = "expired"
		}
		fmt.Fprintf(out, "lease     %-10s %s by %s until %s\n", l.Name, state, l.Holder, l.ExpiresAt.Format(time.RFC3339))
	}
	return nil
}
