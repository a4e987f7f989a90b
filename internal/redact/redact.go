// Package redact hides secrets in connection strings so they can be
// printed, logged and shown by `config check`: the one masker of the
// project (database URLs, SMTP URLs, key=value DSNs). A leaf.
package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Mask is what a hidden secret is shown as.
const Mask = "xxxxx"

var keyValuePassword = regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|\S+)`)

// URL returns s with any password hidden: the userinfo password of a URL
// (postgres://u:p@h/db, smtp://u:p@h), a password query parameter, and a
// password=… pair of a key=value DSN. What cannot be parsed keeps only
// what follows its last '@'.
func URL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || (u.Opaque != "" && strings.Contains(s, "@")) {
		if keyValuePassword.MatchString(s) {
			return keyValuePassword.ReplaceAllString(s, "${1}"+Mask)
		}
		if i := strings.LastIndex(s, "@"); i >= 0 {
			return "…" + s[i:]
		}
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), Mask)
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", Mask)
		u.RawQuery = q.Encode()
	}
	return u.String()
}
