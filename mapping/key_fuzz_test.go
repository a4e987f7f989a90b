package mapping

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzKey holds the ASCII fast path equal to the Unicode path, and Key
// stable: a key is its own key.
func FuzzKey(f *testing.F) {
	for _, s := range []string{" Vitamin D(25-OH ) ", "vitamin d (25-oh).", "HIV 1+2", "*Lipid Profile*", "T3 ( T4 ) [TSH]",
		"\tCBC\r\n", "((", ")x(", "Ｔ４", "Ｋ", "a  ( b", "-+-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		k := Key(s)
		if isASCII(s) {
			if u := keyUnicode(s); k != u {
				t.Fatalf("Key(%q): fast path %q, Unicode path %q", s, k, u)
			}
		}
		if kk := Key(k); kk != k {
			t.Fatalf("Key(%q) = %q, but Key(%q) = %q: not stable", s, k, k, kk)
		}
		if got := string(appendKey([]byte("prefix"), s)); got != "prefix"+k {
			t.Fatalf("appendKey(%q) = %q, want prefix+%q", s, got, k)
		}
		if strings.Contains(k, "  ") {
			t.Fatalf("Key(%q) = %q keeps a double space", s, k)
		}
	})
}
