package main

import (
	"context"
	"fmt"

	"github.com/flabsync/flabsync/schedules"
	"github.com/flabsync/flabsync/schedules/retention"
)

func runPrune(ctx context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("prune", "prune [--at TIME] [--dry-run] [--json] [--config FILE]",
		"Erases patient data older than retention.patient_data_days (as of TIME, default now): names,\n"+
			"ages and barcodes in the ledger's stored requests, cell text in its rows, raw webhook bodies\n"+
			"(on SQLite the database file's bytes included); deletes archived and refused sheets, their\n"+
			"notes and reject files. IDs, states, counts and exceptions stay. serve runs it daily.\n"+
			"--dry-run counts and changes nothing. Running it again finds nothing more to do.")
	cfgPath := fs.String("config", "", "config file (default $FLABSYNC_CONFIG, else ./flabsync.yaml)")
	atFlag := fs.String("at", "", `prune as of this time: RFC 3339 or "2006-01-02 15:04" in the config's timezone (default now)`)
	dryRun := fs.Bool("dry-run", false, "count what would be erased; change nothing")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("prune: unexpected argument %q", fs.Arg(0)).hint("flabsync prune --dry-run")
	}
	cfg, db, err := openConfigStore(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer db.Close()
	at, err := parseAt("prune", *atFlag, cfg.Timezone)
	if err != nil {
		return err
	}
	var r retention.Report
	if *dryRun {
		// A dry run changes nothing: a look, not a run of the job.
		r, err = retention.Run(ctx, db, cfg, at, retention.Options{DryRun: true, Logger: m.logger(cfg)})
	} else {
		// The same job serve runs daily, under its lease and recorded.
		ran := false
		_, err = runJob(ctx, m, db, schedules.JobPrune, schedules.PruneJobAt(cfg, db, m.logger(cfg), at,
			func(got retention.Report) { r, ran = got, true }))
		if !ran {
			return err
		}
	}
	if *asJSON {
		if jerr := writeJSON(m.Stdout, r); jerr != nil {
			return jerr
		}
	} else {
		verb := "erased"
		if r.DryRun {
			verb = "would erase (dry run)"
		}
		fmt.Fprintf(m.Stdout, "patient data before %s %s:\n", r.Before.In(at.Location()).Format("2006-01-02 15:04"), verb)
		fmt.Fprintf(m.Stdout, "  database: %d bookings, %d sheet rows of %d files, %d webhook bodies\n", r.Bookings, r.SheetRows, r.LedgerFiles, r.WebhookBodies)
		fmt.Fprintf(m.Stdout, "  files:    %d archived sheets, %d refused sheets, %d reason notes, %d reject files\n",
			r.ArchivedSheets, r.RefusedSheets, r.ReasonNotes, r.RejectFiles)
		fmt.Fprintf(m.Stdout, "  freed:    %d bytes\n", r.BytesFreed)
	}
	return err
}
