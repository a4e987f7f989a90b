package reconcile

import "time"

// Category is the kind of problem an exception is.
type Category string

// The exception categories: stable names, part of the interface (sheet
// names in the workbook, `reconcile --json`, the exceptions table).
const (
	CategoryRejectedRow   Category = "rejected_row"
	CategorySubmitFailed  Category = "submit_failed"
	CategoryNoBill        Category = "no_bill"
	CategoryNotCompleted  Category = "not_completed"
	CategoryBillDeleted   Category = "bill_deleted"
	CategoryOrphanEvent   Category = "orphan_event"
	CategoryDuplicateBill Category = "duplicate_bill"
	CategoryTestMismatch  Category = "test_mismatch"
	CategoryUnmappedTest  Category = "unmapped_test"
	CategoryMissingDrop   Category = "missing_drop"
	CategoryUnconfirmed   Category = "unconfirmed"  // may or may not be booked; no webhook has settled it
	CategoryNotSent       Category = "not_sent"     // admitted, still not answered by Flabs after an hour
	CategoryFileRefused   Category = "file_refused" // a file the inbox refused: in errors/ with a note
)

// Categories lists every category in the order a booking meets them on
// its journey, which is the order the Summary and the digest show them.
var Categories = []Category{
	CategoryMissingDrop, CategoryFileRefused, CategoryRejectedRow, CategoryUnmappedTest, CategoryNotSent, CategorySubmitFailed,
	CategoryUnconfirmed, CategoryNoBill, CategoryNotCompleted, CategoryBillDeleted, CategoryDuplicateBill,
	CategoryTestMismatch, CategoryOrphanEvent,
}

// Status is where an exception stands.
type Status string

// The exception statuses.
const (
	StatusNew      Status = "new"      // first seen in this run
	StatusOpen     Status = "open"     // seen before and still there
	StatusResolved Status = "resolved" // gone since the last run
	StatusClosed   Status = "closed"   // a person settled it; back as new if its facts change
	StatusSnoozed  Status = "snoozed"  // a person hid it until a date
)

// Exception is one work item: a problem with a stable ID, so the same
// problem is the same item every night.
type Exception struct {
	ID              string   `db:"id" json:"id"`
	Category        Category `db:"category" json:"category"`
	Status          Status   `db:"status" json:"status"`
	Partner         string   `db:"partner" json:"partner"`
	IntegratorID    string   `db:"integrator_id" json:"integrator_id"`
	File            string   `db:"file" json:"file"`
	Row             int      `db:"row_num" json:"row"` // sheet row, 0 if none
	Detail          string   `db:"detail" json:"detail"`
	SuggestedAction string   `db:"suggested_action" json:"suggested_action"`
	// Since is when the thing happened that the exception is about: the
	// file received, the booking admitted or sent, the bill created or
	// deleted. Its age counts from here, not from when a run first saw it.
	Since     time.Time `db:"-" json:"since"`
	FirstSeen time.Time `db:"-" json:"first_seen"`
	LastSeen  time.Time `db:"-" json:"last_seen"`
	AgeBucket string    `db:"-" json:"age_bucket,omitempty"`
	Note      string    `db:"note" json:"note"` // a person's note: why it was closed or snoozed (kept when it comes back)
}

// Open reports whether the exception still needs a person: new or open.
func (e Exception) Open() bool { return e.Status == StatusNew || e.Status == StatusOpen }

// AgeBuckets are the age buckets, youngest first.
var AgeBuckets = []string{"0-24h", "24-48h", "48-72h", "72h+"}

// AgeBucket names how long ago, at at, since was: the age of an
// exception whose thing happened at since (Exception.Since).
func AgeBucket(since, at time.Time) string {
	switch d := at.Sub(since); {
	case d < 24*time.Hour:
		return AgeBuckets[0]
	case d < 48*time.Hour:
		return AgeBuckets[1]
	case d < 72*time.Hour:
		return AgeBuckets[2]
	}
	return AgeBuckets[3]
}

// RejectFile is one file's rejected rows as the partner wrote them, for
// the partner's reject file.
type RejectFile struct {
	Partner string
	File    string   // the name it came in under
	Path    string   // where it is now
	Header  []string // the partner's header row ("" cells trimmed off the end)
	Rows    []RejectRow
}

// RejectRow is one rejected row: its row number in the source file, its
// cells as the partner wrote them (nil when the file can no longer be
// read), and why it was rejected.
type RejectRow struct {
	Row    int
	Cells  []string
	Reason string
}
