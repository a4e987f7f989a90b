package config

import (
	_ "embed"
	"net/url"

	"gopkg.in/yaml.v3"

	"github.com/flabsync/flabsync/internal/redact"
)

//go:embed example.yaml
var example string

// Example returns a complete, commented configuration file whose values are
// the defaults.
func Example() string { return example }

// Masked is what a secret is printed as.
const Masked = redact.Mask

// Effective renders the configuration as YAML with every secret masked, for
// `flabsync config check`.
func (c Config) Effective() string {
	m := c
	if m.Flabs.ClientSecret != "" {
		m.Flabs.ClientSecret = Masked
	}
	if m.Webhook.AuthToken != "" {
		m.Webhook.AuthToken = Masked
	}
	m.Flabs.BaseURL = m.Flabs.ShownBaseURL()
	m.Database = redact.URL(m.Database)
	if m.Mail.SMTPURL != "" {
		m.Mail.SMTPURL = redact.URL(m.Mail.SMTPURL)
	}
	out, err := yaml.Marshal(m)
	if err != nil {
		// Config holds only strings, numbers, durations, lists and maps.
		panic("config: marshal: " + err.Error())
	}
	return string(out)
}

// ShownBaseURL is BaseURL as it may be printed or logged: credentials in
// it (https://user:secret@host) masked by redact.URL, and a user name
// alone (a token put there) masked too.
func (f Flabs) ShownBaseURL() string {
	if u, err := url.Parse(f.BaseURL); err == nil && u.User != nil {
		if _, ok := u.User.Password(); !ok && u.User.Username() != "" {
			u.User = url.User(Masked)
			return u.String()
		}
	}
	return redact.URL(f.BaseURL)
}
