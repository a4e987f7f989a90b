package mail_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/flabsync/flabsync/internal/mail"
)

func TestParseSMTPURL(t *testing.T) {
	ok := map[string]mail.SMTPURL{
		"smtp://mail.example.com":                    {Host: "mail.example.com", Port: 587, TLS: mail.TLSOpportunistic},
		"smtp://u:p@mail.example.com:25":             {Host: "mail.example.com", Port: 25, TLS: mail.TLSRequired, Username: "u", Password: "p"},
		"smtp://u@mail.example.com":                  {Host: "mail.example.com", Port: 587, TLS: mail.TLSOpportunistic, Username: "u"},
		"smtp://mail:2525?starttls=none":             {Host: "mail", Port: 2525, TLS: mail.TLSNone},
		"smtp://u:p@mail?starttls=opportunistic":     {Host: "mail", Port: 587, TLS: mail.TLSOpportunistic, Username: "u", Password: "p"},
		"SMTP://mail/?starttls=REQUIRED":             {Host: "mail", Port: 587, TLS: mail.TLSRequired},
		"smtps://ops%40example.com:p%2Fw@[::1]:4650": {Host: "::1", Port: 4650, TLS: mail.TLSImplicit, Username: "ops@example.com", Password: "p/w"},
		"smtps://ops@example.com:secret@mail":        {Host: "mail", Port: 465, TLS: mail.TLSImplicit, Username: "ops@example.com", Password: "secret"},
	}
	for in, want := range ok {
		got, err := mail.ParseSMTPURL(in)
		if err != nil || got != want {
			t.Errorf("ParseSMTPURL(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	bad := []string{
		"", "mail.example.com:587", "http://mail", "smtp:mail", "smtp://", "smtp://:p@mail", "smtp://mail:0",
		"smtp://mail:70000", "smtp://mail:x", "smtp://mail/path", "smtp://mail?tls=1", "smtp://mail?starttls=maybe",
		"smtps://mail?starttls=required", "smtp://mail?starttls=none&starttls=required", "smtp://mail#frag",
		"smtp://u:hunter2@mail:bad",
	}
	for _, in := range bad {
		_, err := mail.ParseSMTPURL(in)
		if !errors.Is(err, mail.ErrSMTPURL) {
			t.Errorf("ParseSMTPURL(%q): err %v, want ErrSMTPURL", in, err)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error %q shows the password", err)
		}
	}
}

func TestSMTPURLString(t *testing.T) {
	u, err := mail.ParseSMTPURL("smtp://ops:hunter2@mail:587")
	if err != nil {
		t.Fatal(err)
	}
	if got := u.String(); got != "smtp://ops:xxxxx@mail:587?starttls=required" {
		t.Errorf("String() = %q", got)
	}
}

// FuzzParseSMTPURL: any input parses or fails with ErrSMTPURL, never
// panics, never shows a password in an error or String, and what parses
// comes back the same from its own String with the password restored.
func FuzzParseSMTPURL(f *testing.F) {
	for _, s := range []string{
		"smtp://u:p@mail.example.com:587", "smtps://mail:465", "smtp://mail?starttls=none",
		"smtp://ops%40x:p%25@[::1]:25?starttls=opportunistic", "smtp://:p@h", "smtp://h:99999", "smtp:opaque",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := mail.ParseSMTPURL(raw)
		if err != nil {
			if !errors.Is(err, mail.ErrSMTPURL) {
				t.Fatalf("error %v is not ErrSMTPURL", err)
			}
			return
		}
		if u.Host == "" || u.Port < 1 || u.Port > 65535 {
			t.Fatalf("%q parsed to %+v", raw, u)
		}
		switch u.TLS {
		case mail.TLSImplicit, mail.TLSRequired, mail.TLSOpportunistic, mail.TLSNone:
		default:
			t.Fatalf("%q: TLS mode %q", raw, u.TLS)
		}
		if u.Password != "" && u.TLS == mail.TLSOpportunistic && !strings.Contains(strings.ToLower(raw), "starttls=") {
			t.Fatalf("%q: a password with opportunistic STARTTLS by default", raw)
		}
		s := u.String()
		if u.Password != "" && u.Password != "xxxxx" && strings.Contains(s, ":"+u.Password+"@") {
			t.Fatalf("String() %q shows the password", s)
		}
		again, err := mail.ParseSMTPURL(s)
		if err != nil {
			t.Fatalf("String() %q of %q does not parse: %v", s, raw, err)
		}
		if u.Password != "" {
			again.Password = u.Password
		}
		if again != u {
			t.Fatalf("%q → %+v → %q → %+v", raw, u, s, again)
		}
	})
}
