package webhook

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"slices"
	"strconv"

	"github.com/flabsync/flabsync/internal/flabs"
)

// keyVersion prefixes the hashed material, so a change of recipe cannot
// match keys made by the old one.
const keyVersion = "flabsync/webhook-key/v1"

// Key is the dedupe key of an event: its eventTime in 10 decimal digits
// (so keys sort by time), a dash,
// and 160 bits (40 hex digits) of the SHA-256 of the event type,
// integrator ID, bill ID, eventTime, the bill's tests (ID and status,
// sorted) and a hash of the canonical body, e.g.
// "1795939200-3f1c…".
//
// Flabs sends no event or delivery ID (flabs-api.md §4.2), so identity has
// to come from the payload. The named fields say what an event is; the
// body hash keeps two events apart that differ only in a field the docs
// do not list. canonical is the body re-encoded with sorted keys and no
// white space, so the same event sent again with other spacing or key
// order is the same key.
func Key(ev *flabs.Event, canonical []byte) string {
	h := sha256.New()
	field(h, keyVersion)
	field(h, ev.EventType)
	field(h, ev.Data.IntegratorID)
	field(h, ev.Data.BillID)
	field(h, strconv.FormatInt(ev.EventTime, 10))
	tests := slices.Clone(ev.Data.BillData.TestData)
	slices.SortFunc(tests, func(a, b flabs.TestStatus) int {
		return cmp.Or(cmp.Compare(a.ID, b.ID), cmp.Compare(a.Status, b.Status))
	})
	field(h, strconv.Itoa(len(tests)))
	for _, t := range tests {
		field(h, t.ID)
		field(h, t.Status)
	}
	body := sha256.Sum256(canonical)
	field(h, string(body[:]))
	sum := h.Sum(nil)
	// eventTime first: events arrive roughly in time order, so new keys
	// land near one another in the unique index instead of all over it.
	// 160 bits of the hash stay.
	return fmt.Sprintf("%010d-%x", ev.EventTime, sum[:20])
}

// field writes s length-prefixed, so no two field lists hash alike.
func field(h hash.Hash, s string) {
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
	h.Write([]byte(s))
}
