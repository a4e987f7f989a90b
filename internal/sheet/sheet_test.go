package sheet_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flabsync/flabsync/internal/sheet"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const sheetsDir = "../../fixtures/sheets"

type goldenRead struct {
	Summary sheet.Summary       `json:"summary"`
	Records []map[string]string `json:"records"`
}

func readAll(t testing.TB, path string, opts sheet.Options) (goldenRead, error) {
	t.Helper()
	var g goldenRead
	sum, err := sheet.Read(t.Context(), path, opts, func(r *sheet.Record) error {
		m := map[string]string{"row": itoa(r.Row)}
		for _, f := range sheet.Fields() {
			if v := r.Get(f); v != "" {
				m[f.String()] = v
			}
		}
		g.Records = append(g.Records, m)
		return nil
	})
	g.Summary = sum
	return g, err
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// Every sample sheet reads to its golden file: the header found, every
// cell typed as a person would read it, and the rows skipped with why.
func TestFixturesMatchGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(sheetsDir, "*.*"))
	if err != nil || len(files) < 6 {
		t.Fatalf("want at least six sample sheets in %s, got %d (%v)", sheetsDir, len(files), err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			g, err := readAll(t, path, sheet.Options{})
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			got, _ := json.MarshalIndent(g, "", "  ")
			got = append(got, '\n')
			golden := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/sheet -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s; run with -update and review the diff.\ngot:\n%s", name, golden, got)
			}
		})
	}
}

// Files that are not sheets are refused with what to do, never half-read.
func TestRefusals(t *testing.T) {
	tests := []struct {
		file string
		is   error
		want string
	}{
		{"refused/legacy_bookings.xls", sheet.ErrRefused, "save it as .xlsx or .csv"},
		{"refused/bookings.ods", sheet.ErrRefused, "OpenDocument (.ods)"},
		{"refused/scan.pdf", sheet.ErrRefused, "PDF"},
		{"refused/nocols_bookings.csv", sheet.ErrNoHeader, "lacks gender (Sex or Gender), tests"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			calls := 0
			_, err := sheet.Read(t.Context(), filepath.Join(sheetsDir, tt.file), sheet.Options{}, func(*sheet.Record) error { calls++; return nil })
			if !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), filepath.Base(tt.file)) {
				t.Errorf("err = %q, want it to name the file and say %q", err, tt.want)
			}
			if calls != 0 {
				t.Errorf("%d rows handed over from a refused file", calls)
			}
		})
	}
}
