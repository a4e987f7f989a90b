package mapping_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flabsync/flabsync/fixtures"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/mapping"
)

var now = time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)

// sim starts a simulator serving the sample catalogue (or the given one)
// and returns a client for it.
func sim(t *testing.T, tests, pkgs []flabs.CatalogueItem) *flabs.Client {
	t.Helper()
	c, err := fixtures.LoadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	if tests == nil {
		tests = c.Tests
	}
	if pkgs == nil {
		pkgs = c.Packages
	}
	srv := flabstest.NewTestServer(t, flabstest.Options{Labs: []flabs.Lab{c.Lab}, Tests: tests, Packages: pkgs})
	cl, err := flabs.NewClient(flabs.Config{BaseURL: srv.URL(), ClientID: flabstest.DefaultClientID, ClientSecret: flabstest.DefaultClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func syncSample(t *testing.T, ms *mapping.Store) *mapping.SyncReport {
	t.Helper()
	rep, err := ms.Sync(context.Background(), sim(t, nil, nil), "", now)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func importSample(t *testing.T, ms *mapping.Store) *mapping.Plan {
	t.Helper()
	lines, err := mapping.ReadTable(bytes.NewReader(fixtures.Mappings()))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := ms.Import(context.Background(), lines, mapping.ImportOptions{By: "test", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if !plan.OK() {
		t.Fatalf("the fixture table does not import: %v", plan.Problems)
	}
	return plan
}

func TestSyncThenLookupThroughTheStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ms := mapping.NewStore(db)
		rep := syncSample(t, ms)
		if rep.Tests < 50 || rep.Packages < 5 || len(rep.Added) != rep.Tests+rep.Packages {
			t.Fatalf("first sync: %d tests, %d packages, %d added", rep.Tests, rep.Packages, len(rep.Added))
		}
		plan := importSample(t, ms)
		if plan.Added < 20 {
			t.Fatalf("imported %d entries", plan.Added)
		}
		ix, err := ms.Index(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			partner, name, how, catalogue string
		}{
			{"sunrise", "vit b12", mapping.MatchAlias, "Vitamin B12"},                       // the partner's own alias
			{"metro", "vit b12", mapping.MatchNone, ""},                                     // not another partner's
			{"metro", "Vitamin B-12", mapping.MatchAlias, "Vitamin B12"},                    // a global alias
			{"metro", "Thyroid Profile", mapping.MatchAlias, "Thyroid Profile (T3 T4 TSH)"}, // a package alias, written among tests
			{"", "Complete Blood Count (CBC)", mapping.MatchCatalogue, "Complete Blood Count (CBC)"},
			{"", "cbc", mapping.MatchAbbreviation, "Complete Blood Count (CBC)"},
			{"", "TSH Ultrasensitive", mapping.MatchAlias, "Thyroid Stimulating Hormone (TSH)"}, // by flabs_id
			{"", "Trop T", mapping.MatchNone, ""},                                               // Troponin I is not Troponin T
		} {
			m := ix.Lookup(tt.partner, mapping.KindTest, tt.name)
			if m.How != tt.how || m.Catalogue != tt.catalogue {
				t.Errorf("%s %q: %s → %q, want %s → %q", tt.partner, tt.name, m.How, m.Catalogue, tt.how, tt.catalogue)
			}
		}
		if m := ix.Lookup("", mapping.KindTest, "TSH Ultrasensitive"); m.TargetKey != mapping.KeyFlabsID || m.Target != "TSH" {
			t.Errorf("flabs_id alias sent as %s %q", m.TargetKey, m.Target)
		}
		info, err := ms.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.LabName != "Main Lab" || info.Tests != rep.Tests || !info.SyncedAt.Equal(now) {
			t.Errorf("info = %+v", info)
		}
	})
}

func TestSyncReportsChangesAndFlagsVanishedTargets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ms := mapping.NewStore(db)
		syncSample(t, ms)
		importSample(t, ms)

		c, _ := fixtures.LoadCatalogue()
		var tests []flabs.CatalogueItem
		for _, it := range c.Tests {
			switch it.Code {
			case "VITB12": // vanishes: three aliases point at it
				continue
			case "LFT":
				it.Name = "Liver Function Test Extended (LFT)"
			case "TSH": // its code changes: the flabs_id alias loses its target
				it.Code = "TSH3G"
			}
			tests = append(tests, it)
		}
		tests = append(tests, flabs.CatalogueItem{ID: "64f0000000000000000000ff", Code: "TROPT", Name: "Troponin T"})
		rep, err := ms.Sync(ctx, sim(t, tests, nil), "", now.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		names := func(cs []mapping.Change) (out []string) {
			for _, c := range cs {
				out = append(out, c.Name)
			}
			return out
		}
		if d := cmp.Diff([]string{"Troponin T"}, names(rep.Added)); d != "" {
			t.Errorf("added (-want +got):\n%s", d)
		}
		if d := cmp.Diff([]string{"Vitamin B12"}, names(rep.Removed)); d != "" {
			t.Errorf("removed (-want +got):\n%s", d)
		}
		if len(rep.Renamed) != 2 || rep.Renamed[0].OldName != "Liver Function Test (LFT)" || rep.Renamed[1].OldCode != "TSH" {
			t.Errorf("renamed = %+v", rep.Renamed)
		}
		var orphans []string
		for _, e := range rep.Orphaned {
			orphans = append(orphans, e.Scope+"/"+e.LocalName)
		}
		if d := cmp.Diff([]string{"/TSH Ultrasensitive", "/Vitamin B-12", "sunrise/vit b12"}, orphans); d != "" {
			t.Errorf("orphaned (-want +got):\n%s", d)
		}
		// The vanished target no longer maps anything; the renamed one
		// maps by its ID as before.
		ix, err := ms.Index(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m := ix.Lookup("", mapping.KindTest, "Vitamin B12"); m.Mapped() {
			t.Errorf("a retired catalogue entry still maps: %+v", m)
		}
		for _, n := range [][2]string{{"sunrise", "vit b12"}, {"", "Vitamin B-12"}, {"", "TSH Ultrasensitive"}} {
			if m := ix.Lookup(n[0], mapping.KindTest, n[1]); m.Mapped() || !m.Orphan {
				t.Errorf("%s %q, an alias to a vanished target: %+v; want unmapped, orphan", n[0], n[1], m)
			}
		}
		if m := ix.Lookup("", mapping.KindTest, "Liver Function Test"); m.Catalogue != "Liver Function Test Extended (LFT)" {
			t.Errorf("the alias to a renamed entry: %+v", m)
		}
		// A second identical sync changes nothing.
		rep2, err := ms.Sync(ctx, sim(t, tests, nil), "", now.Add(48*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(rep2.Added)+len(rep2.Removed)+len(rep2.Renamed) != 0 {
			t.Errorf("a repeated sync reports changes: %+v", rep2)
		}
	})
}

func TestSyncRefusesAnEmptyCatalogue(t *testing.T) {
	db := storetest.OpenSQLite(t)
	ms := mapping.NewStore(db)
	syncSample(t, ms)
	_, err := ms.Sync(context.Background(), sim(t, []flabs.CatalogueItem{}, []flabs.CatalogueItem{}), "", now)
	if !errors.Is(err, mapping.ErrEmptyCatalogue) {
		t.Fatalf("err = %v, want ErrEmptyCatalogue", err)
	}
	cat, err := ms.Catalogue(context.Background())
	if err != nil || len(cat) < 55 {
		t.Fatalf("the stored catalogue was touched: %d entries, %v", len(cat), err)
	}
}

func TestPickLab(t *testing.T) {
	labs := []flabs.Lab{{ID: "a", Name: "Main"}, {ID: "b", Name: "Branch"}}
	if l, err := mapping.PickLab(labs[:1], ""); err != nil || l.ID != "a" {
		t.Errorf("one lab: %v %v", l, err)
	}
	if l, err := mapping.PickLab(labs, "b"); err != nil || l.ID != "b" {
		t.Errorf("configured lab: %v %v", l, err)
	}
	if _, err := mapping.PickLab(labs, ""); err == nil || !strings.Contains(err.Error(), "set flabs.lab_id") || !strings.Contains(err.Error(), "Branch") {
		t.Errorf("two labs, none configured: %v", err)
	}
	if _, err := mapping.PickLab(labs, "c"); err == nil || !strings.Contains(err.Error(), `"c" is not one of`) {
		t.Errorf("unknown lab: %v", err)
	}
}

func TestImportIsAllOrNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ms := mapping.NewStore(db)
		syncSample(t, ms)
		table := `partner,kind,local_name,id,flabs_id
,test,Haemogram,64f000000000000000000001,
sunrise,test,Sugar F,64f000000000000000000008,
,test,Trop T,64f00000000000000000003e,
`
		good, err := mapping.ReadTable(strings.NewReader(table))
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name, line string
			want       string // in the problem
		}{
			{"unknown target", ",test,Widal,64f0000000000000000000aa,", "no test in the catalogue has this id"},
			{"bad kind", ",profile,Widal,64f000000000000000000025,", `kind "profile": want test or package`},
			{"both keys", ",test,Widal,64f000000000000000000025,WIDAL", "give exactly one"},
			{"neither key", ",test,Widal,,", "neither id nor flabs_id"},
			{"flabs_id on a package", ",package,Fever,,FEVER", "packages are sent by id only"},
			{"package id as a test", ",test,Fever,65a000000000000000000005,", "it is a package: fix the kind column"},
			{"empty name", ",test,  ,64f000000000000000000025,", "local_name"},
			{"unknown partner", "sunrsie,test,Widal,64f000000000000000000025,", `partner "sunrsie": not a partner in the config`},
			{"conflicting duplicate", ",test,HAEMOGRAM ,64f000000000000000000002,", "row 2 maps the same name"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				lines, err := mapping.ReadTable(strings.NewReader(table + tt.line + "\n"))
				if err != nil {
					t.Fatal(err)
				}
				plan, err := ms.Import(ctx, lines, mapping.ImportOptions{Partners: []string{"sunrise", "metro"}, By: "ops", Now: now})
				if err != nil {
					t.Fatal(err)
				}
				if plan.OK() || len(plan.Problems) != 1 {
					t.Fatalf("problems = %v, want exactly one", plan.Problems)
				}
				p := plan.Problems[0]
				if p.Row != 5 || !strings.Contains(p.String(), tt.want) {
					t.Errorf("problem = %q (row %d), want row 5 and %q", p, p.Row, tt.want)
				}
				es, err := ms.Entries(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(es) != 0 {
					t.Errorf("a failed import applied %d entries", len(es))
				}
			})
		}
		plan, err := ms.Import(ctx, good, mapping.ImportOptions{By: "ops", Now: now})
		if err != nil || !plan.OK() || plan.Added != 3 {
			t.Fatalf("good import: %+v, %v", plan, err)
		}
		// Applying it again changes nothing; a changed target is counted.
		good[2].ID = "64f0000000000000000000ff"
		plan, err = ms.Import(ctx, good[:2], mapping.ImportOptions{By: "ops", Now: now})
		if err != nil || plan.Unchanged != 2 || plan.Added+plan.Changed != 0 {
			t.Fatalf("re-import: %+v, %v", plan, err)
		}
		es, _ := ms.Entries(ctx)
		for _, e := range es {
			if e.Source != mapping.SourceImport || e.CreatedBy != "ops" || !e.CreatedAt.Equal(now) {
				t.Errorf("entry %+v: want source import, by ops, at %v", e, now)
			}
		}
	})
}

func TestTableFilesRoundTrip(t *testing.T) {
	lines, err := mapping.ReadTable(bytes.NewReader(fixtures.Mappings()))
	if err != nil {
		t.Fatal(err)
	}
	lines = append(lines, mapping.Line{Kind: "test", LocalName: "=HYPERLINK(\"x\")", ID: "1"}, mapping.Line{Kind: "test", LocalName: "Vitamin D (25-OH), total", ID: "2"})
	dir := t.TempDir()
	for _, name := range []string{"table.csv", "table.xlsx"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if err := mapping.WriteTableFile(path, lines); err != nil {
				t.Fatal(err)
			}
			back, err := mapping.ReadTableFile(path)
			if err != nil {
				t.Fatal(err)
			}
			strip := func(ls []mapping.Line) []mapping.Line {
				out := make([]mapping.Line, len(ls))
				for i, l := range ls {
					l.Row = 0
					out[i] = l
				}
				return out
			}
			if d := cmp.Diff(strip(lines), strip(back)); d != "" {
				t.Errorf("round trip (-wrote +read):\n%s", d)
			}
			if back[0].Row != 2 || back[len(back)-1].Row != len(lines)+1 {
				t.Errorf("rows %d..%d, want 2..%d", back[0].Row, back[len(back)-1].Row, len(lines)+1)
			}
		})
	}
	raw, err := os.ReadFile(filepath.Join(dir, "table.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `'=HYPERLINK`) {
		t.Errorf("a formula-like name is written bare to CSV:\n%s", raw)
	}
}

func TestReadTableLayouts(t *testing.T) {
	for _, tt := range []struct {
		name, text string
		want       []mapping.Line
		err        string
	}{
		{"any case and order, extra columns, semicolons, BOM, blank lines",
			"\uFEFFLocal Name;Kind;Suggestion;ID\r\nHaemogram;Test;Complete Blood Count (CBC) 0.9;abc\r\n;;;\r\nTFT;package;;def\r\n",
			[]mapping.Line{{Row: 2, Kind: "Test", LocalName: "Haemogram", ID: "abc"}, {Row: 4, Kind: "package", LocalName: "TFT", ID: "def"}}, ""},
		{"title rows above the header",
			"Unmapped names, 24 Nov\n\npartner,kind,local_name,id,flabs_id\nsunrise,test,Trop T,,TROPT\n",
			[]mapping.Line{{Row: 4, Partner: "sunrise", Kind: "test", LocalName: "Trop T", FlabsID: "TROPT"}}, ""},
		{"rows as a spreadsheet shows them: a multi-line cell is one row",
			"kind,local_name,id\ntest,\"CBC\nwith ESR\",1\n\ntest,TSH,2\n",
			[]mapping.Line{{Row: 2, Kind: "test", LocalName: "CBC\nwith ESR", ID: "1"}, {Row: 4, Kind: "test", LocalName: "TSH", ID: "2"}}, ""},
		{"UTF-16 with BOM, tabs",
			"\xFF\xFEk\x00i\x00n\x00d\x00\t\x00l\x00o\x00c\x00a\x00l\x00_\x00n\x00a\x00m\x00e\x00\t\x00i\x00d\x00\n\x00t\x00e\x00s\x00t\x00\t\x00T\x00S\x00H\x00\t\x000\x000\x007\x00\n\x00",
			[]mapping.Line{{Row: 2, Kind: "test", LocalName: "TSH", ID: "007"}}, ""},
		{"Windows-1252", "kind,local_name,id\ntest,Prot\xE9ine C,1\n",
			[]mapping.Line{{Row: 2, Kind: "test", LocalName: "Protéine C", ID: "1"}}, ""},
		{"no header", "Haemogram,test,abc\n", nil, "no header with the columns"},
		{"header only", "partner,kind,local_name,id,flabs_id\n", nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mapping.ReadTable(strings.NewReader(tt.text))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}
