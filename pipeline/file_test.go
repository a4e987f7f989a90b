package pipeline_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flabsync/flabsync/fixtures"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/pipeline"
)

var update = flag.Bool("update", false, "rewrite testdata/golden")

// the day the sample sheets are read, so ages from dates of birth are stable
var readDay = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func fixtureIndex(t testing.TB) *mapping.Index {
	t.Helper()
	cat, err := fixtures.LoadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	var items []mapping.CatalogueItem
	for _, c := range cat.Tests {
		items = append(items, mapping.CatalogueItem{Kind: mapping.KindTest, ID: c.ID, Code: c.Code, Name: c.Name})
	}
	for _, c := range cat.Packages {
		items = append(items, mapping.CatalogueItem{Kind: mapping.KindPackage, ID: c.ID, Code: c.Code, Name: c.Name})
	}
	return mapping.NewIndex(nil, items)
}

// Each sample sheet reads, validates and maps to its golden dry run: the
// exact requests, every rejection with its code, every skipped row. And no
// row is lost: accepted + rejected + skipped rows = rows in.
func TestFixturesDryRunGolden(t *testing.T) {
	ix := fixtureIndex(t)
	files, _ := filepath.Glob("../fixtures/sheets/*.*")
	if len(files) < 6 {
		t.Fatalf("want at least six sample sheets, got %d", len(files))
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			res, err := pipeline.ReadFile(t.Context(), path, pipeline.ReadOptions{LeadSource: "Partner Portal", Now: readDay, Mapper: ix})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Conserved() {
				t.Errorf("rows not conserved: %s", res)
			}
			got, _ := json.MarshalIndent(res.Report(), "", "  ")
			got = append(got, '\n')
			golden := filepath.Join("testdata", "golden", name+".json")
			if *update {
				os.MkdirAll(filepath.Dir(golden), 0o755)
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./pipeline -update creates it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s (rerun with -update and review the diff):\n%s", name, golden, got)
			}
		})
	}
}
