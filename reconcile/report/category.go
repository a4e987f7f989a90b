package report

import (
	"strings"
	"unicode"

	"github.com/flabsync/flabsync/reconcile"
)

var titles = map[reconcile.Category]string{
	reconcile.CategoryRejectedRow:   "Rejected rows",
	reconcile.CategorySubmitFailed:  "Submit failed",
	reconcile.CategoryNoBill:        "No bill",
	reconcile.CategoryNotCompleted:  "Not completed",
	reconcile.CategoryBillDeleted:   "Bill deleted",
	reconcile.CategoryOrphanEvent:   "Orphan events",
	reconcile.CategoryDuplicateBill: "Duplicate bills",
	reconcile.CategoryTestMismatch:  "Test mismatch",
	reconcile.CategoryUnmappedTest:  "Unmapped tests",
	reconcile.CategoryMissingDrop:   "Missing drops",
	reconcile.CategoryUnconfirmed:   "Unconfirmed",
	reconcile.CategoryNotSent:       "Not sent",
	reconcile.CategoryFileRefused:   "Refused files",
}

// Title is a category's sheet name: readable, at most 31 characters and
// free of the characters Excel refuses in sheet names. An unknown
// category gets a title made from its own name.
func Title(category reconcile.Category) string {
	if t, ok := titles[category]; ok {
		return t
	}
	t := strings.Map(func(r rune) rune {
		switch r {
		case ':', '\\', '/', '?', '*', '[', ']', '\'':
			return '_'
		}
		if r < ' ' {
			return -1
		}
		return r
	}, strings.ReplaceAll(string(category), "_", " "))
	t = strings.TrimSpace(t)
	if t == "" {
		t = "Other"
	}
	r := []rune(t)
	if len(r) > 20 { // room for " (category)" or " 2" on overflow sheets
		r = r[:20]
	}
	r[0] = unicode.ToUpper(r[0])
	t = strings.TrimSpace(string(r))
	switch strings.ToLower(t) {
	case "summary", "unmapped", "history":
		t += " (category)"
	}
	return t
}
