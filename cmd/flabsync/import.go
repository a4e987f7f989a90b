package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/pipeline"
	"github.com/flabsync/flabsync/schedules"
)

func runImport(ctx context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("import", "import [--dry-run] [--partner NAME] [--json] FILE|FOLDER…",
		"Reads, validates and maps partner sheets (CSV or XLSX) and submits their bookings to Flabs:\n"+
			"every row is written to the ledger first, then sent under the rate limit, partners in turn,\n"+
			"with retries that never book twice. A re-dropped or corrected file sends only what was not\n"+
			"submitted before; after a crash, the next run resends what was in flight (same integrator_id).\n"+
			"With --dry-run nothing is sent and nothing is recorded: counts, every rejected row with its\n"+
			"reason and a sample of the bookings, or with --json one object per file holding the exact\n"+
			"request each booking would send. --json on a real import adds each booking's final state.\n"+
			"The partner is --partner, else a partners.<name>.pattern matching the file name, else the\n"+
			"name up to the first '_' (sunrise_2026-11-24.csv, care-city_0612.csv), as in the inbox.\n"+
			"Ctrl-C stops taking rows, lets requests on their way finish, and keeps the ledger whole.\n"+
			"Exit 1 when a row was rejected, refused, failed or held, or a file could not be read.")
	cfgPath := fs.String("config", "", "config file (default $FLABSYNC_CONFIG, else ./flabsync.yaml)")
	dry := fs.Bool("dry-run", false, "read, validate and map without sending or recording anything")
	partner := fs.String("partner", "", "partner for every file (default: from each file name)")
	asJSON := fs.Bool("json", false, "print one JSON object per file (the stable shape)")
	sample := fs.Int("sample", 5, "bookings to show per file in the human dry-run output")
	noProgress := fs.Bool("no-progress", false, "no progress bar, even on a terminal")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *partner != "" && !config.ValidPartner(*partner) {
		return usageErrorf("import: --partner %q: %v", *partner, pipeline.ErrBadPartner).hint("the partner's name as in the config, e.g. --partner sunrise")
	}
	if fs.NArg() == 0 {
		return usageErrorf("import: name at least one file").hint("flabsync import --dry-run fixtures/sheets/sunrise_2026-11-24.csv")
	}
	paths, err := pipeline.FilesOf(fs.Args())
	if err != nil {
		return usageErrorf("import: %v", err)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if !*dry {
		return runSend(ctx, m, cfg, paths, *partner, *asJSON, !*noProgress)
	}
	ix, note, err := schedules.DryRunIndex(ctx, cfg)
	if err != nil {
		return err
	}
	if note != "" && !*asJSON {
		fmt.Fprintln(m.Stderr, "note:", note)
	}
	failed := 0
	for _, path := range paths {
		p := *partner
		if p == "" {
			p = pipeline.PartnerFor(cfg, path)
		}
		opts := pipeline.OptionsFor(cfg, p, time.Now())
		opts.Mapper = ix
		if *asJSON {
			// One object per file, its bookings streamed as they are read.
			res, _, err := pipeline.WriteReport(ctx, m.Stdout, path, opts)
			if err != nil || len(res.Rejected) > 0 {
				failed++
			}
			continue
		}
		res, accepted, err := pipeline.ScanSample(ctx, path, opts, *sample)
		if err != nil {
			failed++
			fmt.Fprintf(m.Stdout, "%s  NOT READ: %v\n\n", filepath.Base(path), err)
			continue
		}
		if len(res.Rejected) > 0 {
			failed++
		}
		fmt.Fprint(m.Stdout, res.DryRunText(accepted))
	}
	if failed > 0 {
		return &partialError{msg: fmt.Sprintf("%d of %d files had rejected rows or could not be read", failed, len(paths))}
	}
	return nil
}
