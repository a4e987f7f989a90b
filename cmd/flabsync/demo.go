package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flabsync/flabsync/schedules"
)

func runDemo(ctx context.Context, m *Main, args []string) error {
	fset := m.newFlagSet("demo", "demo [--dir DIR]",
		"Runs the whole product in one process, with no config: the built-in Flabs simulator, the\n"+
			"daemon (inbox watcher, submitter, webhook receiver), the sample partner sheets dropped into\n"+
			"the inbox, Flabs' webhooks on an accelerated clock (ten hours a second, some lost, late,\n"+
			"deleted or stalled), then the reconciliation: the exception workbook, the partners' reject\n"+
			"files, the email and the clinics' receipts (written to DIR/outbox). DIR (default ./demo) is\n"+
			"made afresh each run.")
	dir := fset.String("dir", "demo", "workspace directory (recreated)")
	if err := parse(fset, args); err != nil {
		return err
	}
	start := time.Now()
	out := m.Stdout
	d := &schedules.Demo{Dir: *dir, Step: func(n int, r *schedules.DemoResult) {
		switch n {
		case 1:
			fmt.Fprintf(out, "1. Flabs       the built-in simulator on %s (its webhook clock is wound on by the demo)\n", r.SimURL)
		case 2:
			fmt.Fprintf(out, "2. mapping     catalogue of %q synced (%d tests, %d packages); %d aliases imported\n",
				r.Catalogue.LabName, r.Catalogue.Tests, r.Catalogue.Packages, r.Aliases)
		case 3:
			fmt.Fprintf(out, "3. daemon      watching %s; webhooks subscribed at %s; metrics at http://%s/metrics\n",
				r.Config.Inbox.Dir, r.Webhooks, r.Admin)
		case 4:
			fmt.Fprintf(out, "4. inbox       %d sheets dropped in by partner clinics (one of them a PDF)\n", r.Dropped)
		case 5:
			fmt.Fprintf(out, "5. submitted   rows: %s; files: %s\n", mapLine(r.Status.Rows), mapLine(r.Status.Files))
		case 6:
			fmt.Fprintf(out, "6. webhooks    %d events delivered for %d bookings (some were never sent: that is the point)\n",
				r.Events, r.Bookings)
		case 7:
			res := r.Nightly.Result
			var cats []string
			for _, c := range sortedKeys(res.Counts) {
				cats = append(cats, fmt.Sprintf("%s %d", c, res.Total(c)))
			}
			fmt.Fprintf(out, "7. reconciled  as of three days later: %d exceptions (%s)\n", res.New+res.Open, strings.Join(cats, ", "))
		}
	}}
	r, err := d.Run(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nDone in %s. Where to look:\n", time.Since(start).Round(100*time.Millisecond))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  %s\tthe exception workbook (Summary, a sheet per problem, Unmapped to fill in)\n", r.Nightly.Workbook)
	for _, p := range r.Nightly.Rejects {
		fmt.Fprintf(tw, "  %s\trows sent back to the clinic, with the reason\n", p)
	}
	fmt.Fprintf(tw, "  %s\tthe email ops would get (with --email and mail.* set)\n", r.Digest)
	if r.Receipts > 0 {
		fmt.Fprintf(tw, "  %s\t%d receipts the clinics would get (partners.<name>.email), rejected rows attached\n",
			filepath.Join(r.Outbox, "receipt-*"), r.Receipts)
	}
	fmt.Fprintf(tw, "  %s\tfiles done (and %s: refused, each with a .error.txt)\n", r.Config.Inbox.ArchiveDir, r.Config.Inbox.ErrorDir)
	fmt.Fprintf(tw, "  flabsync status --config %s\tfiles, rows, bookings, jobs, exceptions\n", r.StatusFile)
	tw.Flush()
	if r.DoubleBooked != 0 {
		return &partialError{msg: fmt.Sprintf("demo: %d bookings were made twice in the simulator", r.DoubleBooked)}
	}
	return nil
}

func mapLine(m map[string]int) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
