package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/pipeline"
	"github.com/flabsync/flabsync/pipeline/inbox"
	"github.com/flabsync/flabsync/schedules"
)

// TestOnePartnerRuleForBothDoors: care-city_0612.csv is care-city's
// whether it is imported by hand or dropped in the inbox (it was "care"
// in the inbox, so a corrected re-export dropped after a hand import
// booked every row again under new integrator IDs); and a
// partners.<name>.pattern wins at both doors.
func TestOnePartnerRuleForBothDoors(t *testing.T) {
	const name = "care-city_0612.csv"
	sheet := "Booking ID,Patient Name,Age,Gender,Tests\nCC-1,Asha Rao,34,F,CBC\n"

	// By hand.
	code, out, stderr := run(t, map[string]string{name: sheet}, "import", "--dry-run", name)
	if code != ExitOK || !strings.Contains(out, "(partner care-city,") {
		t.Fatalf("import --dry-run: exit %d\n%s%s", code, out, stderr)
	}

	// In the inbox, wired as serve wires it.
	inboxPartner := func(cfg *config.Config) string {
		t.Helper()
		root := t.TempDir()
		in, err := inbox.New(inbox.Config{Dir: filepath.Join(root, "in"), ArchiveDir: filepath.Join(root, "a"), ErrorDir: filepath.Join(root, "e"),
			Settle: time.Nanosecond, Partner: schedules.PartnerByPattern(cfg)})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, "in", name)
		os.WriteFile(p, []byte(sheet), 0o600)
		old := time.Now().Add(-time.Hour)
		os.Chtimes(p, old, old)
		in.Take(context.Background())
		got, err := in.Take(context.Background())
		if err != nil || len(got) != 1 {
			t.Fatalf("took %v, %v", got, err)
		}
		return got[0].Partner
	}
	cfg := config.Default()
	if got := inboxPartner(&cfg); got != "care-city" || got != pipeline.PartnerOf(name) {
		t.Errorf("inbox: partner %q, want care-city", got)
	}

	// A pattern wins at both doors.
	cfg.Partners = map[string]config.Partner{"citycare": {Pattern: "care-city_*.csv", LeadSource: "sheet"}}
	if got := inboxPartner(&cfg); got != "citycare" {
		t.Errorf("inbox with a pattern: partner %q, want citycare", got)
	}
	code, out, stderr = run(t, map[string]string{name: sheet, "flabsync.yaml": "partners:\n  citycare:\n    pattern: \"care-city_*.csv\"\n"},
		"import", "--dry-run", "--config", "flabsync.yaml", name)
	if code != ExitOK || !strings.Contains(out, "(partner citycare,") {
		t.Errorf("import --dry-run with a pattern: exit %d\n%s%s", code, out, stderr)
	}
}
