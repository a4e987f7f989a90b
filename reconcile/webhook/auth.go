package webhook

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"
)

// tokenCheck compares a presented token with the configured one in
// constant time. Both are hashed first, so neither the content nor the
// length of the secret leaks through timing.
type tokenCheck struct {
	want [sha256.Size]byte
	off  bool // no token configured: every delivery is accepted
}

func newTokenCheck(token string) tokenCheck {
	return tokenCheck{want: sha256.Sum256([]byte(token)), off: token == ""}
}

// ok reports whether header (the value of webhook.auth_header) carries the
// token: "Bearer <token>" (any case, extra spaces allowed) or the bare
// token. Flabs does not document which it sends (flabs-api.md §4.2).
func (c tokenCheck) ok(header string) bool {
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
