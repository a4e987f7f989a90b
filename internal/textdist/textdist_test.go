package textdist_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/flabsync/flabsync/internal/textdist"
)

func TestDistance(t *testing.T) {
	long := strings.Repeat("haemoglobin ", 20) // over the stack buffer
	for _, tt := range []struct {
		name string
		a, b string
		want int
	}{
		{"both empty", "", "", 0},
		{"one empty", "", "abc", 3},
		{"equal", "thyroid", "thyroid", 0},
		{"substitution", "kitten", "sitten", 1},
		{"classic", "kitten", "sitting", 3},
		{"insertion", "t4", "ft4", 1},
		{"deletion", "vitamin d3", "vitamin d", 1},
		{"case counts", "CBC", "cbc", 3},
		{"runes, not bytes", "café", "cafe", 1},
		{"all runes", "ｃｂｃ", "cbc", 3},
		{"mixed scripts", "hämoglobin", "haemoglobin", 2},
		{"long", long + "x", long + "y", 1},
		{"long vs empty", long, "", utf8.RuneCountInString(long)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := textdist.Distance(tt.a, tt.b); got != tt.want {
				t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := textdist.Distance(tt.b, tt.a); got != tt.want {
				t.Errorf("Distance(%q, %q) = %d, want %d", tt.b, tt.a, got, tt.want)
			}
		})
	}
}

func TestSimilarityPrefix(t *testing.T) {
	for _, tt := range []struct {
		name      string
		a, b      string
		prefix    int
		full, pre float64
	}{
		{"both empty", "", "", 0, 1, 1},
		{"equal", "tsh", "tsh", 3, 1, 1},
		{"nothing alike", "abc", "xyz", 0, 0, 0},
		{"name without its abbreviation", "vitamin d", "vitamin d (vd)", 9, 1 - 5.0/14, 1},
		{"prefix past the end is the whole", "abc", "abd", 10, 1 - 1.0/3, 1 - 1.0/3},
		{"negative prefix is empty", "ab", "ab", -1, 1, 0},
		{"prefix counts runes", "café", "café (c)", 4, 0.5, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			full, pre := textdist.SimilarityPrefix(tt.a, tt.b, tt.prefix)
			if !near(full, tt.full) || !near(pre, tt.pre) {
				t.Errorf("SimilarityPrefix(%q, %q, %d) = %.4f, %.4f; want %.4f, %.4f", tt.a, tt.b, tt.prefix, full, pre, tt.full, tt.pre)
			}
			if s := textdist.Similarity(tt.a, tt.b); !near(s, tt.full) {
				t.Errorf("Similarity(%q, %q) = %.4f, want %.4f", tt.a, tt.b, s, tt.full)
			}
		})
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// FuzzDistance holds the two-row table (and its ASCII path) equal to the
// textbook full table on runes.
func FuzzDistance(f *testing.F) {
	f.Add("kitten", "sitting")
	f.Add("café", "cafe")
	f.Add("", "ｃｂｃ")
	f.Add("\xff", "ÿ")
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 300 || len(b) > 300 {
			return
		}
		if got, want := textdist.Distance(a, b), reference([]rune(a), []rune(b)); got != want {
			t.Fatalf("Distance(%q, %q) = %d, want %d", a, b, got, want)
		}
		if s := textdist.Similarity(a, b); s < 0 || s > 1 {
			t.Fatalf("Similarity(%q, %q) = %v", a, b, s)
		}
	})
}

func reference(a, b []rune) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
		}
	}
	return d[len(a)][len(b)]
}
