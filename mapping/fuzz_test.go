package mapping_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flabsync/flabsync/fixtures"
	"github.com/flabsync/flabsync/mapping"
)

// FuzzReadTable: whatever a mapping file holds, reading it never panics;
// every line read comes from a row with something in it; and what is read
// survives being written and read again unchanged.
func FuzzReadTable(f *testing.F) {
	f.Add(string(fixtures.Mappings()))
	f.Add("Local Name;Kind;ID\n'=1+1;test;x\n\"a\nb\";package;y\n")
	f.Add("title\n\npartner,kind,local_name,id,flabs_id\n,test,,,\n")
	// NULs all on one side of a UTF-16 code unit once the extra column
	// is dropped: written back, the table must not read as UTF-16.
	f.Add("kind,local_name,id,extra\nt," + strings.Repeat("a\x00", 500) + ",1,\x00\x00\n")
	f.Fuzz(func(t *testing.T, text string) {
		lines, err := mapping.ReadTable(strings.NewReader(text))
		if err != nil {
			return
		}
		for _, l := range lines {
			if l.Row < 1 {
				t.Fatalf("line %+v has no row", l)
			}
			if l.Partner+l.Kind+l.LocalName+l.ID+l.FlabsID == "" {
				t.Fatalf("blank line read: %+v", l)
			}
		}
		var buf bytes.Buffer
		if err := mapping.WriteTable(&buf, lines); err != nil {
			t.Fatalf("write back: %v", err)
		}
		back, err := mapping.ReadTable(&buf)
		if err != nil {
			t.Fatalf("read back %q: %v", buf.String(), err)
		}
		noRows := func(ls []mapping.Line) []mapping.Line {
			out := []mapping.Line{}
			for _, l := range ls {
				l.Row = 0
				out = append(out, l)
			}
			return out
		}
		if d := cmp.Diff(noRows(lines), noRows(back)); d != "" {
			t.Fatalf("round trip of %q (-read +reread):\n%s", text, d)
		}
	})
}

// FuzzLookupSuggest: a name maps only to a catalogue entry whose name or
// unique abbreviation has the same key, or whose name is the name's key
// followed by its parenthesised abbreviation (a name part); suggestions
// are at most three, ranked, scored in [0, 1], with a reason and a target.
func FuzzLookupSuggest(f *testing.F) {
	cat := catalogue(f)
	ix := mapping.NewIndex(nil, cat)
	for _, s := range []string{"CBC", "Vitamin D3", "T4", "FT-4", "Hb", "HbA1c", "liver function test", "Thyroid Profile (T3 T4 TSH)", "ＣＢＣ", "",
		"Complete Blood Count", "Free T4", "Haemoglobin", "Vitamin D Total", "Thyroid Profile", "Urine Calcium", "PT INR", "C/S", "Total T3"} {
		f.Add(s)
	}
	lines, _ := loadCorpus(f) // how clinics write names
	for _, l := range lines {
		f.Add(l.Name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		m := ix.Lookup("p", mapping.KindTest, name)
		if m.Mapped() {
			k := mapping.Key(name)
			ok := false
			for _, it := range cat {
				if it.ID != m.Target {
					continue
				}
				switch m.How {
				case mapping.MatchCatalogue:
					ok = mapping.Key(it.Name) == k
				case mapping.MatchAbbreviation:
					ok = mapping.Abbreviation(it.Name) == k
				case mapping.MatchNamePart:
					ok = strings.HasPrefix(mapping.Key(it.Name), k+" (") && strings.HasSuffix(mapping.Key(it.Name), ")")
				}
			}
			if !ok {
				t.Fatalf("%q mapped to %s (%q) by %s without an exact name, abbreviation or name part", name, m.Target, m.Catalogue, m.How)
			}
		}
		ss := ix.Suggest(mapping.KindTest, name)
		if len(ss) > mapping.MaxSuggestions {
			t.Fatalf("%d suggestions", len(ss))
		}
		for i, s := range ss {
			if s.Score < 0 || s.Score > 1 || s.Reason == "" || s.Target == "" {
				t.Fatalf("suggestion %+v", s)
			}
			if i > 0 && s.Score > ss[i-1].Score {
				t.Fatalf("not ranked: %+v", ss)
			}
		}
	})
}
