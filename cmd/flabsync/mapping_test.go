package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/flabsync/flabsync/fixtures"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
)

// loadSampleCatalogue returns the sample catalogue the simulator serves.
func loadSampleCatalogue(t *testing.T) *fixtures.Catalogue {
	t.Helper()
	c, err := fixtures.LoadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// catalogueID returns the ID of the sample catalogue entry named name.
func catalogueID(t *testing.T, name string) string {
	t.Helper()
	c := loadSampleCatalogue(t)
	for _, it := range slices.Concat(c.Tests, c.Packages) {
		if it.Name == name {
			return it.ID
		}
	}
	t.Fatalf("no catalogue entry named %q", name)
	return ""
}

// startMappingSim starts a Flabs simulator serving the sample catalogue, or the
// given tests instead of the sample ones, and returns its URL.
func startMappingSim(t *testing.T, tests []flabs.CatalogueItem) string {
	t.Helper()
	c := loadSampleCatalogue(t)
	if tests == nil {
		tests = c.Tests
	}
	srv := flabstest.NewTestServer(t, flabstest.Options{Labs: []flabs.Lab{c.Lab}, Tests: tests, Packages: c.Packages})
	return srv.URL()
}

// mappingEnv is one flabsync installation: a config file and a SQLite
// database in a directory of their own.
type mappingEnv struct {
	dir string
	cfg string
}

func newMappingEnv(t *testing.T, flabsURL string) *mappingEnv {
	t.Helper()
	e := &mappingEnv{dir: t.TempDir()}
	e.cfg = filepath.Join(e.dir, "flabsync.yaml")
	e.pointAt(t, flabsURL)
	return e
}

// pointAt (re)writes the config to use the Flabs at url, keeping the
// database.
func (e *mappingEnv) pointAt(t *testing.T, url string) {
	t.Helper()
	cfg := fmt.Sprintf(`database: sqlite:%s
flabs:
  base_url: %s
  client_id: %s
  client_secret: %s
partners:
  sunrise: {}
  metro: {}
  apollo: {}
`, filepath.Join(e.dir, "flabsync.db"), url, flabstest.DefaultClientID, flabstest.DefaultClientSecret)
	if err := os.WriteFile(e.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// write puts a file in the env's directory and returns its path.
func (e *mappingEnv) write(t *testing.T, name string, body []byte) string {
	t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// path returns the path of name in the env's directory.
func (e *mappingEnv) path(name string) string { return filepath.Join(e.dir, name) }

// mapping runs `flabsync mapping SUB --config CFG ARGS…`.
func (e *mappingEnv) mapping(t *testing.T, sub string, args ...string) (int, string, string) {
	t.Helper()
	return run(t, nil, append([]string{"mapping", sub, "--config", e.cfg}, args...)...)
}

// must runs a mapping subcommand that has to exit with code.
func (e *mappingEnv) must(t *testing.T, code int, sub string, args ...string) string {
	t.Helper()
	got, stdout, stderr := e.mapping(t, sub, args...)
	if got != code {
		t.Fatalf("mapping %s %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", sub, args, got, code, stdout, stderr)
	}
	return stdout
}

// syncedEnv returns an env on a fresh simulator with the catalogue synced
// and, if withTable, the fixture mapping table imported.
func syncedEnv(t *testing.T, withTable bool) *mappingEnv {
	t.Helper()
	e := newMappingEnv(t, startMappingSim(t, nil))
	e.must(t, ExitOK, "sync")
	if withTable {
		e.must(t, ExitOK, "import", e.write(t, "mappings.csv", fixtures.Mappings()))
	}
	return e
}

type mappingStep struct {
	name    string
	sub     string
	args    []string
	code    int
	stdout  []string // must appear
	without []string // must not appear
	stderr  []string
}

func (s mappingStep) check(t *testing.T, e *mappingEnv) {
	t.Helper()
	code, stdout, stderr := e.mapping(t, s.sub, s.args...)
	if code != s.code {
		t.Errorf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", s.name, code, s.code, stdout, stderr)
	}
	for _, w := range s.stdout {
		if !strings.Contains(stdout, w) {
			t.Errorf("%s: stdout lacks %q:\n%s", s.name, w, stdout)
		}
	}
	for _, w := range s.without {
		if strings.Contains(stdout, w) {
			t.Errorf("%s: stdout has %q:\n%s", s.name, w, stdout)
		}
	}
	for _, w := range s.stderr {
		if !strings.Contains(stderr, w) {
			t.Errorf("%s: stderr lacks %q:\n%s", s.name, w, stderr)
		}
	}
	if strings.Contains(stderr, "goroutine ") {
		t.Errorf("%s: stack trace printed:\n%s", s.name, stderr)
	}
}

// What an operator does on day one: sync the catalogue, import the
// table, import it again (nothing changes), then look names up.
func TestMappingSyncImportLookup(t *testing.T) {
	e := newMappingEnv(t, startMappingSim(t, nil))
	table := e.write(t, "mappings.csv", fixtures.Mappings())
	b12 := catalogueID(t, "Vitamin B12")
	lab := loadSampleCatalogue(t).Lab
	for _, s := range []mappingStep{
		{name: "first sync", sub: "sync", code: ExitOK,
			stdout:  []string{fmt.Sprintf("lab %s (%s): 64 tests, 7 packages", lab.Name, lab.ID), "added: 71", "removed: 0", "renamed: 0"},
			without: []string{"VANISHED"}},
		{name: "second sync changes nothing", sub: "sync", code: ExitOK,
			stdout: []string{"64 tests, 7 packages", "added: 0", "removed: 0", "renamed: 0"}},
		{name: "import", sub: "import", args: []string{table}, code: ExitOK,
			stdout: []string{"24 line(s) applied: 24 added, 0 changed, 0 already so"}},
		{name: "same import again", sub: "import", args: []string{table}, code: ExitOK,
			stdout: []string{"0 added, 0 changed, 24 already so"}},
		{name: "lookup through a partner alias", sub: "lookup", args: []string{"--partner", "sunrise", "vit b12"}, code: ExitOK,
			stdout: []string{`"vit b12"  → id ` + b12 + "  Vitamin B12  (test alias of partner sunrise)"}},
		{name: "another partner's alias does not apply", sub: "lookup", args: []string{"--partner", "metro", "vit b12"}, code: ExitPartial,
			stdout: []string{`"vit b12"  does not map`}, stderr: []string{"1 of 1 names do not map"}},
		{name: "global alias", sub: "lookup", args: []string{"--partner", "metro", "Vitamin B-12"}, code: ExitOK,
			stdout: []string{"Vitamin B12  (test alias of all partners)"}},
		{name: "list", sub: "list", code: ExitOK,
			stdout: []string{"LOCAL NAME", "vit b12", "Vitamin B12"}, without: []string{"not in the catalogue"}},
	} {
		s.check(t, e)
	}
}

// `mapping lookup --json` is a stable shape scripts rely on.
func TestMappingLookupJSON(t *testing.T) {
	e := syncedEnv(t, true)
	code, stdout, stderr := e.mapping(t, "lookup", "--json", "--partner", "sunrise", "vit b12", "CBC", "Trop T", "Complete Blood Count (CBC)")
	if code != ExitPartial {
		t.Errorf("exit %d, want %d (Trop T does not map)\nstderr:\n%s", code, ExitPartial, stderr)
	}
	if !strings.Contains(stderr, "1 of 4 names do not map") {
		t.Errorf("stderr does not count the unmapped name:\n%s", stderr)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("stdout is not a JSON list of objects: %v\n%s", err, stdout)
	}
	cbc, trop := catalogueID(t, "Complete Blood Count (CBC)"), catalogueID(t, "Troponin I")
	want := []struct {
		name, match, target, key string
	}{
		{"vit b12", "alias", catalogueID(t, "Vitamin B12"), "id"},
		{"CBC", "abbreviation", cbc, "id"},
		{"Trop T", "none", "", ""},
		{"Complete Blood Count (CBC)", "catalogue", cbc, "id"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d objects, want %d:\n%s", len(got), len(want), stdout)
	}
	keys := func(m map[string]any) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return ks
	}
	objKeys := []string{"key", "kind", "match", "name", "suggestions", "target"}
	suggKeys := []string{"name", "reason", "score", "target"}
	for i, w := range want {
		o := got[i]
		if ks := keys(o); !slices.Equal(ks, objKeys) {
			t.Errorf("%q: keys %v, want %v", w.name, ks, objKeys)
		}
		if o["name"] != w.name || o["kind"] != "test" || o["match"] != w.match || o["target"] != w.target || o["key"] != w.key {
			t.Errorf("%q: got name=%v kind=%v match=%v target=%v key=%v; want match=%s target=%q key=%q",
				w.name, o["name"], o["kind"], o["match"], o["target"], o["key"], w.match, w.target, w.key)
		}
		sugg, ok := o["suggestions"].([]any)
		if !ok {
			t.Errorf("%q: suggestions = %#v, want a list (never null)", w.name, o["suggestions"])
			continue
		}
		if w.match != "none" && len(sugg) != 0 {
			t.Errorf("%q maps, yet has suggestions %v", w.name, sugg)
		}
		for _, s := range sugg {
			sm, ok := s.(map[string]any)
			if !ok {
				t.Errorf("%q: suggestion %#v is not an object", w.name, s)
				continue
			}
			if ks := keys(sm); !slices.Equal(ks, suggKeys) {
				t.Errorf("%q: suggestion keys %v, want %v", w.name, ks, suggKeys)
			}
			if _, ok := sm["score"].(float64); !ok {
				t.Errorf("%q: suggestion score %#v is not a number", w.name, sm["score"])
			}
			if w.name == "Trop T" {
				// Troponin T is not Troponin I: a suggestion may point
				// there, but must warn.
				if r, _ := sm["reason"].(string); !strings.Contains(r, "CAUTION") {
					t.Errorf("Trop T suggests %v (%v) without CAUTION: %q", sm["name"], sm["target"], r)
				}
			}
		}
	}
	if got[2]["target"] == trop {
		t.Error("Trop T maps to Troponin I")
	}
}

// An import with any bad line applies nothing, and says which row.
func TestMappingImportAllOrNothing(t *testing.T) {
	hb := catalogueID(t, "Haemoglobin (Hb)")
	esr := catalogueID(t, "Erythrocyte Sedimentation Rate (ESR)")
	tests := []struct {
		name   string
		csv    string
		stdout []string
	}{
		{"unknown id",
			"partner,kind,local_name,id,flabs_id\n" +
				",test,Hb Good One," + hb + ",\n" +
				"sunrise,test,ESR Good Two," + esr + ",\n" +
				",test,Mystery Test,64f0000000000000000000ff,\n",
			[]string{"row 4: id \"64f0000000000000000000ff\"", "no test in the catalogue has this id"}},
		{"unknown partner",
			"partner,kind,local_name,id,flabs_id\n" +
				",test,Hb Good One," + hb + ",\n" +
				"sunrise,test,ESR Good Two," + esr + ",\n" +
				"sunrsie,test,Hb Typo Partner," + hb + ",\n",
			[]string{`row 4: partner "sunrsie": not a partner in the config (known: apollo, metro, sunrise)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := syncedEnv(t, true)
			before := e.must(t, ExitOK, "export", "-")
			if n := strings.Count(before, "\n"); n != 25 {
				t.Fatalf("export before has %d lines, want the header and 24:\n%s", n, before)
			}
			code, stdout, stderr := e.mapping(t, "import", e.write(t, "bad.csv", []byte(tt.csv)))
			if code != ExitPartial {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitPartial, stdout, stderr)
			}
			for _, w := range append(tt.stdout, "3 line(s), 1 problem(s): NOTHING APPLIED") {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			for _, good := range []string{"row 2", "row 3"} {
				if strings.Contains(stdout, good) {
					t.Errorf("a good line is reported as a problem (%s):\n%s", good, stdout)
				}
			}
			after := e.must(t, ExitOK, "export", "-")
			if after != before {
				t.Errorf("the table changed although nothing was to be applied:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			for _, name := range []string{"Hb Good One", "ESR Good Two"} {
				if strings.Contains(after, name) {
					t.Errorf("%q was applied", name)
				}
			}
		})
	}
}

// Without a synced catalogue no target can be checked, so import refuses
// and says what to do.
func TestMappingImportBeforeSync(t *testing.T) {
	for _, tt := range []struct {
		name  string
		flabs bool
	}{
		{"flabs configured", true},
		{"no config at all", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"mapping", "import"}
			if tt.flabs {
				e := newMappingEnv(t, startMappingSim(t, nil))
				args = append(args, "--config", e.cfg)
			}
			args = append(args, "mappings.csv")
			code, stdout, stderr := run(t, map[string]string{"mappings.csv": string(fixtures.Mappings())}, args...)
			if code != ExitPartial {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitPartial, stdout, stderr)
			}
			if !strings.Contains(stderr, "run 'flabsync mapping sync' first") {
				t.Errorf("stderr does not say to sync first:\n%s", stderr)
			}
			if strings.Contains(stdout, "applied") {
				t.Errorf("stdout claims something was applied:\n%s", stdout)
			}
		})
	}
}

// What export writes, import reads back: the same table in a new
// database.
func TestMappingExportRoundTrip(t *testing.T) {
	for _, format := range []string{"xlsx", "csv"} {
		t.Run(format, func(t *testing.T) {
			a := syncedEnv(t, true)
			out := a.path("out." + format)
			_, _, stderr := run(t, nil, "mapping", "export", "--config", a.cfg, out)
			if !strings.Contains(stderr, "wrote 24 entries") {
				t.Errorf("export stderr: %s", stderr)
			}
			want := a.must(t, ExitOK, "export", "-")

			b := syncedEnv(t, false)
			b.importMatches(t, out, want)
		})
	}
}

// importMatches imports file and checks the table then exports as want.
func (e *mappingEnv) importMatches(t *testing.T, file, want string) {
	t.Helper()
	stdout := e.must(t, ExitOK, "import", file)
	if !strings.Contains(stdout, "24 added, 0 changed, 0 already so") {
		t.Errorf("import of the export: %s", stdout)
	}
	if got := e.must(t, ExitOK, "export", "-"); got != want {
		t.Errorf("the table did not survive the round trip:\ngot:\n%s\nwant:\n%s", got, want)
	}
}

// When Flabs drops a test that aliases point at, sync says which aliases
// lost their target, exits 1, and list marks them.
func TestMappingSyncFlagsVanishedTarget(t *testing.T) {
	e := syncedEnv(t, true)
	var fewer []flabs.CatalogueItem
	for _, it := range loadSampleCatalogue(t).Tests {
		if it.Code != "VITB12" {
			fewer = append(fewer, it)
		}
	}
	if len(fewer) != 63 {
		t.Fatalf("%d tests left, want 63", len(fewer))
	}
	e.pointAt(t, startMappingSim(t, fewer))
	b12 := catalogueID(t, "Vitamin B12")

	code, stdout, stderr := e.mapping(t, "sync")
	if code != ExitPartial {
		t.Errorf("sync: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitPartial, stdout, stderr)
	}
	for _, w := range []string{"63 tests, 7 packages", "added: 0", "removed: 1", "test    " + b12 + "  Vitamin B12", "ALIASES WHOSE TARGET VANISHED: 2"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("sync stdout lacks %q:\n%s", w, stdout)
		}
	}
	_, vanished, _ := strings.Cut(stdout, "ALIASES WHOSE TARGET VANISHED")
	for _, alias := range []string{`"Vitamin B-12" → id ` + b12, `"vit b12" → id ` + b12} {
		if !strings.Contains(vanished, alias) {
			t.Errorf("the vanished-target section lacks %s:\n%s", alias, vanished)
		}
	}
	if strings.Contains(vanished, "Vit D") {
		t.Errorf("an alias with a live target is listed as vanished:\n%s", vanished)
	}
	if !strings.Contains(stderr, "2 alias(es) point at targets Flabs no longer lists") {
		t.Errorf("sync stderr: %s", stderr)
	}

	list := e.must(t, ExitOK, "list")
	marked := 0
	for _, line := range strings.Split(list, "\n") {
		isB12 := strings.Contains(line, "Vitamin B-12") || strings.Contains(line, "vit b12")
		isMarked := strings.Contains(line, "target not in the catalogue")
		if isB12 != isMarked {
			t.Errorf("list line marked=%v, want %v: %s", isMarked, isB12, line)
		}
		if isMarked {
			marked++
		}
	}
	if marked != 2 || !strings.Contains(list, "2 alias(es) point at targets not in the synced catalogue") {
		t.Errorf("list marks %d aliases, want 2:\n%s", marked, list)
	}

	// Importing the old table again is refused: its two B12 lines name a
	// target the catalogue no longer has.
	mappingStep{name: "import of the old table", sub: "import", args: []string{e.path("mappings.csv")}, code: ExitPartial,
		stdout: []string{"row 12: id", "row 22: id", "24 line(s), 2 problem(s): NOTHING APPLIED"}}.check(t, e)

	// Sync promised "these names are now sent unmapped".
	t.Run("orphaned aliases no longer map", func(t *testing.T) {
		for _, s := range []mappingStep{
			{name: "partner alias", sub: "lookup", args: []string{"--partner", "sunrise", "vit b12"}, code: ExitPartial,
				stdout: []string{`"vit b12"  does not map`}},
			{name: "global alias", sub: "lookup", args: []string{"Vitamin B-12"}, code: ExitPartial,
				stdout: []string{`"Vitamin B-12"  does not map`}},
		} {
			s.check(t, e)
		}
	})
}

// Calling it wrong exits 2 and says how; -h exits 0.
func TestMappingUsage(t *testing.T) {
	for _, tt := range []struct {
		args   []string
		code   int
		stderr []string
	}{
		{[]string{"mapping"}, ExitUsage, []string{"Subcommands:", "say which subcommand"}},
		{[]string{"mapping", "frob"}, ExitUsage, []string{`unknown subcommand "frob"`, "flabsync mapping -h"}},
		{[]string{"mapping", "lookup"}, ExitUsage, []string{"name at least one test or package"}},
		{[]string{"mapping", "lookup", "--kind", "profile", "X"}, ExitUsage, []string{`--kind "profile": want test or package`}},
		{[]string{"mapping", "import"}, ExitUsage, []string{"name one file"}},
		{[]string{"mapping", "import", "a.csv", "b.csv"}, ExitUsage, []string{"name one file"}},
		{[]string{"mapping", "export"}, ExitUsage, []string{"name one file"}},
		{[]string{"mapping", "sync", "extra"}, ExitUsage, []string{"takes no arguments"}},
		{[]string{"mapping", "lookup", "--nope", "X"}, ExitUsage, []string{"-nope"}},
		{[]string{"mapping", "-h"}, ExitOK, []string{"Subcommands:", "lookup", "import"}},
		{[]string{"mapping", "lookup", "-h"}, ExitOK, []string{"Usage: flabsync mapping lookup", "-partner"}},
		{[]string{"mapping", "import", "-h"}, ExitOK, []string{"Usage: flabsync mapping import", "applies nothing"}},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := run(t, nil, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			for _, w := range tt.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if _, err := os.Stat("flabsync.db"); err == nil {
				t.Error("a usage error created a database")
			}
		})
	}
}
