// Package report turns a reconciliation run into what operations read:
// the exception workbook (XLSX, written with excelize stream writers so a
// million exceptions never sit in memory), the per-partner reject files
// (CSV in the partner's own columns plus a reason), and the email digest
// sent over SMTP with the workbook attached.
//
// It knows nothing of how exceptions are found: package reconcile fills a
// Data and hands it over. Everything a partner wrote is written as text —
// a string cell in XLSX, an apostrophe-escaped cell in CSV — so a cell
// starting with = + - @ never runs as a formula.
package report
