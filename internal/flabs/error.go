package flabs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Class says what a caller should do with a failed Flabs call. It is
// decided here, from the HTTP status and the shape of the answer, never
// from Flabs' words: the one place that reads an answer. What a refusal
// proves about a booking also depends on the booking's history, which
// the submitter knows (pipeline/submit's outcome).
type Class int

const (
	// ClassPermanent: Flabs refused the request (4xx other than 401/408/
	// 409/429, 403 included, or a 2xx with success:false, whatever its
	// wording). Resending the same request will fail the same way; never
	// retry. It is about this request only: other requests go on.
	ClassPermanent Class = iota + 1
	// ClassRetryable: 429, 5xx, a timeout or a broken connection. The same
	// request may succeed later; retry with back-off, same integrator_id.
	ClassRetryable
	// ClassAuth: the credentials were refused: an API call answered 401
	// again after the token was renewed, or a token endpoint refused the
	// client ID, secret or refresh token (any 4xx there but 408/429).
	// Retrying will not help until the config is fixed; the caller stops
	// sending altogether. errors.Is(err, ErrAuth) says the same.
	ClassAuth
	// ClassDuplicate: 409, the resource already exists. For billing create
	// this is how the simulator (and presumably Flabs) answers a repeated
	// integrator_id or barcode. errors.Is(err, ErrDuplicate) says the
	// same. It is a refusal like ClassPermanent: what it proves about a
	// booking depends on whether an earlier attempt may have booked it.
	ClassDuplicate
)

func (c Class) String() string {
	switch c {
	case ClassPermanent:
		return "permanent"
	case ClassRetryable:
		return "retryable"
	case ClassAuth:
		return "auth"
	case ClassDuplicate:
		return "duplicate"
	}
	return "unknown"
}

// Refusal reports whether c is Flabs refusing the request itself (a 4xx
// other than 401/408/429, or a 2xx saying success:false).
func (c Class) Refusal() bool { return c == ClassPermanent || c == ClassDuplicate }

// The classes as sentinels, for errors.Is: an *Error of ClassAuth is
// ErrAuth, one of ClassDuplicate is ErrDuplicate.
var (
	// ErrAuth: Flabs refused the credentials (flabs.client_id /
	// flabs.client_secret). Nothing can be sent until they are fixed.
	ErrAuth = errors.New("Flabs refused the credentials (flabs.client_id / flabs.client_secret)")
	// ErrDuplicate: Flabs answered 409, it already has what was sent.
	ErrDuplicate = errors.New("Flabs already has it (409)")
)

// Error is a failed Flabs call. Status is 0 when no HTTP answer arrived
// (timeout, refused or dropped connection); Err then holds the cause.
//
// Flabs' own words are kept only for calls that carry no patient data
// (tokens, subscriptions, catalogue lists): a billing create's refusal
// may echo the patient's name, age or barcode, so for it Message holds
// flabsync's own words at most, and what is kept of Flabs' answer is its
// status, the class and Flabs' error code. Error() is therefore safe to
// store, log and mail.
type Error struct {
	Op     string // e.g. "billing create"
	Status int    // HTTP status, 0 if none
	Class  Class  // what to do about it
	// Code is Flabs' error code, when its body had a short one ("code",
	// "errorCode" or "error_code": letters, digits, _ . -, at most 32).
	Code string
	// Message is flabsync's own words about the answer ("answer has no
	// preBookingID"), or, for a call that carries no patient data,
	// Flabs' message or a short excerpt of its body.
	Message    string
	RetryAfter time.Duration // from a Retry-After header, 0 if none
	Err        error         // underlying transport error, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("flabs ")
	b.WriteString(e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": %d %s", e.Status, http.StatusText(e.Status))
	}
	fmt.Fprintf(&b, " (%s", e.Class)
	if e.Code != "" {
		fmt.Fprintf(&b, ", code %s", e.Code)
	}
	b.WriteString(")")
	if e.Message != "" {
		fmt.Fprintf(&b, ": %q", e.Message)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrAuth) and errors.Is(err, ErrDuplicate) hold
// for an *Error of that class.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrAuth:
		return e.Class == ClassAuth
	case ErrDuplicate:
		return e.Class == ClassDuplicate
	}
	return false
}

// ClassOf returns the class of err: the Class of a wrapped *Error, or
// ClassRetryable for anything else that is not a context cancellation
// (transport trouble), and 0 for nil or a cancelled context.
func ClassOf(err error) Class {
	if err == nil {
		return 0
	}
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Class
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return 0
	}
	return ClassRetryable
}

// IsRetryable reports whether err is worth resending.
func IsRetryable(err error) bool { return ClassOf(err) == ClassRetryable }

// IsDuplicate reports whether Flabs answered 409 Conflict.
func IsDuplicate(err error) bool { return ClassOf(err) == ClassDuplicate }

// classify maps the HTTP status of an API call to a Class.
//
// Only 401 is about the credentials (flabs-api.md §2.4: the docs name no
// other status for a bad token, and the client renews the token once on a
// 401 before this is reached). A 403 is Flabs refusing this one request —
// e.g. a lead_source or lab this account may not book for — so it is
// ClassPermanent: the booking is rejected with Flabs' reason and the
// others keep going. (The token endpoints are different: see tokenCall.)
func classify(status int) Class {
	switch {
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout, status >= 500:
		return ClassRetryable
	case status == http.StatusUnauthorized:
		return ClassAuth
	case status == http.StatusConflict:
		return ClassDuplicate
	default:
		return ClassPermanent
	}
}

// MaxRetryAfter caps a Retry-After header so a bad value cannot park the
// submitter for hours.
const MaxRetryAfter = 5 * time.Minute

// parseRetryAfter reads a Retry-After header in seconds or HTTP-date form.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		d = time.Duration(secs * float64(time.Second))
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d < 0 {
		return 0
	}
	return min(d, MaxRetryAfter)
}
