package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flabsync/flabsync/fixtures"
	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/pipeline"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/internal/store"
)

func runDemo(ctx context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("demo", "demo [--dir DIR]",
		"Runs flabsync end to end against the built-in Flabs simulator in one process, with no config:\n"+
			"a workspace in DIR (default ./demo) holding the SQLite database. What it shows grows with\n"+
			"the product; today: the store, the Flabs client and the simulator working together.")
	dir := fs.String("dir", "demo", "workspace directory")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return fmt.Errorf("demo: workspace: %w", err)
	}
	start := time.Now()
	out := m.Stdout

	dbPath := filepath.Join(*dir, "flabsync.db")
	db, err := store.Open(ctx, "sqlite:"+dbPath)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer db.Close()
	ver, err := db.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(out, "1. database   %s ready (SQLite, schema v%d)\n", dbPath, ver)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo: simulator: %w", err)
	}
	simOpts := flabstest.Options{Webhooks: flabstest.WebhookOptions{Manual: true}}
	if err := sampleSimCatalogue(&simOpts); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	sim := flabstest.New(simOpts)
	defer sim.Close()
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "2. simulator  Flabs simulator on %s (client demo/demo)\n", base)

	client, err := flabs.NewClient(flabs.Config{BaseURL: base, ClientID: flabstest.DefaultClientID, ClientSecret: flabstest.DefaultClientSecret})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	ms := mapping.NewStore(db)
	rep, err := ms.Sync(ctx, client, "", time.Now())
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(out, "3. catalogue  lab %q synced: %d tests, %d packages (%d new, %d removed, %d renamed)\n",
		rep.LabName, rep.Tests, rep.Packages, len(rep.Added), len(rep.Removed), len(rep.Renamed))

	lines, err := mapping.ReadTable(bytes.NewReader(fixtures.Mappings()))
	if err != nil {
		return fmt.Errorf("demo: mapping table: %w", err)
	}
	plan, err := ms.Import(ctx, lines, mapping.ImportOptions{By: "demo", Now: time.Now()})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if !plan.OK() {
		return fmt.Errorf("demo: the sample mapping table does not import: %v", plan.Problems[0])
	}
	fmt.Fprintf(out, "4. mapping    starting table imported: %d aliases added, %d already there\n", plan.Added, plan.Unchanged)

	if err := demoSheets(ctx, m, ms, *dir); err != nil {
		return err
	}
	labs := []flabs.Lab{{ID: rep.LabID, Name: rep.LabName}}
	cat, err := ms.Catalogue(ctx)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	tests := cat[:1] // tests sort before packages
	req := &flabs.BillingRequest{
		LabID:          labs[0].ID,
		PatientDetails: flabs.PatientDetails{FirstName: "Demo", Gender: flabs.GenderFemale, Age: 34, AgeType: flabs.AgeYear},
		IntegratorID:   "demo-0001", LeadSource: "demo",
		MappedTests:   []flabs.MappedTest{{ID: tests[0].ID}},
		UnmappedTests: []string{"Vitamin D3 (25-OH)"},
	}
	resp, err := client.CreateBilling(ctx, req)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(out, "6. booking    %s → preBookingID %s\n", req.IntegratorID, resp.PreBookingID)
	_, err = client.CreateBilling(ctx, req)
	fmt.Fprintf(out, "7. resend     same integrator_id → %s (class %s): never booked twice\n", errSummary(err), flabs.ClassOf(err))
	if n := len(sim.DoubleBooked()); n != 0 {
		return &partialError{msg: fmt.Sprintf("demo: %d double bookings in the simulator", n)}
	}
	fmt.Fprintf(out, "done in %s. Next: submitting every sheet's bookings arrives with the submitter (see README).\n",
		time.Since(start).Round(time.Millisecond))
	return nil
}

func errSummary(err error) string {
	if fe, ok := err.(*flabs.Error); ok {
		return fmt.Sprintf("%d %q", fe.Status, fe.Message)
	}
	return fmt.Sprint(err)
}

// demoSheets drops the sample sheets into the demo's inbox and reads each
// one as a dry run would, mapping with the stored table: rows accepted and
// rejected, names mapped, and what does not map with its best suggestion.
func demoSheets(ctx context.Context, m *Main, ms *mapping.Store, dir string) error {
	out := m.Stdout
	inbox := filepath.Join(dir, "inbox")
	if err := os.MkdirAll(inbox, 0o755); err != nil {
		return fmt.Errorf("demo: inbox: %w", err)
	}
	ents, err := fs.ReadDir(fixtures.Sheets, "sheets")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	ix, err := ms.Index(ctx)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	cfg := config.Default()
	fmt.Fprintf(out, "5. sheets     %d sample sheets in %s, read and mapped (nothing sent yet):\n", len(ents), inbox)
	unmapped := map[string]bool{}
	var names []string
	for _, e := range ents {
		b, err := fixtures.Sheets.ReadFile("sheets/" + e.Name())
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		path := filepath.Join(inbox, e.Name())
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		partner := pipeline.PartnerOf(path)
		opts := readOptions(&cfg, partner)
		opts.Mapper = ix
		res, err := pipeline.ReadFile(ctx, path, opts)
		if err != nil {
			fmt.Fprintf(out, "   %-24s NOT READ: %v\n", e.Name(), err)
			continue
		}
		var mapped, none int
		for _, a := range res.Accepted {
			for _, mt := range a.Matches {
				if mt.Mapped() {
					mapped++
					continue
				}
				none++
				if key := partner + "\x00" + mt.Name; !unmapped[key] {
					unmapped[key] = true
					names = append(names, partner+"\x00"+string(mt.Kind)+"\x00"+mt.Name)
				}
			}
		}
		fmt.Fprintf(out, "   %-24s %3d bookings, %2d rows rejected; %3d names mapped, %d unmapped\n",
			e.Name(), len(res.Accepted), len(res.Rejected), mapped, none)
	}
	if len(names) > 0 {
		fmt.Fprintln(out, "   unmapped names go to Flabs as unmapped tests (Flabs staff map them); for ops, suggestions only:")
	}
	for _, n := range names {
		parts := strings.SplitN(n, "\x00", 3)
		sugg := ix.Suggest(mapping.Kind(parts[1]), parts[2])
		best := "no close catalogue entry"
		if len(sugg) > 0 {
			best = fmt.Sprintf("%s? (%.2f: %s)", sugg[0].Name, sugg[0].Score, sugg[0].Reason)
		}
		fmt.Fprintf(out, "     %-10s %-20q → %s\n", parts[0], parts[2], best)
	}
	return nil
}
