package config

import (
	_ "embed"

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
