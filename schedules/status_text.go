package schedules

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Text is the human form `flabsync status` prints: one line per part,
// the jobs as a table, no patient data.
func (r *Status) Text() string {
	var b strings.Builder
	w := &b
	fmt.Fprintf(w, "database   %s (schema v%d)\n", r.Database, r.SchemaVersion)
	c := r.Catalogue
	if c.SyncedAt == nil {
		fmt.Fprintf(w, "catalogue  none synced yet (flabsync mapping sync); %d aliases\n", c.Aliases)
	} else {
		fmt.Fprintf(w, "catalogue  lab %s (%s): %d tests, %d packages, synced %s; %d aliases\n", c.LabName, c.LabID,
			c.Tests, c.Packages, c.SyncedAt.Local().Format(time.RFC3339), c.Aliases)
	}
	line := func(label string, m map[string]int) {
		fmt.Fprintf(w, "%-10s", label)
		if len(m) == 0 {
			fmt.Fprint(w, " none")
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			fmt.Fprintf(w, " %s %d", k, m[k])
		}
		fmt.Fprintln(w)
	}
	line("files", r.Files)
	line("rows", r.Rows)
	line("bookings", r.Bookings)
	exceptions := make(map[string]int, len(r.Exceptions))
	for c, n := range r.Exceptions {
		exceptions[string(c)] = n
	}
	line("exceptions", exceptions)
	if len(r.Backlog) == 0 {
		fmt.Fprintln(w, "backlog    none")
	}
	for _, b := range r.Backlog {
		fmt.Fprintf(w, "backlog    %s: %d waiting, the oldest for %s\n", b.Partner, b.Waiting,
			(time.Duration(b.OldestSeconds) * time.Second).Round(time.Second))
	}
	fmt.Fprintf(w, "receipts   %d unsent", r.Receipts.Unsent)
	if rc := r.Receipts; rc.Unsent > 0 {
		fmt.Fprintf(w, ", the oldest queued %s ago", time.Since(rc.Oldest).Round(time.Second))
	}
	if n := r.Receipts.GivenUp; n > 0 {
		fmt.Fprintf(w, ", %d given up (every send failed: see the log)", n)
	}
	fmt.Fprintln(w)
	if len(r.Jobs) == 0 {
		fmt.Fprintln(w, "jobs       none run yet")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, j := range r.Jobs {
		took := "running"
		if j.FinishedAt != nil {
			took = j.FinishedAt.Sub(j.StartedAt).Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "job\t%s\t%s\t%s\t%s\t%s\n", j.Job, j.StartedAt.Local().Format(time.RFC3339), j.Status, took, j.Summary)
	}
	tw.Flush()
	for _, l := range r.Leases {
		state := "held"
		if l.Expired {
			state = "expired"
		}
		fmt.Fprintf(w, "lease      %s %s by %s until %s\n", l.Name, state, l.Holder, l.ExpiresAt.Local().Format(time.RFC3339))
	}
	return b.String()
}
