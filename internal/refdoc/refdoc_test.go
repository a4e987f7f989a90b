package refdoc

import (
	"flag"
	"strings"
	"testing"
)

// A default taken from the machine is described, not shown, so the page
// is the same wherever `make docs` runs; a pipe in help text is escaped.
func TestCommandsMarkdownFlagTable(t *testing.T) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.String("name", "build-host-7", "this process's `NAME`")
	fs.Bool("json", false, "print a|b")
	page, err := CommandsMarkdown(Commands{ExitOK: 0, ExitPartial: 1, ExitUsage: 2,
		Commands:        []Command{{Words: []string{"serve"}, Summary: "run as a daemon", Flags: fs, Synopsis: "serve [--name NAME]", Description: "Runs."}},
		MachineDefaults: []MachineDefault{{Value: "", Says: "never"}, {Value: "build-host-7", Says: "this machine's host name"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| [`serve`](#flabsync-serve) | run as a daemon |\n",
		"| `--name NAME` | this machine's host name | this process's NAME |",
		"| `--json` | `false` | print a\\|b |",
	} {
		if !strings.Contains(string(page), want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(string(page), "build-host-7") {
		t.Errorf("page shows the machine's host name:\n%s", page)
	}
	if _, err := CommandsMarkdown(Commands{Commands: []Command{{Words: []string{"mute"}}}}); err == nil {
		t.Error("a command with no flag set that prints nothing was documented")
	}
}

// The default schedule is data from schedules, listed in job order.
func TestConfigKeysMarkdownSchedule(t *testing.T) {
	page, err := ConfigKeysMarkdown(map[string]string{"reconcile": "0 2 * * *", "mapping_sync": "0 1 * * *"})
	if err != nil {
		t.Fatal(err)
	}
	want := "| job | default |\n|---|---|\n| `mapping_sync` | `0 1 * * *` |\n| `reconcile` | `0 2 * * *` |\n"
	if !strings.Contains(string(page), want) {
		t.Errorf("page lacks the schedule table %q:\n%s", want, page)
	}
}
