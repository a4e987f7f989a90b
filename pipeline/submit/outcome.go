package submit

import (
	"errors"
	"net/http"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/pipeline/ledger"
)

// Verdict is what one answer proves about a booking.
type Verdict struct {
	// State is where the answer leaves the booking: Submitted, Rejected
	// or Unconfirmed (final); Retry when it is worth sending again (the
	// caller decides when, or that it has tried enough: Failed); Pending
	// when Flabs refused the credentials (not the booking's fault: it is
	// sent again once they are fixed, and the run stops).
	State ledger.BookingState
	// MaybeBooked: this attempt or an earlier one ended without a clear
	// answer, so the booking may exist at Flabs.
	MaybeBooked bool
	// Throttled: Flabs answered 429; the shared limiter slows down.
	Throttled bool
}

// Decide is the one place that says what an answer proves, from the
// answer's class (decided by internal/flabs from its status and shape,
// never its words) and the booking's history: maybeBooked says an earlier
// attempt's outcome is unknown (a timeout, a 5xx, a dropped connection,
// an unreadable 2xx, or a process that died with it in flight).
//
//   - No error: Flabs booked it (the client returns no error without a
//     preBookingID).
//   - A refusal (a 4xx, a 409, a 2xx with success:false): on a booking
//     nothing of ours can have reached, it is the booking's own: Rejected.
//     After an attempt whose outcome is unknown, any refusal, whatever its
//     wording or status, may be Flabs refusing a second copy of what it
//     already has: Unconfirmed, settled by a bill event or a person, never
//     counted as booked nor as refused.
//   - Credentials refused: Pending, and the run stops.
//   - Anything else (429, 5xx, timeout, transport): Retry. All but a 429
//     (Flabs saying it did not look at the request) may have booked.
func Decide(maybeBooked bool, err error) Verdict {
	v := Verdict{MaybeBooked: maybeBooked}
	switch class := flabs.ClassOf(err); {
	case err == nil:
		v.State = ledger.Submitted
	case class.Refusal():
		v.State = ledger.Rejected
		if maybeBooked {
			v.State = ledger.Unconfirmed
		}
	case class == flabs.ClassAuth:
		v.State = ledger.Pending
	default:
		v.State = ledger.Retry
		if status(err) == http.StatusTooManyRequests {
			v.Throttled = true
		} else {
			v.MaybeBooked = true
		}
	}
	return v
}

// status is the HTTP status of a Flabs error, 0 if none.
func status(err error) int {
	var fe *flabs.Error
	if errors.As(err, &fe) {
		return fe.Status
	}
	return 0
}
