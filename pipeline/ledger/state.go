package ledger

import (
	"time"

	"github.com/flabsync/flabsync/internal/flabs"
)

// BookingState is where a booking stands in the ledger.
type BookingState string

// Booking states.
const (
	Pending   BookingState = "pending"   // admitted, not sent yet
	InFlight  BookingState = "in_flight" // a request is (or was, before a crash) on its way
	Retry     BookingState = "retry"     // a retryable failure; waiting for its next attempt
	Submitted BookingState = "submitted" // Flabs booked it: a preBookingID came back, or a bill event names it
	Rejected  BookingState = "rejected"  // Flabs refused it: never retried as it is
	Failed    BookingState = "failed"    // dead-lettered: retries or time ran out
	Held      BookingState = "held"      // not sent: something local is missing (lead_source)
	// Unconfirmed: a resend after an attempt whose outcome is unknown was
	// refused by Flabs (any refusal: a 4xx, a 409 or a 2xx saying
	// success:false, whatever its words; see submit.Decide). It may be
	// booked or not; the nightly run settles it by a bill event, or shows
	// it to ops.
	Unconfirmed BookingState = "unconfirmed"
)

// Final reports whether s ends a booking's run.
func (s BookingState) Final() bool {
	switch s {
	case Submitted, Rejected, Failed, Held, Unconfirmed:
		return true
	}
	return false
}

// RowStatus is what became of one sheet row.
type RowStatus string

// Row statuses.
const (
	RowAccepted  RowStatus = "accepted"  // part of a booking; its fate is the booking's
	RowRejected  RowStatus = "rejected"  // failed validation, never sent
	RowSkipped   RowStatus = "skipped"   // a total or repeated header row, passed over on purpose
	RowDuplicate RowStatus = "duplicate" // its booking was already submitted, by an earlier file or run
)

// FileStatus is where a file stands in the ledger.
type FileStatus string

// File statuses.
const (
	FileReading     FileStatus = "reading"     // being read and sent
	FileDone        FileStatus = "done"        // read to its end, every booking final
	FileInterrupted FileStatus = "interrupted" // read to its end, some bookings not final then (the run stopped, or they are left to another process or a resume)
	FileUnbalanced  FileStatus = "unbalanced"  // its rows do not add up: a bug, reported
	FileFailed      FileStatus = "failed"      // could not be read to its end
	FileDuplicate   FileStatus = "duplicate"   // same content as an earlier file: nothing sent
	FileAbandoned   FileStatus = "abandoned"   // the process stopped while reading it; it was taken again
	FileRefused     FileStatus = "refused"     // refused before it was read (empty, a link, a bad name): in errors/
)

// Job is a booking to send.
type Job struct {
	IntegratorID string
	Partner      string
	Request      *flabs.BillingRequest
	// MaybeBooked: an earlier attempt's outcome is unknown (it may have
	// booked), so a refusal of this one proves nothing.
	MaybeBooked bool
}

// Result is what became of a job: the answer the ledger settles.
type Result struct {
	IntegratorID string
	Partner      string
	State        BookingState
	PreBookingID string
	Attempts     int
	HTTPStatus   int // the last answer's status, 0 if none
	// Error is the last failure, for people: flabsync's words, Flabs'
	// status, class and error code, never Flabs' own words (they may echo
	// the patient). Blanked by Prune once the booking is settled.
	Error string
	// MaybeBooked: this or an earlier attempt ended without a definite
	// answer, so it may have booked.
	MaybeBooked bool
	NextAttempt time.Time
	// Holder is who sent it: Settle records the answer only while Holder
	// still holds the booking ("": whoever does).
	Holder string
}
