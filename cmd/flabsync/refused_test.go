package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/reconcile/rules"
)

// TestRefusedSheetStaysUntilReplaced is the review's case: a carecity
// sheet with no header row (two patients) is refused on a hand import;
// the next day's good carecity file is another file and leaves the
// refusal open (before, it vanished from the report, its patients never
// booked); the same sheet sent again corrected, as "… (1).csv", closes
// it, and the note names that file.
func TestRefusedSheetStaysUntilReplaced(t *testing.T) {
	t.Parallel() // it waits on child processes, mostly: it runs beside the others
	if testing.Short() {
		t.Skip("runs flabsync as a child process")
	}
	dir, _, _ := sendRig(t, 0, flabstest.Options{LeadSources: []string{"sheet"}})
	write := func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	importFile := func(path string) {
		t.Helper()
		out, _ := child(t, dir, "import", "--no-progress", "--partner", "carecity", path).CombinedOutput()
		t.Logf("import %s:\n%s", filepath.Base(path), out)
	}
	refused := func(status string) []rules.Listed {
		t.Helper()
		if out, err := child(t, dir, "reconcile").CombinedOutput(); err != nil {
			t.Fatalf("reconcile: %v\n%s", err, out)
		}
		out, err := child(t, dir, "exceptions", "list", "--json", "--status", status, "--category", "file_refused").Output()
		if err != nil {
			t.Fatalf("exceptions list: %v\n%s", err, out)
		}
		var l []rules.Listed
		if err := json.Unmarshal(out, &l); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return l
	}
	const header = "Booking ID,Patient Name,Age,Gender,Tests\n"
	importFile(write("carecity_0612.csv", "C1,Asha Rao,30,F,CBC\nC2,Ravi Kumar,41,M,CBC\n"))
	if open := refused("open"); len(open) != 1 {
		t.Fatalf("after the sheet with no header row: %d refused files open, want 1: %+v", len(open), open)
	}
	importFile(write("carecity_0613.csv", header+"D1,Meera Das,52,F,CBC\n"))
	if open := refused("open"); len(open) != 1 || !strings.Contains(open[0].File, "carecity_0612.csv") {
		t.Fatalf("after another good carecity file: open refused files %+v, want carecity_0612.csv still open", open)
	}
	importFile(write("carecity_0612 (1).csv", header+"C1,Asha Rao,30,F,CBC\nC2,Ravi Kumar,41,M,CBC\n"))
	if open := refused("open"); len(open) != 0 {
		t.Fatalf("after the corrected sheet: open refused files %+v, want none", open)
	}
	done := refused("resolved")
	if len(done) != 1 || !strings.HasSuffix(done[0].Detail, "; replaced by carecity_0612 (1).csv") {
		t.Errorf("resolved refused files %+v, want carecity_0612.csv replaced by carecity_0612 (1).csv", done)
	}
}
