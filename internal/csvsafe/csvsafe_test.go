package csvsafe_test

import (
	"testing"

	"github.com/flabsync/flabsync/internal/csvsafe"
)

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"=HYPERLINK(\"x\")": "'=HYPERLINK(\"x\")", "+91 98": "'+91 98", "-5": "'-5", "@SUM(A1)": "'@SUM(A1)",
		"\tx": "'\tx", "CBC": "CBC", "": "", "'=x": "'=x", "a=b": "a=b",
	} {
		if got := csvsafe.Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{"=1+1", "CBC", "", "'", "'=x", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := csvsafe.Escape(s)
		if e != "" && e[0] != '\'' && csvsafe.Escape(e) != e {
			t.Fatalf("Escape(%q) = %q still starts a formula", s, e)
		}
		if got := csvsafe.Unescape(e); got != s && !(len(s) > 1 && s[0] == '\'') {
			t.Fatalf("Unescape(Escape(%q)) = %q", s, got)
		}
	})
}
