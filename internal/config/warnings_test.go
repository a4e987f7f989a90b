package config_test

import (
	"strings"
	"testing"

	"github.com/flabsync/flabsync/internal/config"
)

// TestWarnings: what config check and doctor warn about, and a complete
// setup that warns about nothing.
func TestWarnings(t *testing.T) {
	good := func() config.Config {
		c := config.Default()
		c.Flabs.BaseURL, c.Flabs.ClientID, c.Flabs.ClientSecret = "https://v2.flabs.in", "id", "secret"
		c.DefaultLeadSource = "partner sheet"
		return c
	}
	if c := good(); len(c.Warnings()) != 0 {
		t.Fatalf("a complete setup warns: %v", c.Warnings())
	}
	for name, c := range map[string]struct {
		edit func(*config.Config)
		want string
	}{
		"NoBaseURL":    {func(c *config.Config) { c.Flabs.BaseURL = "" }, "flabs.base_url is empty"},
		"NoSecret":     {func(c *config.Config) { c.Flabs.ClientSecret = "" }, "client_secret is empty"},
		"NoLeadSource": {func(c *config.Config) { c.DefaultLeadSource = "" }, "every booking is held"},
		"PartnerNoLead": {func(c *config.Config) {
			c.DefaultLeadSource = ""
			c.Partners = map[string]config.Partner{"sunrise": {}}
		}, "partners.sunrise.lead_source"},
		"PlainHTTPAfar":     {func(c *config.Config) { c.Flabs.BaseURL = "http://flabs.example.com" }, "plain http"},
		"ShortWebhookToken": {func(c *config.Config) { c.Webhook.AuthToken = "abc123" }, "webhook.auth_token is only 6 characters"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := good()
			c.edit(&cfg)
			if w := strings.Join(cfg.Warnings(), "\n"); !strings.Contains(w, c.want) {
				t.Errorf("warnings %q lack %q", w, c.want)
			}
		})
	}
	local := good()
	local.Flabs.BaseURL = "http://127.0.0.1:9191"
	if w := local.Warnings(); len(w) != 0 {
		t.Errorf("the local simulator over http warns: %v", w)
	}
}

// A webhook token of 16 characters or more draws no warning; nor does an
// empty one here (Validate refuses it unless webhook.allow_unauthenticated).
func TestWebhookTokenLength(t *testing.T) {
	for token, warns := range map[string]bool{"": false, "123456789012345": true, "1234567890123456": false, strings.Repeat("x", 48): false} {
		c := config.Default()
		c.Flabs.BaseURL, c.Flabs.ClientID, c.Flabs.ClientSecret = "https://v2.flabs.in", "id", "secret"
		c.DefaultLeadSource = "sheet"
		c.Webhook.AuthToken = token
		w := strings.Join(c.Warnings(), "\n")
		if got := strings.Contains(w, "webhook.auth_token"); got != warns {
			t.Errorf("token of %d characters: warns %v, want %v (%q)", len(token), got, warns, w)
		}
		if token != "" && strings.Contains(w, token) {
			t.Errorf("the warning shows the token: %q", w)
		}
	}
}

// Credentials inside flabs.base_url are masked wherever config shows the
// URL: config check's effective config, its warnings and its errors.
func TestBaseURLCredentialsMasked(t *testing.T) {
	for _, base := range []string{"http://apiuser:Pa55-w0rd@flabs.example.com/v2", "https://tok3n-in-user@flabs.example.com"} {
		c := config.Default()
		c.Flabs.BaseURL, c.Flabs.ClientID, c.Flabs.ClientSecret = base, "id", "secret"
		c.DefaultLeadSource = "sheet"
		shown := c.Effective() + strings.Join(c.Warnings(), "\n") + c.Flabs.ShownBaseURL()
		for _, secret := range []string{"Pa55-w0rd", "tok3n-in-user"} {
			if strings.Contains(shown, secret) {
				t.Errorf("%s: shown with its credentials:\n%s", base, shown)
			}
		}
		if !strings.Contains(c.Effective(), "flabs.example.com") || !strings.Contains(c.Effective(), config.Masked) {
			t.Errorf("%s: effective config should show the host and the mask:\n%s", base, c.Effective())
		}
		bad := c
		bad.Flabs.BaseURL = "ftp://apiuser:Pa55-w0rd@flabs.example.com"
		if err := bad.Validate(); err == nil || strings.Contains(err.Error(), "Pa55-w0rd") {
			t.Errorf("validate error for a bad URL with credentials: %v", err)
		}
	}
	if got := (config.Flabs{BaseURL: "https://v2.flabs.in"}).ShownBaseURL(); got != "https://v2.flabs.in" {
		t.Errorf("a URL without credentials shown as %q", got)
	}
}
