package redact_test

import (
	"strings"
	"testing"

	"github.com/flabsync/flabsync/internal/redact"
)

func TestShow(t *testing.T) {
	for in, want := range map[string]string{
		`bad_age: age "Asha Rao" is not a number`:                       `bad_age: age "…" is not a number`,
		`bad_date: date "31/02/1990" is not a real date`:                `bad_date: date "…" is not a real date`,
		`duplicate_barcode: barcode "BC000102" is also on row 3`:        `duplicate_barcode: barcode "…" is also on row 3`,
		`bad_gender: gender "say \"N/A\"" is not male, female or other`: `bad_gender: gender "…" is not male, female or other`,
		`missing_name: patient name is empty`:                           `missing_name: patient name is empty`,
		`x: "unclosed`:                                                  `x: "…"`,
		`age "a" and "b"`:                                               `age "…" and "…"`,
		"no column " + redact.Term("patient name"):                      `no column 'patient name'`,
		"": "",
	} {
		if got := redact.Show(in).String(); got != want {
			t.Errorf("Show(%q) = %q, want %q", in, got, want)
		}
	}
	if redact.ShowErr(nil).String() != "" {
		t.Error("ShowErr(nil) is not empty")
	}
}

func FuzzShow(f *testing.F) {
	for _, s := range []string{`age "Asha" is not a number`, `"`, `\"`, `a "b\" c" d`, "", `'x' "y"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := redact.Show(s).String()
		if strings.Count(got, `"`)%2 != 0 {
			t.Fatalf("unbalanced quotes in %q (from %q)", got, s)
		}
		if !strings.Contains(s, `"`) && got != s {
			t.Fatalf("%q changed to %q with nothing quoted", s, got)
		}
		if redact.Show(got).String() != got {
			t.Fatalf("Show is not idempotent on %q", got)
		}
	})
}
