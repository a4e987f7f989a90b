package doctor_test

import (
	"context"
	"strings"
	"testing"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/doctor"
)

// TestConfigWarnings: settings that are valid but probably not meant are
// warnings, never failures.
func TestConfigWarnings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*config.Config)
		path string
		want []string // empty: no warning
	}{
		{"OK", func(c *config.Config) {}, "flabsync.yaml", nil},
		{"NoFile", func(c *config.Config) {}, "", []string{"no config file found"}},
		{"PartnerWithoutLeadSource", func(c *config.Config) {
			c.DefaultLeadSource = ""
			c.Partners = map[string]config.Partner{"sunrise": {}, "metro": {LeadSource: "metro"}}
		}, "flabsync.yaml", []string{"no lead_source for partner sunrise and no default_lead_source"}},
		{"DefaultLeadSourceCovers", func(c *config.Config) {
			c.Partners = map[string]config.Partner{"sunrise": {}}
		}, "flabsync.yaml", nil},
		{"PlainHTTPRemote", func(c *config.Config) { c.Flabs.BaseURL = "http://flabs.example.com" }, "flabsync.yaml",
			[]string{"flabs.base_url http://flabs.example.com is plain http"}},
		{"PlainHTTPLoopback", func(c *config.Config) { c.Flabs.BaseURL = "http://127.0.0.1:9191" }, "flabsync.yaml", nil},
		{"PlainHTTPLocalhost", func(c *config.Config) { c.Flabs.BaseURL = "http://localhost:9191" }, "flabsync.yaml", nil},
		{"NoFlabsURL", func(c *config.Config) { c.Flabs.BaseURL = "" }, "flabsync.yaml", []string{"flabs.base_url is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.DefaultLeadSource = "sheet"
			cfg.Flabs.BaseURL = "https://v2.flabs.in"
			cfg.Flabs.ClientID, cfg.Flabs.ClientSecret = "id", "secret"
			tt.edit(&cfg)
			c := doctor.CheckConfig(context.Background(), &cfg, doctor.Options{ConfigPath: tt.path})
			if !c.OK || c.Warning != (len(tt.want) > 0) {
				t.Errorf("ok=%v warning=%v, want ok and warning=%v: %s", c.OK, c.Warning, len(tt.want) > 0, c.Detail)
			}
			for _, w := range tt.want {
				if !strings.Contains(c.Detail, w) {
					t.Errorf("detail lacks %q: %s", w, c.Detail)
				}
			}
		})
	}
}
