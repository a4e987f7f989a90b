package mapping_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/flabsync/flabsync/fixtures"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/mapping"
)

func catalogue(tb testing.TB) []mapping.CatalogueItem {
	tb.Helper()
	c, err := fixtures.LoadCatalogue()
	if err != nil {
		tb.Fatal(err)
	}
	var out []mapping.CatalogueItem
	add := func(kind mapping.Kind, items []flabs.CatalogueItem) {
		for _, it := range items {
			out = append(out, mapping.CatalogueItem{Kind: kind, ID: it.ID, Code: it.Code, Name: it.Name})
		}
	}
	add(mapping.KindTest, c.Tests)
	add(mapping.KindPackage, c.Packages)
	return out
}

func idOf(tb testing.TB, cat []mapping.CatalogueItem, name string) string {
	for _, it := range cat {
		if it.Name == name {
			return it.ID
		}
	}
	tb.Fatalf("no catalogue entry %q", name)
	return ""
}

func TestKey(t *testing.T) {
	same := [][]string{
		{" Vitamin D(25-OH ) ", "vitamin d (25-oh).", "VITAMIN  D (25-OH)"},
		{"CBC", "cbc", " C.B.C "[1:6] + "", "ＣＢＣ"}, // full-width letters fold too
		{"Lipid Profile", "lipid profile -", "*Lipid Profile*"},
	}
	for _, group := range same {
		for _, s := range group[1:] {
			if s == "C.B.C" {
				continue
			}
			if mapping.Key(s) != mapping.Key(group[0]) {
				t.Errorf("Key(%q) = %q, Key(%q) = %q: want equal", s, mapping.Key(s), group[0], mapping.Key(group[0]))
			}
		}
	}
	different := [][2]string{{"T4", "FT4"}, {"Hb", "HbA1c"}, {"Vitamin D", "Vitamin D3"}, {"T3", "T3 T4"}}
	for _, d := range different {
		if mapping.Key(d[0]) == mapping.Key(d[1]) {
			t.Errorf("Key(%q) == Key(%q): must differ", d[0], d[1])
		}
	}
}

func TestLookupOrder(t *testing.T) {
	cat := catalogue(t)
	cbc := idOf(t, cat, "Complete Blood Count (CBC)")
	lft := idOf(t, cat, "Liver Function Test (LFT)")
	thy := idOf(t, cat, "Thyroid Profile (T3 T4 TSH)")
	entries := []mapping.Entry{
		{Scope: "sunrise", Kind: mapping.KindTest, LocalName: "Hemogram", Target: lft, TargetKey: mapping.KeyID, Source: mapping.SourceAlias}, // partner wins
		{Scope: "", Kind: mapping.KindTest, LocalName: "Hemogram", Target: cbc, TargetKey: mapping.KeyID, Source: mapping.SourceAlias},
		{Scope: "", Kind: mapping.KindTest, LocalName: "TFT", Target: "TSH", TargetKey: mapping.KeyFlabsID, Source: mapping.SourceImport},
		{Scope: "", Kind: mapping.KindTest, LocalName: "CBC", Target: lft, TargetKey: mapping.KeyID, Source: mapping.SourceAlias}, // an alias beats the catalogue
	}
	ix := mapping.NewIndex(entries, cat)
	tests := []struct {
		partner, name string
		kind          mapping.Kind
		how, target   string
		key           mapping.TargetKey
		scope         string
	}{
		{"sunrise", "hemogram", mapping.KindTest, mapping.MatchAlias, lft, mapping.KeyID, "sunrise"},
		{"lakeview", "Hemogram", mapping.KindTest, mapping.MatchAlias, cbc, mapping.KeyID, ""},
		{"", "HEMOGRAM ", mapping.KindTest, mapping.MatchAlias, cbc, mapping.KeyID, ""},
		{"sunrise", "tft", mapping.KindTest, mapping.MatchAlias, "TSH", mapping.KeyFlabsID, ""},
		{"sunrise", "cbc", mapping.KindTest, mapping.MatchAlias, lft, mapping.KeyID, ""},
		{"sunrise", "complete blood count (cbc)", mapping.KindTest, mapping.MatchCatalogue, cbc, mapping.KeyID, ""},
		{"sunrise", "Liver Function Test(LFT)", mapping.KindTest, mapping.MatchCatalogue, lft, mapping.KeyID, ""},
		{"sunrise", "LFT", mapping.KindTest, mapping.MatchAbbreviation, lft, mapping.KeyID, ""},
		{"sunrise", "HbA1c", mapping.KindTest, mapping.MatchAbbreviation, idOf(t, cat, "Glycosylated Haemoglobin (HbA1c)"), mapping.KeyID, ""},
		{"sunrise", "Thyroid Profile (T3 T4 TSH)", mapping.KindTest, mapping.MatchCatalogue, thy, mapping.KeyID, ""}, // a package in the tests column
	}
	for _, tt := range tests {
		t.Run(tt.partner+"/"+tt.name, func(t *testing.T) {
			m := ix.Lookup(tt.partner, tt.kind, tt.name)
			if m.How != tt.how || m.Target != tt.target || m.TargetKey != tt.key || m.Scope != tt.scope {
				t.Errorf("Lookup = %+v; want how=%s target=%s key=%s scope=%q", m, tt.how, tt.target, tt.key, tt.scope)
			}
			if m.Name != tt.name {
				t.Errorf("Name = %q, want the name as written %q", m.Name, tt.name)
			}
		})
	}
}

func TestLookupNeverGuesses(t *testing.T) {
	cat := catalogue(t)
	// Two entries share an abbreviation: neither may map by it.
	cat = append(cat,
		mapping.CatalogueItem{Kind: mapping.KindTest, ID: "x1", Name: "Prothrombin Time Screen (PTS)"},
		mapping.CatalogueItem{Kind: mapping.KindTest, ID: "x2", Name: "Post Transfusion Study (PTS)"},
		mapping.CatalogueItem{Kind: mapping.KindTest, ID: "x3", Name: "Serum Iron"}, // duplicate catalogue name
	)
	ix := mapping.NewIndex(nil, cat)
	for _, name := range []string{
		"PTS",               // abbreviation shared by two entries
		"Serum Iron",        // name carried by two entries
		"Vitamin D",         // not "Vitamin D Total (25-OH)"
		"Vitamin D3",        //
		"FT4 T4",            //
		"Hb A1c",            // close to HbA1c, but not it
		"Complete Blood",    // a prefix
		"Haemoglobin",       // (Hb) is a qualifier by the name-part rule
		"Liver Function",    //
		"Thyroid Profile",   // a package's name without its parenthesis
		"Full Body Checkup", // two packages start so
		"Glycosylated Haemoglobin",
		"",
	} {
		if m := ix.Lookup("sunrise", mapping.KindTest, name); m.Mapped() {
			t.Errorf("Lookup(%q) mapped to %s (%s by %s); must not map", name, m.Target, m.Catalogue, m.How)
		}
	}
	// Without "Thyroxine (T4)", T4 still never becomes Free T4.
	var noT4 []mapping.CatalogueItem
	for _, it := range cat {
		if it.Name != "Thyroxine (T4)" {
			noT4 = append(noT4, it)
		}
	}
	if m := mapping.NewIndex(nil, noT4).Lookup("", mapping.KindTest, "T4"); m.Mapped() {
		t.Errorf("T4 mapped to %q without Thyroxine (T4) in the catalogue", m.Catalogue)
	}
	// The collision pairs each map to their own entry, never to each other.
	for name, want := range map[string]string{
		"T4": "Thyroxine (T4)", "FT4": "Free T4 (FT4)", "Hb": "Haemoglobin (Hb)", "HbA1c": "Glycosylated Haemoglobin (HbA1c)",
	} {
		if m := ix.Lookup("", mapping.KindTest, name); m.Catalogue != want {
			t.Errorf("Lookup(%q) → %q, want %q", name, m.Catalogue, want)
		}
	}
}

// TestLookupNamePart: X of a catalogue name "X (Y)" maps when Y is an
// abbreviation and nothing else claims X; a qualifier, a rival claim or a
// longer name holding X keeps it a suggestion.
func TestLookupNamePart(t *testing.T) {
	cat := catalogue(t)
	ix := mapping.NewIndex(nil, cat)
	for name, want := range map[string]string{
		"Complete Blood Count":  "Complete Blood Count (CBC)", // initials
		"complete  blood count": "Complete Blood Count (CBC)",
		"Fasting Blood Sugar":   "Fasting Blood Sugar (FBS)",
		"Thyroxine":             "Thyroxine (T4)", // capitals
		"Free T4":               "Free T4 (FT4)",  // initials, a word with digits whole
		"Blood Urea Nitrogen":   "Blood Urea Nitrogen (BUN)",
		"Rheumatoid Factor":     "Rheumatoid Factor (RA)",
	} {
		m := ix.Lookup("sunrise", mapping.KindTest, name)
		if m.How != mapping.MatchNamePart || m.Catalogue != want || m.Target != idOf(t, cat, want) {
			t.Errorf("Lookup(%q) = %+v; want %q by %s", name, m, want, mapping.MatchNamePart)
		}
	}
	for _, name := range []string{
		"Haemoglobin",                 // (Hb): neither capitals nor initials
		"Glycosylated Haemoglobin",    // (HbA1c)
		"Vitamin D Total",             // (25-OH): a qualifier
		"Vitamin D",                   //
		"Prothrombin Time",            // (PT/INR): two things
		"Cortisol",                    // (Morning)
		"Serum Electrolytes",          // (Na K Cl)
		"High Sensitivity CRP",        // (hs-CRP)
		"Hepatitis B Surface Antigen", // (HBsAg)
		"Thyroid Profile",             // a package's contents, not its abbreviation
		"Full Body Checkup",           // two packages start so
	} {
		if m := ix.Lookup("sunrise", mapping.KindTest, name); m.Mapped() {
			t.Errorf("Lookup(%q) mapped to %q by %s; must not map", name, m.Catalogue, m.How)
		}
	}

	item := func(kind mapping.Kind, id, name, code string) mapping.CatalogueItem {
		return mapping.CatalogueItem{Kind: kind, ID: id, Name: name, Code: code}
	}
	test := func(id, name string) mapping.CatalogueItem { return item(mapping.KindTest, id, name, "") }
	tests := []struct {
		name string
		cat  []mapping.CatalogueItem
		q    string
		want string // the ID it maps to, "" for none
	}{
		{"capitals", []mapping.CatalogueItem{test("a", "SGPT (ALT)"), test("b", "Vitamin D (25-OH)")}, "SGPT", "a"},
		{"qualifier", []mapping.CatalogueItem{test("a", "SGPT (ALT)"), test("b", "Vitamin D (25-OH)")}, "Vitamin D", ""},
		{"package", []mapping.CatalogueItem{test("a", "SGPT (ALT)"), item(mapping.KindPackage, "p", "Master Health Checkup (MHC)", "")}, "master health checkup", "p"},
		{"two methods", []mapping.CatalogueItem{test("a", "ANA (IFA)"), test("b", "ANA (ELISA)")}, "ANA", ""},
		{"a test and a package", []mapping.CatalogueItem{test("a", "Lipid Profile (LP)"), item(mapping.KindPackage, "p", "Lipid Profile (LPP)", "")}, "Lipid Profile", ""},
		{"another's abbreviation", []mapping.CatalogueItem{test("a", "Creatine Kinase (CK)"), test("b", "Total CPK (Creatine Kinase)")}, "Creatine Kinase", ""},
		{"another's code", []mapping.CatalogueItem{test("a", "Lipid Panel (LP)"), item(mapping.KindTest, "b", "Lipid Profile", "LIPID PANEL")}, "Lipid Panel", ""},
		{"inside another name", []mapping.CatalogueItem{test("a", "Thyroxine (T4)"), test("b", "Free Thyroxine")}, "Thyroxine", ""},
		{"inside another name, later", []mapping.CatalogueItem{test("a", "Culture (AFB)"), test("b", "Urine Culture & Sensitivity")}, "Culture", ""},
		{"specimen in capitals", []mapping.CatalogueItem{test("a", "Glucose (CSF)"), test("b", "Serum Iron")}, "Glucose", ""},
		{"fraction in capitals", []mapping.CatalogueItem{test("a", "Vitamin D (TOTAL)"), test("b", "Serum Iron")}, "Vitamin D", ""},
		{"one letter", []mapping.CatalogueItem{test("a", "Insulin (F)"), test("b", "Serum Iron")}, "Insulin", ""},
		{"not at the end", []mapping.CatalogueItem{test("a", "Vitamin D (VD) Total"), test("b", "Serum Iron")}, "Vitamin D", ""},
		{"all capitals: initials only", []mapping.CatalogueItem{test("a", "CORTISOL (MORNING)"), test("b", "COMPLETE BLOOD COUNT (CBC)"), test("c", "SGPT (ALT)")}, "cortisol", ""},
		{"all capitals: initials", []mapping.CatalogueItem{test("a", "CORTISOL (MORNING)"), test("b", "COMPLETE BLOOD COUNT (CBC)"), test("c", "SGPT (ALT)")}, "Complete Blood Count", "b"},
		{"all capitals: no capitals rule", []mapping.CatalogueItem{test("a", "CORTISOL (MORNING)"), test("b", "COMPLETE BLOOD COUNT (CBC)"), test("c", "SGPT (ALT)")}, "SGPT", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mapping.NewIndex(nil, tt.cat).Lookup("", mapping.KindTest, tt.q)
			if m.Target != tt.want {
				t.Errorf("Lookup(%q) = %+v; want target %q", tt.q, m, tt.want)
			}
		})
	}
	// An abbreviation that is also another entry's name part maps to neither.
	ix = mapping.NewIndex(nil, []mapping.CatalogueItem{test("a", "Thyroxine (T4)"), test("b", "T4 (Total)")})
	if m := ix.Lookup("", mapping.KindTest, "T4"); m.Mapped() {
		t.Errorf("T4 mapped to %q: it is one entry's abbreviation and another's name", m.Catalogue)
	}
	// An alias still comes first.
	ix = mapping.NewIndex([]mapping.Entry{{Kind: mapping.KindTest, LocalName: "Complete Blood Count", Target: idOf(t, cat, "Liver Function Test (LFT)"),
		TargetKey: mapping.KeyID}}, cat)
	if m := ix.Lookup("", mapping.KindTest, "Complete Blood Count"); m.How != mapping.MatchAlias {
		t.Errorf("alias lost to the name part: %+v", m)
	}
}

func TestOrphanAliasMapsNothing(t *testing.T) {
	cat := catalogue(t)
	ix := mapping.NewIndex([]mapping.Entry{
		// A person said CBC means something else for sunrise; that target
		// is gone. CBC must not fall through to the catalogue's CBC.
		{Scope: "sunrise", Kind: mapping.KindTest, LocalName: "CBC", Target: "64f0000000000000000000aa", TargetKey: mapping.KeyID},
	}, cat)
	if m := ix.Lookup("sunrise", mapping.KindTest, "cbc"); m.Mapped() || !m.Orphan || m.Scope != "sunrise" {
		t.Errorf("sunrise cbc = %+v; want unmapped, orphan of sunrise's alias", m)
	}
	if m := ix.Lookup("metro", mapping.KindTest, "cbc"); m.How != mapping.MatchAbbreviation {
		t.Errorf("metro cbc = %+v; another partner still maps by the catalogue", m)
	}
}

func TestSuggest(t *testing.T) {
	cat := catalogue(t)
	ix := mapping.NewIndex(nil, cat)
	tests := []struct {
		name    string
		top     string // the best suggestion
		caution string // a code the reason must warn about, if any
	}{
		{"Complete Blood Count", "Complete Blood Count (CBC)", ""},
		{"Liver Function Tests", "Liver Function Test (LFT)", ""},
		{"Lipid Profle", "Lipid Profile", ""},
		{"Vitamin D3", "Vitamin D Total (25-OH)", "D3"},
		{"Haemogram", "", ""},
		{"Thyroxin", "Thyroxine (T4)", ""},
		{"Serum Creatinin", "Serum Creatinine", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ix.Suggest(mapping.KindTest, tt.name)
			if len(got) > mapping.MaxSuggestions {
				t.Fatalf("%d suggestions, max %d", len(got), mapping.MaxSuggestions)
			}
			for i := 1; i < len(got); i++ {
				if got[i].Score > got[i-1].Score {
					t.Errorf("not ranked: %v", got)
				}
			}
			if tt.top == "" {
				return
			}
			if len(got) == 0 || got[0].Name != tt.top {
				t.Fatalf("Suggest(%q) = %v, want %q first", tt.name, got, tt.top)
			}
			if tt.caution != "" && !strings.Contains(got[0].Reason, tt.caution) {
				t.Errorf("reason %q does not warn about %s", got[0].Reason, tt.caution)
			}
		})
	}
	// What a person must confirm: shortened words, hyphens and spaces,
	// "&"/"and", singular/plural, a qualifier word added or dropped,
	// slashes, and words in another order.
	for q, want := range map[string]string{
		"Vit B-12":                  "Vitamin B12",
		"Trop I":                    "Troponin I",
		"D Dimer":                   "D-Dimer",
		"Blood Group and Rh Typing": "Blood Group & Rh Typing",
		"HIV I & II":                "HIV 1 & 2 Antibodies",
		"Anti TPO Antibody":         "Anti TPO Antibodies",
		"Creatinine":                "Serum Creatinine",
		"Serum Prolactin":           "Prolactin",
		"PT INR":                    "Prothrombin Time (PT/INR)",
		"Urine C/S":                 "Urine Culture & Sensitivity",
		"Total T3":                  "Triiodothyronine (T3)",
		"Free Thyroxine":            "Free T4 (FT4)",
		"Ferritin Serum":            "Serum Ferritin",
		"TSH Ultrasensitive":        "Thyroid Stimulating Hormone (TSH)",
		"Sugar PP":                  "Post Prandial Blood Sugar (PPBS)",
	} {
		got := ix.Suggest(mapping.KindTest, q)
		if len(got) == 0 || got[0].Name != want {
			t.Errorf("Suggest(%q) = %v, want %q first", q, got, want)
		}
	}
	// A qualifier that contradicts is a caution (Urine vs Serum, Free vs
	// Total, "Free" on one side only), as a code that differs is.
	for _, c := range []struct {
		kind    mapping.Kind
		q, name string
		caution string // "" for none
	}{
		{mapping.KindTest, "Urine Calcium", "Serum Calcium", "SERUM, URINE"},
		{mapping.KindTest, "Total T3", "Free T3 (FT3)", "FREE, TOTAL"},
		{mapping.KindTest, "T4 Free", "Thyroxine (T4)", "FREE"},
		{mapping.KindTest, "Trop T", "Troponin I", "I, T"},
		{mapping.KindTest, "Vitamin D3", "Vitamin D Total (25-OH)", "D, D3"},
		{mapping.KindPackage, "Thyroid Profile", "Thyroid Profile (T3 T4 TSH)", ""},
		{mapping.KindTest, "Creatinine", "Serum Creatinine", ""},
	} {
		i := slices.IndexFunc(ix.Suggest(c.kind, c.q), func(s mapping.Suggestion) bool { return s.Name == c.name })
		if i < 0 {
			t.Errorf("Suggest(%q) does not suggest %q", c.q, c.name)
			continue
		}
		r := ix.Suggest(c.kind, c.q)[i].Reason
		if c.caution == "" && strings.Contains(r, "CAUTION") || c.caution != "" && !strings.Contains(r, "CAUTION differs in "+c.caution) {
			t.Errorf("Suggest(%q) → %q: reason %q; want caution %q", c.q, c.name, r, c.caution)
		}
	}
	// Near-misses with a different code rank below the exact-code entry
	// and carry a caution.
	for q, wantFirst := range map[string]string{"T-4": "Thyroxine (T4)", "Free T4": "Free T4 (FT4)", "HbA1c test": "Glycosylated Haemoglobin (HbA1c)"} {
		got := ix.Suggest(mapping.KindTest, q)
		if len(got) == 0 || got[0].Name != wantFirst {
			t.Errorf("Suggest(%q) = %v, want %q first", q, got, wantFirst)
		}
	}
	for _, s := range ix.Suggest(mapping.KindTest, "Hb") {
		if strings.Contains(s.Name, "HbA1c") && !strings.Contains(s.Reason, "CAUTION") {
			t.Errorf("Hb → %q without a caution: %q", s.Name, s.Reason)
		}
	}
}

func BenchmarkLookupExact(b *testing.B) {
	cat := bigCatalogue(5000)
	ix := mapping.NewIndex(nil, cat)
	names := make([]string, 1024)
	for i := range names {
		names[i] = cat[(i*7919)%len(cat)].Name
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !ix.Lookup("p", mapping.KindTest, names[i%len(names)]).Mapped() {
			b.Fatal("did not map")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

// BenchmarkLookupMix: a run's realistic mix against a 5,000-entry
// catalogue and 2,000 aliases — a quarter each by alias, catalogue name,
// abbreviation and no match, names written with stray case and spaces.
func BenchmarkLookupMix(b *testing.B) {
	cat := bigCatalogue(5000)
	var entries []mapping.Entry
	for i := 0; i < 2000; i++ {
		entries = append(entries, mapping.Entry{Scope: []string{"", "sunrise"}[i%2], Kind: mapping.KindTest,
			LocalName: fmt.Sprintf("Local Name %d", i), Target: cat[i].ID, TargetKey: mapping.KeyID})
	}
	ix := mapping.NewIndex(entries, cat)
	names := make([]string, 1024)
	for i := range names {
		it := cat[(i*7919)%len(cat)]
		switch i % 4 {
		case 0:
			names[i] = fmt.Sprintf(" local name %d", i%2000)
		case 1:
			names[i] = strings.ToUpper(it.Name)
		case 2:
			names[i] = mapping.Abbreviation(it.Name)
		default:
			names[i] = it.Name[:len(it.Name)-4]
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ix.Lookup("sunrise", mapping.KindTest, names[i%len(names)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

func BenchmarkSuggest(b *testing.B) {
	cat := bigCatalogue(5000)
	ix := mapping.NewIndex(nil, cat)
	names := make([]string, 512)
	for i := range names {
		n := cat[(i*7919)%len(cat)].Name
		names[i] = n[:len(n)-3] + "x" // a typo
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ix.Suggest(mapping.KindTest, names[i%len(names)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "names/s")
}

// bigCatalogue makes n test entries with realistic-looking names.
func bigCatalogue(n int) []mapping.CatalogueItem {
	words := []string{"Serum", "Total", "Free", "Urine", "Blood", "Antibody", "Antigen", "Profile", "Panel", "Level",
		"Vitamin", "Hormone", "Culture", "Fasting", "Random", "Plasma", "Screen", "Index", "Ratio", "Count"}
	out := make([]mapping.CatalogueItem, n)
	for i := range out {
		name := fmt.Sprintf("%s %s %s %d (T%dX%d)", words[i%20], words[(i/20)%20], words[(i/400)%20], i, i%97, i)
		out[i] = mapping.CatalogueItem{Kind: mapping.KindTest, ID: fmt.Sprintf("%024x", i), Name: name}
	}
	return out
}

// BenchmarkNewIndex: building the index once per run, 5,000 catalogue
// entries and 2,000 aliases.
func BenchmarkNewIndex(b *testing.B) {
	cat := bigCatalogue(5000)
	var entries []mapping.Entry
	for i := 0; i < 2000; i++ {
		entries = append(entries, mapping.Entry{Kind: mapping.KindTest, LocalName: fmt.Sprintf("Local Name %d", i), Target: cat[i].ID, TargetKey: mapping.KeyID})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		mapping.NewIndex(entries, cat)
	}
}
