package reconcile

import "github.com/flabsync/flabsync/internal/redact"

// ShownDetail is an exception's detail as it leaves the ledger: the
// workbook, the digest, `exceptions list`, a decision's refusal. A
// detail may quote a partner's cells — a rejected row's age, date of
// birth, barcode or booking reference, which are a patient's — and what
// leaves the ledger is mailed and kept past retention.patient_data_days:
// redact.Show puts "…" in their place, for every category (flabsync's own
// words — a test's name, a column it knows — are quoted with redact.Term
// and stay). The reject file sent back to the partner keeps the cells.
func ShownDetail(_ Category, detail string) string {
	return redact.Show(detail).String()
}
