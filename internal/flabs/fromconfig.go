package flabs

import (
	"log/slog"

	"github.com/flabsync/flabsync/internal/config"
)

// FromConfig builds a client from the config's flabs section. It does not
// check that the credentials are set: see config.Config.RequireFlabs.
func FromConfig(c config.Flabs, log *slog.Logger) (*Client, error) {
	return NewClient(Config{BaseURL: c.BaseURL, ClientID: c.ClientID, ClientSecret: c.ClientSecret, Timeout: c.Timeout, Logger: log})
}
