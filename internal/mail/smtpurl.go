package mail

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// TLSMode is how a connection to the SMTP server is protected.
type TLSMode string

// The TLS modes. An smtps:// URL is TLSImplicit; smtp:// takes the
// starttls parameter, which defaults to required when the URL carries a
// password (never send one in clear) and opportunistic otherwise.
const (
	TLSImplicit      TLSMode = "implicit"      // smtps://: TLS from the first byte
	TLSRequired      TLSMode = "required"      // STARTTLS, or no mail
	TLSOpportunistic TLSMode = "opportunistic" // STARTTLS when the server offers it
	TLSNone          TLSMode = "none"          // never STARTTLS
)

// Default ports.
const (
	DefaultSMTPPort  = 587 // submission, STARTTLS
	DefaultSMTPSPort = 465 // implicit TLS
)

// SMTPURL is a parsed mail.smtp_url.
type SMTPURL struct {
	Host     string
	Port     int
	TLS      TLSMode
	Username string
	Password string
}

// Auth reports whether the URL asks for authentication.
func (u SMTPURL) Auth() bool { return u.Username != "" }

// String is the URL with the password masked, for messages and logs.
func (u SMTPURL) String() string {
	scheme := "smtp"
	if u.TLS == TLSImplicit {
		scheme = "smtps"
	}
	s := scheme + "://"
	if u.Username != "" {
		s += url.User(u.Username).String()
		if u.Password != "" {
			s += ":xxxxx"
		}
		s += "@"
	}
	s += net.JoinHostPort(u.Host, strconv.Itoa(u.Port))
	if scheme == "smtp" {
		s += "?starttls=" + string(u.TLS)
	}
	return s
}

// ErrSMTPURL is wrapped by every error of ParseSMTPURL.
var ErrSMTPURL = errors.New("bad mail.smtp_url")

// ParseSMTPURL parses smtp://[user[:pass]@]host[:port][?starttls=required|opportunistic|none]
// or smtps://[user[:pass]@]host[:port]. User and password are
// percent-decoded. Errors never repeat the password.
func ParseSMTPURL(raw string) (SMTPURL, error) {
	bad := func(format string, args ...any) (SMTPURL, error) {
		return SMTPURL{}, fmt.Errorf("%w: %s", ErrSMTPURL, fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(raw) == "" {
		return bad("empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url's errors quote the whole URL, password included.
		return bad("not a URL of the form smtp://user:pass@host:587")
	}
	var out SMTPURL
	switch strings.ToLower(u.Scheme) {
	case "smtp":
		out.Port = DefaultSMTPPort
	case "smtps":
		out.Port, out.TLS = DefaultSMTPSPort, TLSImplicit
	default:
		return bad("scheme %q: use smtp:// (STARTTLS) or smtps:// (implicit TLS)", u.Scheme)
	}
	if u.Opaque != "" {
		return bad("write smtp://host, with the two slashes")
	}
	out.Host = u.Hostname()
	if out.Host == "" {
		return bad("no host")
	}
	if !validHost(out.Host) {
		return bad("host %q is neither a host name nor an IP address", out.Host)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return bad("port %q is not 1-65535", p)
		}
		out.Port = n
	}
	if u.Path != "" && u.Path != "/" {
		return bad("unexpected path %q", u.Path)
	}
	if u.Fragment != "" {
		return bad("unexpected fragment")
	}
	if u.User != nil {
		out.Username = u.User.Username()
		out.Password, _ = u.User.Password()
		if out.Username == "" {
			return bad("a password without a user name")
		}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("query: %v", err)
	}
	for k, vs := range q {
		if k != "starttls" {
			return bad("unknown parameter %q (only starttls)", k)
		}
		if len(vs) != 1 {
			return bad("starttls given %d times", len(vs))
		}
		if out.TLS == TLSImplicit {
			return bad("starttls with smtps://: smtps is TLS from the start")
		}
		switch m := TLSMode(strings.ToLower(vs[0])); m {
		case TLSRequired, TLSOpportunistic, TLSNone:
			out.TLS = m
		default:
			return bad("starttls=%q: use required, opportunistic or none", vs[0])
		}
	}
	if out.TLS == "" {
		out.TLS = TLSOpportunistic
		if out.Password != "" {
			out.TLS = TLSRequired
		}
	}
	return out, nil
}

// validHost accepts an IP address (no zone) or a DNS name.
func validHost(h string) bool {
	if ip := net.ParseIP(h); ip != nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}
