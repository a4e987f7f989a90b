package flabs

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"
)

// TokenCheck is how a webhook delivery's token is checked — by the
// receiver, and by `flabsync doctor`'s stand-in for it. It compares a
// presented token with the configured one in constant time. Both are
// hashed first, so neither the content nor the length of the secret leaks
// through timing.
type TokenCheck struct {
	want [sha256.Size]byte
	off  bool // no token configured: every delivery is accepted
}

// NewTokenCheck checks against token ("" accepts every delivery).
func NewTokenCheck(token string) TokenCheck {
	return TokenCheck{want: sha256.Sum256([]byte(token)), off: token == ""}
}

// OK reports whether header (the value of webhook.auth_header) carries the
// token: "Bearer <token>" (any case, extra spaces allowed) or the bare
// token. Flabs does not document which it sends (flabs-api.md §4.2).
func (c TokenCheck) OK(header string) bool {
	if c.off {
		return true
	}
	v := strings.TrimSpace(header)
	if scheme, rest, found := strings.Cut(v, " "); found && strings.EqualFold(scheme, "Bearer") {
		v = strings.TrimSpace(rest)
	}
	if v == "" {
		return false
	}
	got := sha256.Sum256([]byte(v))
	return subtle.ConstantTimeCompare(got[:], c.want[:]) == 1
}
