package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// MinWebhookTokenLen is the shortest webhook.auth_token that draws no
// warning.
const MinWebhookTokenLen = 16

// Warnings lists settings that are valid but probably not meant, each
// saying what follows from it and what to set: `config check` prints
// them and `flabsync doctor` shows them.
func (c *Config) Warnings() []string {
	var w []string
	if c.Flabs.BaseURL == "" {
		w = append(w, "flabs.base_url is empty: import, serve and mapping sync need it (https://v2.flabs.in, or a simulator's URL); only demo runs without")
	} else if c.Flabs.ClientID == "" || c.Flabs.ClientSecret == "" {
		w = append(w, "flabs.client_id or flabs.client_secret is empty: Flabs will refuse the login (set them, or FLABS_CLIENT_ID and FLABS_CLIENT_SECRET for the example config)")
	}
	if c.DefaultLeadSource == "" {
		var bare []string
		for _, name := range c.PartnerNames() {
			if c.Partners[name].LeadSource == "" {
				bare = append(bare, name)
			}
		}
		switch {
		case len(bare) == 1:
			w = append(w, fmt.Sprintf("no lead_source for partner %s and no default_lead_source: its bookings are held, not sent (Flabs requires one); set partners.%s.lead_source or default_lead_source", bare[0], bare[0]))
		case len(bare) > 1:
			w = append(w, fmt.Sprintf("no lead_source for partners %s and no default_lead_source: their bookings are held, not sent (Flabs requires one); set partners.<name>.lead_source or default_lead_source", strings.Join(bare, ", ")))
		case len(c.Partners) == 0:
			w = append(w, "default_lead_source is empty and no partner has a lead_source: every booking is held, not sent (Flabs requires one); set default_lead_source")
		}
	}
	if u, err := url.Parse(c.Flabs.BaseURL); err == nil && u.Scheme == "http" && !localHost(u.Hostname()) {
		w = append(w, fmt.Sprintf("flabs.base_url %s is plain http to another machine: the client secret and patient data would travel unencrypted; use https", c.Flabs.ShownBaseURL()))
	}
	if n := len(c.Webhook.AuthToken); n > 0 && n < MinWebhookTokenLen {
		w = append(w, fmt.Sprintf("webhook.auth_token is only %d characters: anyone who can reach the receiver could guess it and post events that settle or delete bookings; use %d or more random characters (openssl rand -hex 24)", n, MinWebhookTokenLen))
	}
	return w
}

// localHost reports whether host is this machine: localhost or a
// loopback address.
func localHost(host string) bool {
	if h := strings.ToLower(strings.TrimSuffix(host, ".")); h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
