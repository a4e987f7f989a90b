package reconcile_test

import (
	"strings"
	"testing"

	"github.com/flabsync/flabsync/reconcile"
)

func TestShownDetail(t *testing.T) {
	for in, want := range map[string]string{
		`bad_age: age "Asha Rao" is not a number`:                       `bad_age: age "…" is not a number`,
		`bad_date: date "31/02/1990" is not a real date`:                `bad_date: date "…" is not a real date`,
		`duplicate_barcode: barcode "BC000102" is also on row 3`:        `duplicate_barcode: barcode "…" is also on row 3`,
		`bad_gender: gender "say \"N/A\"" is not male, female or other`: `bad_gender: gender "…" is not male, female or other`,
		`missing_name: patient name is empty`:                           `missing_name: patient name is empty`,
		`x: "unclosed`:                                                  `x: "…"`,
		`age "a" and "b"`:                                               `age "…" and "…"`,
	} {
		if got := reconcile.ShownDetail(reconcile.CategoryRejectedRow, in); got != want {
			t.Errorf("ShownDetail(%q) = %q, want %q", in, got, want)
		}
	}
	// Other categories' details quote names ops need (a test name, a
	// lead source), not a patient's cells: shown as they are.
	if d := `name "Trop T" sent unmapped 3 times`; reconcile.ShownDetail(reconcile.CategoryUnmappedTest, d) != d {
		t.Error("an unmapped test's detail was elided")
	}
}

func FuzzShownDetail(f *testing.F) {
	for _, s := range []string{`age "Asha" is not a number`, `"`, `\"`, `a "b\" c" d`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := reconcile.ShownDetail(reconcile.CategoryRejectedRow, s)
		if strings.Count(got, `"`)%2 != 0 {
			t.Fatalf("unbalanced quotes in %q (from %q)", got, s)
		}
		if !strings.Contains(s, `"`) && got != s {
			t.Fatalf("%q changed to %q with nothing quoted", s, got)
		}
	})
}
