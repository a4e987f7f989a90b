package report

import (
	"iter"
	"time"

	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/reconcile"
)

// FileCheck is one file's conservation check: RowsIn must equal the sum
// of the outcomes, and Balanced says whether it did.
type FileCheck struct {
	FileID                                                                                                int64
	Name, Partner, Status                                                                                 string
	ReceivedAt                                                                                            time.Time
	RowsIn, Submitted, Rejected, RejectedFlabs, Duplicate, Failed, Held, Skipped, Unconfirmed, Unfinished int
	Balanced                                                                                              bool
	Refused                                                                                               bool // never read to its end: in errors/ with a note
	Unread                                                                                                bool // being read, or its reader gone: not read to its end (yet)
}

// Data is everything a report is made of. Exceptions must come sorted by
// Category (then anything); it is an iterator so that a million of them
// are streamed, never held.
//
// WriteWorkbook counts the exceptions as they stream past; the Summary
// sheet and the digest show those counts. Counts, New and Open are the
// caller's own figures: when Counts is set, they must agree with what was
// streamed (else WriteWorkbook returns an *InconsistentError); when
// Counts is nil they are not used. Resolved is always taken from Data,
// since resolved exceptions need not be streamed.
type Data struct {
	At                  time.Time
	Counts              map[reconcile.Category]map[string]int // category → partner → open+new exceptions
	New, Open, Resolved int                                   // since the last run
	WalkInBills         int                                   // bills made inside Flabs: counted, not listed
	Exceptions          iter.Seq2[reconcile.Exception, error]
	Files               []FileCheck
	Unmapped            []mapping.ReviewRow
	Rejects             []reconcile.RejectFile
	// Trend is the open exceptions per category of the last runs, oldest
	// first (this one last); Oldest the longest-open exceptions.
	Trend  []reconcile.TrendPoint
	Oldest []reconcile.Exception

	// Location is the time zone dates are shown in (Excel cells carry
	// none); nil means time.Local.
	Location *time.Location
}

func (d *Data) location() *time.Location {
	if d.Location != nil {
		return d.Location
	}
	return time.Local
}
