package redact_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/flabsync/flabsync/internal/redact"
)

func TestURL(t *testing.T) {
	for _, tt := range []struct {
		in, want string
	}{
		{"postgres://flabsync:s3cret@db:5432/flabsync?sslmode=require", "postgres://flabsync:xxxxx@db:5432/flabsync?sslmode=require"},
		{"postgresql://u@db/x", "postgresql://u@db/x"},
		{"postgres://db/x?user=u&password=s3cret", "postgres://db/x?password=xxxxx&user=u"},
		{"smtp://ops:s3cret@mail.lab.example:587", "smtp://ops:xxxxx@mail.lab.example:587"},
		{"smtps://mail.lab.example", "smtps://mail.lab.example"},
		{"sqlite:/var/lib/flabsync/flabsync.db", "sqlite:/var/lib/flabsync/flabsync.db"},
		{"host=db user=u password=s3cret dbname=x", "host=db user=u password=xxxxx dbname=x"},
		{"host=db password='s3 cret' dbname=x", "host=db password=xxxxx dbname=x"},
		{"postgres://u:s3cret@db:bad port/x", "…@db:bad port/x"},
		{"", ""},
	} {
		got := redact.URL(tt.in)
		if got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(got, "s3cret") || strings.Contains(got, "s3 cret") {
			t.Errorf("URL(%q) = %q shows the secret", tt.in, got)
		}
	}
}

// FuzzURL: whatever the user, password and host, the password of a URL
// built from them is not in what URL returns.
func FuzzURL(f *testing.F) {
	f.Add("u", "p4ss", "h:5432")
	f.Add("ops", "s3cret!", "mail.example")
	f.Fuzz(func(t *testing.T, user, pass, host string) {
		u := &url.URL{Scheme: "postgres", User: url.UserPassword(user, pass), Host: host, Path: "/db"}
		s := u.String()
		esc := strings.TrimPrefix(url.UserPassword("", pass).String(), ":")
		rest := strings.Replace(s, u.User.String(), url.User(user).String(), 1) // the URL without the password
		if len(esc) < 4 || strings.Contains(rest+redact.Mask+"…", esc) {
			return // too short, or also elsewhere in the URL, to tell apart
		}
		if got := redact.URL(s); strings.Contains(got, esc) {
			t.Errorf("URL(%q) = %q shows the password", s, got)
		}
	})
}
