package reconcile

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Fingerprint is what a person's decision on the exception id is checked
// against: a digest of its ID, its facts (its detail as shown,
// ShownDetail: what the person deciding saw) and its first_seen, which
// tells one occurrence from the next: a problem resolved and back with
// the same facts (a refused file dropped again) is a new occurrence, and
// a decision on the older one does not settle it. The
// workbook carries it in a hidden column beside each row, where nobody
// edits it, so a decision made on facts that have changed since — or on a
// row whose fingerprint was deleted or pasted from another row — is
// refused, whatever was done to the visible columns. It names no patient:
// it is a digest, and the detail it digests stays in the database. Twelve
// hex digits tell facts apart (a guard against stale decisions, not
// against forgery) at little cost in a workbook of a million rows.
func Fingerprint(id, detail string, firstSeen time.Time) string {
	h := sha256.New()
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write([]byte(detail))
	h.Write([]byte{0})
	h.Write([]byte(firstSeen.UTC().Format(time.RFC3339Nano)))
	return hex.EncodeToString(h.Sum(nil)[:6])
}
