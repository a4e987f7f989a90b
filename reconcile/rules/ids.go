package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/reconcile"
)

// Exception IDs name one problem the same way every night, in every
// install, after a re-drop and after the database is rebuilt from the
// same files: they are built from what the problem is about (a partner, a
// file's content, a row's position, an integrator ID, a bill ID), never
// from a database number, and never from a name a person typed into a
// sheet (clinics name tabs after patients, and IDs are mailed in the
// workbook). The expressions below are the one place each is built; the
// rules and migration 00012 (which rewrote the older ones) spell them the
// same way.

// sheetPos is the position (1, 2, …) of a rejected row's sheet r.sheet
// among the sheets read from files with f's content, in place of its
// name. A CSV, and a workbook read on one sheet, is 1. Names compare
// byte by byte in every install (PostgreSQL's default collation follows
// the server's locale; SQLite's is binary), as prune's sheetsToPositions
// and migration 00012 order them.
func sheetPos(d store.Dialect) string {
	collate := ""
	if d == store.Postgres {
		collate = ` COLLATE "C"`
	}
	return `CAST((SELECT COUNT(DISTINCT s.sheet) FROM sheet_rows s JOIN files h ON h.id = s.file_id
	WHERE h.sha256 = f.sha256 AND s.sheet` + collate + ` < r.sheet` + collate + `) + 1 AS TEXT)`
}

// rejectedRowID is a rejected row's ID: rejected_row:PARTNER:HASH:SHEET:ROW,
// HASH the first 16 hex digits of the file's SHA-256 (the same rows of
// the same content are one exception, however often the file is
// dropped), SHEET its sheetPos, ROW the row's number in the sheet. The
// rule groups by partner, content, sheet and row, so f and r are any
// file and row of the group.
func rejectedRowID(d store.Dialect) string {
	return `'rejected_row:' || f.partner || ':' || SUBSTR(f.sha256, 1, 16) || ':' || ` + sheetPos(d) + ` || ':' || CAST(r.row_num AS TEXT)`
}

// fileKey is how a file-level ID names the file in alias: its partner and
// the first 16 hex digits of its content's SHA-256, or — for a file the
// inbox refused unread, which has no hash — its partner, name and the UTC
// day it was received. The same file dropped again has the same key.
func fileKey(d store.Dialect, alias string) string {
	day := `SUBSTR(` + alias + `.created_at, 1, 10)`
	if d == store.Postgres {
		day = `TO_CHAR(` + alias + `.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`
	}
	return fmt.Sprintf(`%[1]s.partner || ':' || CASE WHEN %[1]s.sha256 <> '' THEN SUBSTR(%[1]s.sha256, 1, 16) ELSE %[1]s.name || ':' || %[2]s END`, alias, day)
}

// fileRefusedID is a refused file's ID: file_refused:PARTNER:HASH, or
// file_refused:PARTNER:NAME:YYYY-MM-DD for a file with no hash (fileKey).
func fileRefusedID(d store.Dialect) string {
	return `'file_refused:' || ` + fileKey(d, "f")
}

// latestOfItsKey keeps, of the refused files f with one fileKey, the
// latest received by the run's time: one exception for a file refused
// again on a re-drop, its detail the latest refusal's. Its parameters
// are latestOfItsKeyArgs.
func latestOfItsKey(d store.Dialect) string {
	return `NOT EXISTS (SELECT 1 FROM files n WHERE n.partner = f.partner AND n.status IN (?, ?) AND n.created_at <= ?
	AND n.id <> f.id AND (n.created_at > f.created_at OR (n.created_at = f.created_at AND n.id > f.id))
	AND ` + fileKey(d, "n") + ` = ` + fileKey(d, "f") + `)`
}

// latestOfItsKeyArgs are latestOfItsKey's parameters as of at.
func latestOfItsKeyArgs(at time.Time) []any {
	return []any{ledger.FileRefused, ledger.FileFailed, store.T(at)}
}

// byCategory orders exceptions e by their category as the Summary lists
// them (reconcile.Categories), unknown ones last: the workbook's sheets
// come in the Summary's order.
var byCategory = func() string {
	var b strings.Builder
	b.WriteString("CASE e.category")
	for i, c := range reconcile.Categories {
		fmt.Fprintf(&b, " WHEN '%s' THEN %d", strings.ReplaceAll(string(c), "'", "''"), i)
	}
	fmt.Fprintf(&b, " ELSE %d END", len(reconcile.Categories))
	return b.String()
}()

// sheetOrder is the workbook's order: the Summary's categories, then by
// partner, file and row number (as a number), then ID.
var sheetOrder = byCategory + ", e.category, e.partner, COALESCE(f.name, ''), e.row_num, e.id"
