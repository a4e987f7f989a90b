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
		"PlainHTTPAfar": {func(c *config.Config) { c.Flabs.BaseURL = "http://flabs.example.com" }, "plain http"},
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
