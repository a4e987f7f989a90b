package mapping_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flabsync/flabsync/fixtures"
	"github.com/flabsync/flabsync/mapping"
)

// corpusDir holds the spelling corpus and its catalogue; see the header
// of corpus.csv for what they are and how they were made.
var corpusDir = filepath.Join("..", "fixtures", "mapping")

// The classes of a corpus line.
const (
	classMap     = "map"     // must map, to want
	classSuggest = "suggest" // must not map; want should be in the top three
	classNever   = "never"   // must not map; want, if given, is suggested only with a CAUTION
)

// corpusLine is one spelling of the corpus.
type corpusLine struct {
	Row   int // line number in corpus.csv
	Class string
	Kind  mapping.Kind
	Name  string
	Want  string // a catalogue name
	Held  bool   // after the held-out marker
}

// heldOutMarker starts the comment line after which the corpus lines were
// written once the scorer was tuned, and not tuned against.
const heldOutMarker = "# --- held out"

func loadCorpus(tb testing.TB) ([]corpusLine, []mapping.CatalogueItem) {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(corpusDir, "catalogue.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var c fixtures.Catalogue
	if err := json.Unmarshal(b, &c); err != nil {
		tb.Fatalf("corpus catalogue.json: %v", err)
	}
	cat := c.Items()
	text, err := os.ReadFile(filepath.Join(corpusDir, "corpus.csv"))
	if err != nil {
		tb.Fatal(err)
	}
	held := len(text) // offset of the marker
	if i := strings.Index(string(text), "\n"+heldOutMarker); i >= 0 {
		held = i
	}
	r := csv.NewReader(strings.NewReader(string(text)))
	r.Comment = '#'
	r.FieldsPerRecord = 4
	var lines []corpusLine
	for first := true; ; first = false {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatalf("corpus.csv: %v", err)
		}
		if first {
			if want := []string{"class", "kind", "name", "want"}; !slices.Equal(rec, want) {
				tb.Fatalf("corpus.csv header %q, want %q", rec, want)
			}
			continue
		}
		row, _ := r.FieldPos(0)
		kind, ok := mapping.ParseKind(rec[1])
		l := corpusLine{Row: row, Class: rec[0], Kind: kind, Name: rec[2], Want: rec[3], Held: r.InputOffset() > int64(held)}
		switch {
		case !ok:
			tb.Fatalf("corpus.csv:%d: kind %q", row, rec[1])
		case l.Class != classMap && l.Class != classSuggest && l.Class != classNever:
			tb.Fatalf("corpus.csv:%d: class %q", row, l.Class)
		case l.Want == "" && l.Class != classNever:
			tb.Fatalf("corpus.csv:%d: %s without want", row, l.Class)
		case l.Want != "" && !slices.ContainsFunc(cat, func(it mapping.CatalogueItem) bool { return it.Name == l.Want }):
			tb.Fatalf("corpus.csv:%d: %q is not in the corpus catalogue", row, l.Want)
		}
		lines = append(lines, l)
	}
	return lines, cat
}

// TestCorpus holds the mapping rules and the suggestions to the spelling
// corpus: no spelling maps to a wrong entry, every must-map spelling maps,
// no suggest or never spelling maps, a never line's tempting entry is
// suggested only with a CAUTION, and for at least 90% of the suggest
// spellings the right entry is among the suggestions (at most three).
func TestCorpus(t *testing.T) {
	lines, cat := loadCorpus(t)
	ix := mapping.NewIndex(nil, cat)
	id := map[string]string{}
	for _, it := range cat {
		id[it.Name] = it.ID
	}
	var (
		count          = map[string]int{}
		wrong, mapped  int
		top1, top3     int
		entries        = map[string]bool{}
		misses         []string
		names          = map[string]bool{}
		cautionMissing int
		held           [3]int // held-out suggest lines: all, top-1, top-3
	)
	for _, l := range lines {
		count[l.Class]++
		if l.Held && l.Class == classSuggest {
			held[0]++
		}
		names[mapping.Key(l.Name)] = true
		if l.Class != classNever {
			entries[l.Want] = true
		}
		m := ix.Lookup("corpus", l.Kind, l.Name)
		if m.Mapped() && (l.Class != classMap || m.Target != id[l.Want]) {
			if l.Class == classNever || m.Target != id[l.Want] { // a suggest line that maps right is mislabelled, not wrong
				wrong++
			}
			t.Errorf("corpus.csv:%d: %s %q mapped to %q by %s; want %s", l.Row, l.Class, l.Name, m.Catalogue, m.How,
				map[bool]string{true: "no mapping", false: fmt.Sprintf("%q", l.Want)}[l.Class != classMap])
			continue
		}
		switch l.Class {
		case classMap:
			if !m.Mapped() {
				t.Errorf("corpus.csv:%d: %q must map to %q; it does not", l.Row, l.Name, l.Want)
				continue
			}
			mapped++
		case classSuggest:
			ss := ix.Suggest(l.Kind, l.Name)
			at := slices.IndexFunc(ss, func(s mapping.Suggestion) bool { return s.Target == id[l.Want] })
			if l.Held && at >= 0 {
				held[2]++
				if at == 0 {
					held[1]++
				}
			}
			switch {
			case at == 0:
				top1++
				top3++
			case at > 0:
				top3++
			default:
				misses = append(misses, fmt.Sprintf("corpus.csv:%d: %q: want %q, got %s", l.Row, l.Name, l.Want, suggestionNames(ss)))
			}
		case classNever:
			if l.Want == "" {
				continue
			}
			for _, s := range ix.Suggest(l.Kind, l.Name) {
				if s.Target == id[l.Want] && !strings.Contains(s.Reason, "CAUTION") {
					cautionMissing++
					t.Errorf("corpus.csv:%d: %q suggests %q without a CAUTION: %q", l.Row, l.Name, l.Want, s.Reason)
				}
			}
		}
	}
	t.Logf("corpus: %d spellings (%d distinct keys) of %d catalogue entries (catalogue %d): %d must-map, %d suggest, %d never",
		len(lines), len(names), len(entries), len(cat), count[classMap], count[classSuggest], count[classNever])
	t.Logf("results: wrong %d; must-map mapped %d/%d; suggest top-1 %d/%d (%.1f%%), top-3 %d/%d (%.1f%%); cautions missing %d",
		wrong, mapped, count[classMap], top1, count[classSuggest], pct(top1, count[classSuggest]),
		top3, count[classSuggest], pct(top3, count[classSuggest]), cautionMissing)
	t.Logf("of which held out: top-1 %d/%d (%.1f%%), top-3 %d/%d (%.1f%%)", held[1], held[0], pct(held[1], held[0]), held[2], held[0], pct(held[2], held[0]))
	for _, m := range misses {
		t.Log("not in the top three: " + m)
	}
	if len(lines) < 300 || len(entries) < 80 {
		t.Errorf("the corpus must hold at least 300 spellings of 80 entries")
	}
	if top3*10 < 9*count[classSuggest] {
		t.Errorf("right entry in the top three for %d of %d suggest spellings (%.1f%%); want at least 90%%",
			top3, count[classSuggest], pct(top3, count[classSuggest]))
	}
}

func pct(n, of int) float64 { return 100 * float64(n) / float64(max(1, of)) }

func suggestionNames(ss []mapping.Suggestion) string {
	var b strings.Builder
	for i, s := range ss {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%q %.2f (%s)", s.Name, s.Score, s.Reason)
	}
	if len(ss) == 0 {
		return "nothing"
	}
	return b.String()
}

// BenchmarkSuggestCorpus: Suggest for the corpus's suggest and never
// spellings against its 164-entry catalogue — names as clinics write
// them, where BenchmarkSuggest is the pessimistic generated case.
func BenchmarkSuggestCorpus(b *testing.B) {
	lines, cat := loadCorpus(b)
	ix := mapping.NewIndex(nil, cat)
	var names []string
	for _, l := range lines {
		if l.Class != classMap {
			names = append(names, l.Name)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ix.Suggest(mapping.KindTest, names[i%len(names)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "names/s")
}
