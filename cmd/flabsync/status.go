package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/reconcile/rules"
)

// statusReport is `flabsync status --json`. Keys only ever get added.
type statusReport struct {
	Database      string            `json:"database"`
	SchemaVersion int64             `json:"schema_version"`
	Catalogue     catalogueStatus   `json:"catalogue"`
	Files         map[string]int    `json:"files"`    // by status
	Rows          map[string]int    `json:"rows"`     // sheet rows by outcome
	Bookings      map[string]int    `json:"bookings"` // by ledger state
	Jobs          []jobStatus       `json:"jobs"`     // the last run of each job
	Exceptions    map[string]int    `json:"open_exceptions"`
	Leases        []leaseStatus     `json:"leases"`
	Schedules     map[string]string `json:"schedules,omitempty"`
}

type catalogueStatus struct {
	LabID    string     `json:"lab_id"`
	LabName  string     `json:"lab_name"`
	Tests    int        `json:"tests"`
	Packages int        `json:"packages"`
	SyncedAt *time.Time `json:"synced_at"`
	Aliases  int        `json:"aliases"`
}

type jobStatus struct {
	Job        string     `json:"job"`
	Status     string     `json:"status"`
	Summary    string     `json:"summary"`
	Error      string     `json:"error,omitempty"`
	Holder     string     `json:"holder"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

type leaseStatus struct {
	Name      string    `json:"name"`
	Holder    string    `json:"holder"`
	ExpiresAt time.Time `json:"expires_at"`
	Expired   bool      `json:"expired"`
}

func runStatus(ctx context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("status", "status [--config FILE] [--json]",
		"Opens the configured database (applying pending migrations) and shows: the schema version,\n"+
			"the synced catalogue, files and rows by state, bookings by ledger state, the last run of\n"+
			"each job, open exceptions by category, and who holds which lease.")
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
	rep, err := gatherStatus(ctx, db, cfg)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(m.Stdout, rep)
	}
	printStatus(m.Stdout, rep)
	return nil
}

func gatherStatus(ctx context.Context, db *store.DB, cfg *config.Config) (*statusReport, error) {
	rep := &statusReport{Database: db.String(), Schedules: cfg.Schedules}
	var err error
	if rep.SchemaVersion, err = db.SchemaVersion(ctx); err != nil {
		return nil, err
	}
	ms := mapping.NewStore(db)
	info, err := ms.Info(ctx)
	if err != nil {
		return nil, err
	}
	es, err := ms.Entries(ctx)
	if err != nil {
		return nil, err
	}
	rep.Catalogue = catalogueStatus{LabID: info.LabID, LabName: info.LabName, Tests: info.Tests, Packages: info.Packages, Aliases: len(es)}
	if !info.SyncedAt.IsZero() {
		t := info.SyncedAt
		rep.Catalogue.SyncedAt = &t
	}
	tally, err := ledger.New(db).Tally(ctx)
	if err != nil {
		return nil, err
	}
	rep.Files, rep.Rows, rep.Bookings = tally.Files, tally.Rows, tally.Bookings
	if rep.Exceptions, err = rules.OpenByCategory(ctx, db); err != nil {
		return nil, err
	}
	runs, err := db.LastJobRuns(ctx)
	if err != nil {
		return nil, err
	}
	rep.Jobs = []jobStatus{}
	for _, r := range runs {
		j := jobStatus{Job: r.Job, Status: r.Status, Summary: r.Summary, Error: r.Error, Holder: r.Holder, StartedAt: r.StartedAt.Time}
		if !r.FinishedAt.IsZero() {
			t := r.FinishedAt.Time
			j.FinishedAt = &t
		}
		rep.Jobs = append(rep.Jobs, j)
	}
	leases, err := db.Leases(ctx)
	if err != nil {
		return nil, err
	}
	rep.Leases = []leaseStatus{}
	now := time.Now()
	for _, l := range leases {
		rep.Leases = append(rep.Leases, leaseStatus{Name: l.Name, Holder: l.Holder, ExpiresAt: l.ExpiresAt.Time, Expired: l.ExpiresAt.Before(now)})
	}
	return rep, nil
}

func printStatus(w io.Writer, r *statusReport) {
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
		for _, k := range sortedKeys(m) {
			fmt.Fprintf(w, " %s %d", k, m[k])
		}
		fmt.Fprintln(w)
	}
	line("files", r.Files)
	line("rows", r.Rows)
	line("bookings", r.Bookings)
	line("exceptions", r.Exceptions)
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
}
