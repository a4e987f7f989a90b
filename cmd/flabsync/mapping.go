package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/schedules"
)

// mappingCommands are the subcommands of `flabsync mapping`.
var mappingCommands = []struct {
	name, summary string
	run           func(ctx context.Context, m *Main, args []string) error
}{
	{"sync", "pull labs, tests and packages from Flabs into the store; report what changed", runMappingSync},
	{"lookup", "show how names map, and why (--json: the stable shape)", runMappingLookup},
	{"suggest", "the same as lookup: suggestions for names that do not map", runMappingLookup},
	{"list", "list the mapping table (or, with --catalogue, the synced catalogue)", runMappingList},
	{"import", "check a CSV/XLSX mapping table and apply it, all or nothing", runMappingImport},
	{"export", "write the mapping table as CSV or XLSX, in the import layout", runMappingExport},
}

func runMapping(ctx context.Context, m *Main, args []string) error {
	if len(args) > 0 {
		for _, c := range mappingCommands {
			if c.name == args[0] {
				return c.run(ctx, m, args[1:])
			}
		}
	}
	help := func() {
		fmt.Fprintln(m.Stderr, "Usage: flabsync mapping SUBCOMMAND [flags]")
		fmt.Fprintln(m.Stderr)
		fmt.Fprintln(m.Stderr, "The test/package name → Flabs ID table. A name maps only by an alias someone made, an exact")
		fmt.Fprintln(m.Stderr, "catalogue name, a catalogue abbreviation exactly one entry carries, or the name part of")
		fmt.Fprintln(m.Stderr, "\"X (ABBR)\" when nothing else could be meant; everything else is sent unmapped, never guessed.")
		fmt.Fprintln(m.Stderr)
		fmt.Fprintln(m.Stderr, "Subcommands:")
		for _, c := range mappingCommands {
			fmt.Fprintf(m.Stderr, "  %-8s %s\n", c.name, c.summary)
		}
		fmt.Fprintln(m.Stderr, "\nEvery subcommand takes -h.")
	}
	if len(args) == 0 {
		help()
		return usageErrorf("mapping: say which subcommand").hint("flabsync mapping lookup CBC")
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		help()
		return nil
	}
	return usageErrorf("mapping: unknown subcommand %q", args[0]).hint("run 'flabsync mapping -h'")
}

// openMapping loads the config and opens the store.
func openMapping(ctx context.Context, cfgPath string) (*config.Config, *store.DB, *mapping.Store, error) {
	cfg, db, err := openConfigStore(ctx, cfgPath)
	if err != nil {
		return nil, nil, nil, err
	}
	return cfg, db, mapping.NewStore(db), nil
}

func runMappingSync(ctx context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("mapping sync", "mapping sync [--config FILE] [--json]",
		"Pulls the labs, tests and packages from Flabs and stores them in one transaction. Entries that\n"+
			"vanished are kept but retired; aliases whose target vanished are listed (names that mapped\n"+
			"through them now go to Flabs unmapped). The lab is flabs.lab_id, or the account's only lab.\n"+
			"An empty answer from Flabs is refused and the stored catalogue kept.\n"+
			"Exit 1 when an alias lost its target.")
	cfgPath := fs.String("config", "", "config file (default $FLABSYNC_CONFIG, else ./flabsync.yaml)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("mapping sync: takes no arguments, got %q", fs.Arg(0))
	}
	cfg, db, ms, err := openMapping(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer db.Close()
	client, err := newFlabsClient(m, cfg)
	if err != nil {
		return err
	}
	var rep *mapping.SyncReport
	job := schedules.MappingSyncJob(ms, client, cfg.Flabs.LabID, func(r *mapping.SyncReport) { rep = r })
	if _, err := runJob(ctx, m, db, schedules.JobMappingSync, job); rep == nil {
		return err
	}
	if *asJSON {
		if err := writeJSON(m.Stdout, rep); err != nil {
			return err
		}
	} else {
		fmt.Fprint(m.Stdout, rep.Text())
	}
	if len(rep.Orphaned) > 0 {
		return &partialError{msg: fmt.Sprintf("mapping sync: %d alias(es) point at targets Flabs no longer lists; fix them with 'flabsync mapping import'", len(rep.Orphaned))}
	}
	return nil
}

func runMappingLookup(ctx context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("mapping lookup", "mapping lookup [--partner P] [--kind test|package] [--json] NAME… (or - to read names from stdin)",
		"For each name: how it maps (alias, catalogue, abbreviation, name-part or none), the Flabs ID sent\n"+
			"and under which key, and for a name that does not map up to 3 catalogue suggestions with a score and a\n"+
			"reason. Suggestions are for people: they are never applied.\n"+
			"Exit 1 when a name does not map.")
	cfgPath := fs.String("config", "", "config file (default $FLABSYNC_CONFIG, else ./flabsync.yaml)")
	partner := fs.String("partner", "", "look up as this partner writes it (its aliases first)")
	kindFlag := fs.String("kind", "test", "the column the name is written in: test or package")
	asJSON := fs.Bool("json", false, "print a JSON list (the stable shape)")
	if err := parse(fs, args); err != nil {
		return err
	}
	kind, ok := mapping.ParseKind(*kindFlag)
	if !ok {
		return usageErrorf("mapping lookup: --kind %q: want test or package", *kindFlag)
	}
	names := fs.Args()
	if len(names) == 1 && names[0] == "-" {
		names = nil
		sc := bufio.NewScanner(m.Stdin)
		for sc.Scan() {
			if s := strings.TrimSpace(sc.Text()); s != "" {
				names = append(names, s)
			}
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("mapping lookup: read names: %w", err)
		}
	}
	if len(names) == 0 {
		return usageErrorf("mapping lookup: name at least one test or package").hint(`flabsync mapping lookup "Vitamin D3" CBC`)
	}
	cfg, db, ms, err := openMapping(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer db.Close()
	ix, note, err := schedules.MappingIndex(ctx, cfg, ms)
	if err != nil {
		return err
	}
	if note != "" {
		fmt.Fprintln(m.Stderr, "note:", note)
	}
	out := make([]mapping.Explained, 0, len(names))
	unmapped := 0
	for _, n := range names {
		r := ix.Explain(*partner, kind, n)
		if !r.Lookup.Mapped() {
			unmapped++
		}
		out = append(out, r)
		if !*asJSON {
			printLookup(m.Stdout, *partner, r.Lookup, r.Suggestions)
		}
	}
	if *asJSON {
		if err := writeJSON(m.Stdout, out); err != nil {
			return err
		}
	}
	if unmapped > 0 {
		return &partialError{msg: fmt.Sprintf("mapping lookup: %d of %d names do not map (they would be sent unmapped)", unmapped, len(names))}
	}
	return nil
}

func printLookup(w io.Writer, partner string, mt mapping.Match, sugg []mapping.ExplainedSuggestion) {
	switch mt.How {
	case mapping.MatchNone:
		fmt.Fprintf(w, "%q  does not map: sent as an unmapped %s\n", mt.Name, mt.Kind)
		if mt.Orphan {
			fmt.Fprintf(w, "    its alias (%s) points at a target no longer in the catalogue: fix it with 'flabsync mapping import'\n", mapping.ScopeLabel(mt.Scope))
		}
		if len(sugg) == 0 {
			fmt.Fprintln(w, "    no catalogue entry looks close")
		}
		for _, s := range sugg {
			fmt.Fprintf(w, "    maybe %.2f  %s (id %s): %s\n", s.Score, s.Name, s.Target, s.Reason)
		}
	case mapping.MatchAlias:
		fmt.Fprintf(w, "%q  → %s %s  %s  (%s alias of %s)\n", mt.Name, mt.TargetKey, mt.Target, mt.Catalogue, mt.Kind, mapping.ScopeLabel(mt.Scope))
	default:
		fmt.Fprintf(w, "%q  → %s %s  %s  (%s %s)\n", mt.Name, mt.TargetKey, mt.Target, mt.Catalogue, mt.Kind, mt.How)
	}
}

func runMappingList(ctx context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("mapping list", "mapping list [--partner P] [--catalogue] [--json]",
		"Lists the mapping table: who maps which name to what, from where, when and by whom. Aliases\n"+
			"whose target is not in the synced catalogue are marked. With --catalogue, lists the synced\n"+
			"catalogue instead.")
	cfgPath := fs.String("config", "", "config file (default $FLABSYNC_CONFIG, else ./flabsync.yaml)")
	partner := fs.String("partner", "", "only this partner's aliases (and the global ones)")
	showCat := fs.Bool("catalogue", false, "list the synced catalogue")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, db, ms, err := openMapping(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer db.Close()
	if *showCat {
		cat, err := ms.Catalogue(ctx)
		if err != nil {
			return err
		}
		info, err := ms.Info(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(m.Stdout, cat)
		}
		if len(cat) == 0 {
			fmt.Fprintln(m.Stdout, "no catalogue synced yet: run 'flabsync mapping sync'")
			return nil
		}
		fmt.Fprintf(m.Stdout, "lab %s (%s), synced %s: %d tests, %d packages\n", info.LabName, info.LabID,
			info.SyncedAt.Local().Format(time.RFC3339), info.Tests, info.Packages)
		tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tID\tCODE\tNAME")
		for _, c := range cat {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Kind, c.ID, c.Code, c.Name)
		}
		return tw.Flush()
	}
	ix, _, err := schedules.MappingIndex(ctx, cfg, ms)
	if err != nil {
		return err
	}
	es, err := ms.Entries(ctx)
	if err != nil {
		return err
	}
	rows := ix.List(es, *partner)
	if *asJSON {
		return writeJSON(m.Stdout, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(m.Stdout, "the mapping table is empty: catalogue names and abbreviations still map; add aliases with 'flabsync mapping import FILE'")
		return nil
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTNER\tKIND\tLOCAL NAME\tSENT AS\tCATALOGUE NAME\tSOURCE\tBY\tWHEN")
	missing := 0
	for _, r := range rows {
		cat := r.CatalogueName
		if r.Missing {
			cat = "!! target not in the catalogue"
			missing++
		}
		scope := r.Scope
		if scope == "" {
			scope = "(all)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s %s\t%s\t%s\t%s\t%s\n", scope, r.Kind, r.LocalName, r.TargetKey, r.Target, cat,
			r.Source, r.CreatedBy, r.CreatedAt.Local().Format("2006-01-02 15:04"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if missing > 0 {
		fmt.Fprintf(m.Stdout, "\n%d alias(es) point at targets not in the synced catalogue: they map to nothing until fixed\n", missing)
	}
	return nil
}

func runMappingImport(ctx context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("mapping import", "mapping import [--dry-run] [--review] [--by NAME] [--json] FILE",
		"Reads a mapping table (CSV or XLSX; columns partner,kind,local_name,id,flabs_id in any order,\n"+
			"other columns ignored — the exception workbook's unmapped sheet imports as it is), checks\n"+
			"every line against the synced catalogue and the config's partners, and applies it in one\n"+
			"transaction, or, if any line is wrong, applies nothing and lists every problem.\n"+
			"Give exactly one of id or flabs_id per line; an empty partner means all partners.\n"+
			"Exit 1 when a line is wrong (nothing applied).")
	cfgPath := fs.String("config", "", "config file (default $FLABSYNC_CONFIG, else ./flabsync.yaml)")
	dry := fs.Bool("dry-run", false, "check only; change nothing")
	by := fs.String("by", "", "who is importing, recorded on each entry (default: the OS user)")
	review := fs.Bool("review", false, "the file is a filled-in review sheet: lines left without id/flabs_id are passed over, the rest recorded with source review")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErrorf("mapping import: name one file").hint("flabsync mapping import mappings.csv")
	}
	path := fs.Arg(0)
	lines, err := mapping.ReadTableFile(path)
	if err != nil {
		return &partialError{msg: "mapping import: " + err.Error()}
	}
	cfg, db, ms, err := openMapping(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer db.Close()
	if info, err := ms.Info(ctx); err != nil {
		return err
	} else if info.Tests+info.Packages == 0 {
		return &partialError{msg: "mapping import: no catalogue synced yet, so no target can be checked; run 'flabsync mapping sync' first"}
	}
	opts := mapping.ImportOptions{By: *by, Now: time.Now(), DryRun: *dry}
	if opts.By == "" {
		opts.By = schedules.Holder()
	}
	if *review {
		opts.Source = mapping.SourceReview
		opts.SkipUnfilled = true
	}
	if len(cfg.Partners) > 0 {
		opts.Partners = sortedKeys(cfg.Partners)
	}
	plan, err := ms.Import(ctx, lines, opts)
	if err != nil {
		return err
	}
	if *asJSON {
		if plan.Problems == nil {
			plan.Problems = []mapping.Problem{}
		}
		if plan.Overrides == nil {
			plan.Overrides = []string{}
		}
		if err := writeJSON(m.Stdout, plan); err != nil {
			return err
		}
	} else {
		w := m.Stdout
		for _, p := range plan.Problems {
			fmt.Fprintln(w, p)
		}
		for _, o := range plan.Overrides {
			fmt.Fprintln(w, "note:", o)
		}
		switch {
		case !plan.OK():
			fmt.Fprintf(w, "%s: %d line(s), %d problem(s): NOTHING APPLIED; fix the lines above and import again\n", path, len(lines), len(plan.Problems))
		case *dry:
			fmt.Fprintf(w, "%s: %d line(s) check out: would add %d, change %d, leave %d as they are (dry run: nothing applied)\n",
				path, len(lines), plan.Added, plan.Changed, plan.Unchanged)
		default:
			fmt.Fprintf(w, "%s: %d line(s) applied: %d added, %d changed, %d already so\n", path, len(lines), plan.Added, plan.Changed, plan.Unchanged)
		}
		if plan.Unfilled > 0 {
			fmt.Fprintf(w, "%d line(s) without an id or flabs_id passed over (still unmapped)\n", plan.Unfilled)
		}
	}
	if !plan.OK() {
		return &partialError{msg: fmt.Sprintf("mapping import: %d problem(s), nothing applied", len(plan.Problems))}
	}
	return nil
}

func runMappingExport(ctx context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("mapping export", "mapping export FILE (.csv or .xlsx; - for CSV on stdout)",
		"Writes the mapping table in the layout 'mapping import' reads: partner,kind,local_name,id,flabs_id.")
	cfgPath := fs.String("config", "", "config file (default $FLABSYNC_CONFIG, else ./flabsync.yaml)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErrorf("mapping export: name one file").hint("flabsync mapping export mappings.xlsx")
	}
	_, db, ms, err := openMapping(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer db.Close()
	es, err := ms.Entries(ctx)
	if err != nil {
		return err
	}
	lines := mapping.Lines(es)
	if fs.Arg(0) == "-" {
		return mapping.WriteTable(m.Stdout, lines)
	}
	if err := mapping.WriteTableFile(fs.Arg(0), lines); err != nil {
		return err
	}
	fmt.Fprintf(m.Stderr, "wrote %d entries to %s\n", len(lines), fs.Arg(0))
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
