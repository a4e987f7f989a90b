package reconcile_test

import (
	"testing"

	"github.com/flabsync/flabsync/internal/redact"
	"github.com/flabsync/flabsync/reconcile"
)

// TestShownDetail: every category's detail leaves the ledger without a
// partner's cell (the elision itself is redact.Show's, fuzzed there);
// flabsync's own words, quoted with redact.Term, stay readable.
func TestShownDetail(t *testing.T) {
	for _, tt := range []struct {
		cat      reconcile.Category
		in, want string
	}{
		{reconcile.CategoryRejectedRow, `bad_age: age "Asha Rao" is not a number`, `bad_age: age "…" is not a number`},
		{reconcile.CategoryRejectedRow, `bad_gender: gender "say \"N/A\"" is not male, female or other`, `bad_gender: gender "…" is not male, female or other`},
		{reconcile.CategoryRejectedRow, `missing_name: patient name is empty`, `missing_name: patient name is empty`},
		{reconcile.CategoryFileRefused, `no row of the sheet is valid: all 2 rows (row 2: age "Asha" is not a number)`, `no row of the sheet is valid: all 2 rows (row 2: age "…" is not a number)`},
		{reconcile.CategoryFileRefused, `sheet "Asha Rao": no usable header row`, `sheet "…": no usable header row`},
		{reconcile.CategoryUnmappedTest, "test " + redact.Term("Trop T") + " sent unmapped in 3 booking(s)", `test 'Trop T' sent unmapped in 3 booking(s)`},
	} {
		if got := reconcile.ShownDetail(tt.cat, tt.in); got != tt.want {
			t.Errorf("ShownDetail(%s, %q) = %q, want %q", tt.cat, tt.in, got, tt.want)
		}
	}
}
