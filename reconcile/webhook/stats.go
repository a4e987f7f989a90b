package webhook

import "sync/atomic"

// Reasons a delivery is refused, the keys of Stats.Rejected.
const (
	ReasonMethod       = "method"       // not a POST: 405
	ReasonUnauthorized = "unauthorized" // missing or wrong token: 401
	ReasonTooLarge     = "too_large"    // body over webhook.max_body: 413
	ReasonInvalid      = "invalid"      // not a Flabs event: 400 (the body is kept)
)

// Stats are the receiver's counters since New. Every delivery ends in
// exactly one of Stored, Duplicates, Rejected or Failed, so once no
// request is in flight Received = Stored + Duplicates + ΣRejected + Failed.
type Stats struct {
	Received   int64            // deliveries (and replayed bodies) taken in
	Stored     int64            // new events stored: answered 200
	Duplicates int64            // repeats of a stored event: answered 200, counted on the event
	Rejected   map[string]int64 // refused, by Reason*
	Failed     int64            // not stored (database error, or shutting down): answered 503
	Orphans    int64            // stored events naming no integrator ID flabsync sent (part of Stored)
	OtherLab   int64            // stored events of another lab than flabs.lab_id, never folded (part of Stored)
}

// RejectedTotal is how many deliveries were refused, whatever the reason.
func (s Stats) RejectedTotal() int64 {
	var n int64
	for _, v := range s.Rejected {
		n += v
	}
	return n
}

// counters are the live Stats.
type counters struct {
	received, stored, duplicates, failed, orphans, otherLab atomic.Int64
	method, unauthorized, tooLarge, invalid                 atomic.Int64
}

func (c *counters) reject(reason string) {
	switch reason {
	case ReasonMethod:
		c.method.Add(1)
	case ReasonUnauthorized:
		c.unauthorized.Add(1)
	case ReasonTooLarge:
		c.tooLarge.Add(1)
	case ReasonInvalid:
		c.invalid.Add(1)
	}
}

func (c *counters) snapshot() Stats {
	return Stats{
		Received:   c.received.Load(),
		Stored:     c.stored.Load(),
		Duplicates: c.duplicates.Load(),
		Failed:     c.failed.Load(),
		Orphans:    c.orphans.Load(),
		OtherLab:   c.otherLab.Load(),
		Rejected: map[string]int64{
			ReasonMethod:       c.method.Load(),
			ReasonUnauthorized: c.unauthorized.Load(),
			ReasonTooLarge:     c.tooLarge.Load(),
			ReasonInvalid:      c.invalid.Load(),
		},
	}
}
