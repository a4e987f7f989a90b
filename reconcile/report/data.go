package report

import (
	"iter"
	"time"

	"github.com/flabsync/flabsync/mapping"
)

// Exception is one work item.
type Exception struct {
	ID, Category, Status, Partner, IntegratorID, File string
	Row                                               int // sheet row, 0 if none
	AgeBucket                                         string
	FirstSeen, LastSeen                               time.Time
	Detail, SuggestedAction                           string
}

// Open reports whether the exception still needs a person: new or open.
func (e Exception) Open() bool { return e.Status == StatusNew || e.Status == StatusOpen }

// FileCheck is one file's conservation check: RowsIn must equal the sum
// of the outcomes, and Balanced says whether it did.
type FileCheck struct {
	FileID                                                                                   int64
	Name, Partner, Status                                                                    string
	ReceivedAt                                                                               time.Time
	RowsIn, Submitted, Rejected, RejectedFlabs, Duplicate, Failed, Held, Skipped, Unfinished int
	Balanced                                                                                 bool
}

// RejectFile is one partner's rejected rows as the partner wrote them.
type RejectFile struct {
	Partner, SourceFile string
	Header              []string // the partner's own header row
	Rows                []RejectRow
}

// RejectRow is one rejected row: its row number in the source file, its
// cells as the partner wrote them, and why it was rejected.
type RejectRow struct {
	Row    int
	Cells  []string
	Reason string
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
	Counts              map[string]map[string]int // category → partner → open+new exceptions
	New, Open, Resolved int                       // since the last run
	Exceptions          iter.Seq2[Exception, error]
	Files               []FileCheck
	Unmapped            []mapping.ReviewRow
	Rejects             []RejectFile

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
