package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

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
	sim := flabstest.New(flabstest.Options{Webhooks: flabstest.WebhookOptions{Manual: true}})
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
	labs, err := client.Labs(ctx)
	if err != nil || len(labs) == 0 {
		return fmt.Errorf("demo: list labs: %v", err)
	}
	tests, err := client.Tests(ctx, labs[0].ID)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	pkgs, err := client.Packages(ctx, labs[0].ID)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(out, "3. catalogue  lab %q: %d tests, %d packages\n", labs[0].Name, len(tests), len(pkgs))

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
	fmt.Fprintf(out, "4. booking    %s → preBookingID %s\n", req.IntegratorID, resp.PreBookingID)
	_, err = client.CreateBilling(ctx, req)
	fmt.Fprintf(out, "5. resend     same integrator_id → %s (class %s): never booked twice\n", errSummary(err), flabs.ClassOf(err))
	if n := len(sim.DoubleBooked()); n != 0 {
		return &partialError{msg: fmt.Sprintf("demo: %d double bookings in the simulator", n)}
	}
	fmt.Fprintf(out, "done in %s. Next: sheets, mapping and submission arrive with their issues (see README).\n",
		time.Since(start).Round(time.Millisecond))
	return nil
}

func errSummary(err error) string {
	if fe, ok := err.(*flabs.Error); ok {
		return fmt.Sprintf("%d %q", fe.Status, fe.Message)
	}
	return fmt.Sprint(err)
}
