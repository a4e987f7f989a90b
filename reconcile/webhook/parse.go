package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/reconcile"
)

// Limits on the fields that are stored in indexed columns. Flabs' IDs are
// 24-hex ObjectIds; integrator IDs are flabsync's own, never longer than
// flabs.MaxIntegratorIDLen (the pipeline and the client see to that).
// Anything longer is not a Flabs event about a booking of ours.
const (
	maxTypeLen = 64
	maxIDLen   = 256
)

// eventTime bounds: Unix seconds between 2000 and 2200. A millisecond
// timestamp (13 digits) falls outside and is refused rather than read as
// a date 50,000 years away.
var (
	minEventTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	maxEventTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
)

// Event is a parsed delivery: the payload and its dedupe key.
type Event struct {
	flabs.Event
	// Key identifies the event across deliveries (see Key).
	Key string
}

// Fold returns the event as the state machine takes it.
func (e *Event) Fold() reconcile.Event {
	return reconcile.Event{Type: e.EventType, IntegratorID: e.Data.IntegratorID, BillID: e.Data.BillID,
		Time: e.Time(), Tests: e.Data.BillData.TestData}
}

// ParseError is a body that is not a Flabs event. Reason says why in
// words fit for the 400 answer; it never quotes the body's values.
type ParseError struct{ Reason string }

func (e *ParseError) Error() string { return "webhook body: " + e.Reason }

// ErrInvalid matches every *ParseError with errors.Is.
var ErrInvalid = errors.New("invalid webhook body")

// Is makes errors.Is(err, ErrInvalid) true for a *ParseError.
func (e *ParseError) Is(target error) bool { return target == ErrInvalid }

func invalid(format string, args ...any) error {
	return &ParseError{Reason: fmt.Sprintf(format, args...)}
}

// Parse checks body is a Flabs webhook event (flabs-api.md §4.3) and
// returns it with its dedupe key. It is strict about shape and types —
// eventType and eventTime are required, and data.billID for bill and
// report events — and tolerant of what the docs leave open: unknown
// fields are kept in the key, statuses are opaque, events of unknown
// types parse (they are stored, not folded). Errors are *ParseError.
func Parse(body []byte) (*Event, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, invalid("empty body: want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, invalid("not JSON: %s", jsonReason(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, invalid("not JSON: more data after the first value")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, invalid("want a JSON object, got %s", kind(v))
	}
	var ev Event
	var problem error
	p := fields{obj: obj, err: &problem}
	ev.EventType = p.str("eventType", true, maxTypeLen)
	ev.LabID = p.str("labID", false, maxIDLen)
	ev.EventTime = p.unixTime("eventTime")
	_, billEvent := reconcile.StateOf(ev.EventType)
	if data := p.object("data", billEvent); data != nil {
		d := p.sub(data, "data.")
		ev.Data.BillID = d.str("billID", billEvent, maxIDLen)
		ev.Data.IntegratorID = d.str("integratorID", false, flabs.MaxIntegratorIDLen)
		ev.Data.ReportURL = d.str("reportURL", false, 0)
		if bd := d.object("billData", false); bd != nil {
			b := d.sub(bd, "data.billData.")
			ev.Data.BillData.Status = b.str("status", false, 0)
			ev.Data.BillData.TestData = b.tests("testData")
		}
	}
	if problem != nil {
		return nil, problem
	}
	canonical, err := json.Marshal(v)
	if err != nil { // cannot happen: v came from the decoder
		return nil, fmt.Errorf("webhook body: re-encode: %w", err)
	}
	ev.Key = Key(&ev.Event, canonical)
	return &ev, nil
}

// fields reads typed values out of a decoded object, keeping the first
// problem found (shared with the fields of nested objects).
type fields struct {
	obj  map[string]any
	path string
	err  *error
}

// sub reads the nested object obj, at path.
func (f *fields) sub(obj map[string]any, path string) *fields {
	return &fields{obj: obj, path: path, err: f.err}
}

func (f *fields) fail(format string, args ...any) {
	if *f.err == nil {
		*f.err = invalid(format, args...)
	}
}

func (f *fields) str(name string, required bool, maxLen int) string {
	v, ok := f.obj[name]
	if !ok || v == nil {
		if required {
			f.fail("%s%s is required", f.path, name)
		}
		return ""
	}
	s, ok := v.(string)
	switch {
	case !ok:
		f.fail("%s%s must be a string, got %s", f.path, name, kind(v))
	case required && s == "":
		f.fail("%s%s must not be empty", f.path, name)
	case maxLen > 0 && len(s) > maxLen:
		f.fail("%s%s is longer than %d bytes", f.path, name, maxLen)
	case strings.IndexByte(s, 0) >= 0:
		f.fail("%s%s contains a NUL character", f.path, name)
	}
	return s
}

func (f *fields) unixTime(name string) int64 {
	v, ok := f.obj[name]
	if !ok || v == nil {
		f.fail("%s%s is required", f.path, name)
		return 0
	}
	n, ok := v.(json.Number)
	if !ok {
		f.fail("%s%s must be a number (Unix seconds), got %s", f.path, name, kind(v))
		return 0
	}
	t, err := n.Int64()
	if err != nil {
		f.fail("%s%s must be a whole number of seconds", f.path, name)
		return 0
	}
	if t < minEventTime || t >= maxEventTime {
		f.fail("%s%s %d is not Unix seconds between 2000 and 2200", f.path, name, t)
		return 0
	}
	return t
}

func (f *fields) object(name string, required bool) map[string]any {
	v, ok := f.obj[name]
	if !ok || v == nil {
		if required {
			f.fail("%s%s is required", f.path, name)
		}
		return nil
	}
	o, ok := v.(map[string]any)
	if !ok {
		f.fail("%s%s must be an object, got %s", f.path, name, kind(v))
	}
	return o
}

func (f *fields) tests(name string) []flabs.TestStatus {
	v, ok := f.obj[name]
	if !ok || v == nil {
		return nil
	}
	arr, ok := v.([]any)
	if !ok {
		f.fail("%s%s must be an array, got %s", f.path, name, kind(v))
		return nil
	}
	out := make([]flabs.TestStatus, 0, len(arr))
	for i, it := range arr {
		o, ok := it.(map[string]any)
		if !ok {
			f.fail("%s%s[%d] must be an object, got %s", f.path, name, i, kind(it))
			return nil
		}
		t := f.sub(o, fmt.Sprintf("%s%s[%d].", f.path, name, i))
		out = append(out, flabs.TestStatus{ID: t.str("_id", false, maxIDLen), Status: t.str("status", false, maxTypeLen)})
		if *f.err != nil {
			return nil
		}
	}
	return out
}

// kind names a decoded JSON value's type for an error message.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// jsonReason shortens a decoder error, dropping Go type names.
func jsonReason(err error) string {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("%s at byte %d", se.Error(), se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	}
	return err.Error()
}
