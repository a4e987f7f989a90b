package report

import (
	"strings"
	"unicode"
)

// The exception categories, as package reconcile names them.
const (
	CategoryRejectedRow   = "rejected_row"
	CategorySubmitFailed  = "submit_failed"
	CategoryNoBill        = "no_bill"
	CategoryNotCompleted  = "not_completed"
	CategoryBillDeleted   = "bill_deleted"
	CategoryOrphanEvent   = "orphan_event"
	CategoryDuplicateBill = "duplicate_bill"
	CategoryTestMismatch  = "test_mismatch"
	CategoryUnmappedTest  = "unmapped_test"
	CategoryMissingDrop   = "missing_drop"
)

// Categories lists every known category in the order the Summary shows
// them: from the start of a booking's journey to its end.
var Categories = []string{
	CategoryMissingDrop, CategoryRejectedRow, CategoryUnmappedTest, CategorySubmitFailed,
	CategoryNoBill, CategoryNotCompleted, CategoryBillDeleted, CategoryDuplicateBill,
	CategoryTestMismatch, CategoryOrphanEvent,
}

// The exception statuses.
const (
	StatusNew      = "new"      // first seen in this run
	StatusOpen     = "open"     // seen before and still there
	StatusResolved = "resolved" // gone since the last run
)

// The age buckets, youngest first.
var AgeBuckets = []string{"0-24h", "24-48h", "48-72h", "72h+"}

var titles = map[string]string{
	CategoryRejectedRow:   "Rejected rows",
	CategorySubmitFailed:  "Submit failed",
	CategoryNoBill:        "No bill",
	CategoryNotCompleted:  "Not completed",
	CategoryBillDeleted:   "Bill deleted",
	CategoryOrphanEvent:   "Orphan events",
	CategoryDuplicateBill: "Duplicate bills",
	CategoryTestMismatch:  "Test mismatch",
	CategoryUnmappedTest:  "Unmapped tests",
	CategoryMissingDrop:   "Missing drops",
}

// Title is a category's sheet name: readable, at most 31 characters and
// free of the characters Excel refuses in sheet names. An unknown
// category gets a title made from its own name.
func Title(category string) string {
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
	}, strings.ReplaceAll(category, "_", " "))
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
