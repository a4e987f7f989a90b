// Package report turns a reconciliation run into what operations read:
// the exception workbook (XLSX, written with excelize stream writers so a
// million exceptions never sit in memory), the per-partner reject files
// (CSV in the partner's own columns plus a reason), and the email digest
// sent over SMTP with the workbook attached.
//
// The workbook is ops' screen and prints: every sheet fits one page wide
// in landscape, repeats its header row and carries a footer with the
// run's time and page numbers; a category sheet's rows come in the
// order they stream (package rules sends them by partner, file and row
// number, categories in the Summary's order), its Action column offers
// close, snooze and reopen as a list beside a Snooze until day, and a
// hidden Fingerprint column holds what each decision is checked against
// when the workbook comes back (ParseDecisions).
//
// It knows nothing of how exceptions are found: package reconcile fills a
// Data and hands it over. Everything a partner wrote is written as text —
// a string cell in XLSX, an apostrophe-escaped cell in CSV — so a cell
// starting with = + - @ never runs as a formula.
package report
