package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/reconcile"
	"github.com/flabsync/flabsync/reconcile/report"
	"github.com/flabsync/flabsync/reconcile/rules"
	"github.com/flabsync/flabsync/schedules"
)

func runExceptions(ctx context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("exceptions", "exceptions list|close|snooze|reopen|import [flags] [ID…|FILE.xlsx]",
		"People settle what the nightly report lists. list [--status open|closed|snoozed|resolved|all]\n"+
			"[--category C] [--json]; close ID… --note TEXT [--by NAME]: it stays closed while its facts\n"+
			"stay the same, and comes back as new, with the note, when they change; snooze ID… --until\n"+
			"YYYY-MM-DD --note TEXT: hidden until then; reopen ID…; import FILE.xlsx [--by NAME]: applies the\n"+
			"Action (close, snooze with its day in Snooze until or as snooze YYYY-MM-DD, reopen) and Note\n"+
			"columns people filled in a nightly workbook, each checked against its row's hidden Fingerprint.\n"+
			"close, snooze, reopen and import change everything named or nothing (a problem: exit 2, each\n"+
			"named). Closed and snoozed ones are not counted open.")
	cfgPath := fs.String("config", "", "config file (default $FLABSYNC_CONFIG, else ./flabsync.yaml)")
	status := fs.String("status", "open", "list: open, closed, snoozed, resolved or all")
	category := fs.String("category", "", "list: only this category")
	asJSON := fs.Bool("json", false, "list: print JSON")
	note := fs.String("note", "", "close, snooze: why (required)")
	by := fs.String("by", schedules.Holder(), "close, snooze, import: who")
	until := fs.String("until", "", "snooze: the day it comes back, YYYY-MM-DD in the config's timezone")
	if len(args) == 0 {
		return usageErrorf("exceptions: say list, close, snooze, reopen or import").hint("flabsync exceptions list")
	}
	sub := args[0]
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	cfg, db, err := openConfigStore(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer db.Close()
	ids, now := fs.Args(), time.Now()
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return err
	}
	switch {
	case sub == "list":
		l, err := rules.List(ctx, db, reconcile.Status(*status), reconcile.Category(*category))
		if err != nil {
			return usageErrorf("exceptions list: %v", err)
		} else if *asJSON {
			return writeJSON(m.Stdout, l)
		}
		tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
		for _, e := range l {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.ID, e.Status, orDash(e.Partner), e.Detail, e.Note)
		}
		return tw.Flush()
	case (sub == "close" || sub == "snooze") && *note == "":
		return usageErrorf("exceptions %s: --note is required: say why", sub)
	case sub == "close":
		err = rules.Close(ctx, db, ids, *by, *note, now)
	case sub == "snooze":
		u, perr := time.ParseInLocation(time.DateOnly, *until, loc)
		if perr != nil {
			return usageErrorf("exceptions snooze: --until %q: want a day, YYYY-MM-DD", *until)
		}
		err = rules.Snooze(ctx, db, ids, u, *by, *note, now)
	case sub == "reopen":
		err = rules.Reopen(ctx, db, ids)
	case sub == "import":
		return importDecisions(ctx, m, db, ids, *by, loc, now)
	default:
		return usageErrorf("exceptions: unknown subcommand %q", sub).hint("say list, close, snooze, reopen or import")
	}
	if errors.Is(err, rules.ErrNoException) || (err != nil && len(ids) == 0) {
		return usageErrorf("exceptions %s: %v", sub, err)
	} else if err == nil {
		fmt.Fprintf(m.Stdout, "%s: %d exception(s)\n", sub, len(ids))
	}
	return err
}

// importDecisions applies the Action and Note columns of one workbook.
func importDecisions(ctx context.Context, m *Main, db *store.DB, args []string, by string, loc *time.Location, now time.Time) error {
	if len(args) != 1 {
		return usageErrorf("exceptions import: name one workbook").hint("flabsync exceptions import reports/exceptions-2026-11-30.xlsx")
	}
	ds, err := report.ReadDecisions(args[0], loc)
	if err != nil {
		return usageErrorf("exceptions import: %v", err)
	}
	if len(ds) == 0 {
		fmt.Fprintf(m.Stdout, "import: no Action filled in %s; nothing to do\n", args[0])
		return nil
	}
	if err := rules.Apply(ctx, db, ds, by, now); err != nil {
		return usageErrorf("exceptions import %s: %v", args[0], err)
	}
	n := map[reconcile.Action]int{}
	for _, d := range ds {
		n[d.Action]++
	}
	fmt.Fprintf(m.Stdout, "import: %d closed, %d snoozed, %d reopened (by %s)\n", n[reconcile.ActionClose], n[reconcile.ActionSnooze], n[reconcile.ActionReopen], by)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
