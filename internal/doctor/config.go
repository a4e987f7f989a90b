package doctor

import (
	"context"

	"github.com/flabsync/flabsync/internal/config"
)

// checkConfig reports the config in force. It loaded and validated before
// doctor ran (a config that does not is a usage error, exit 2); what is
// left are settings that are valid but probably not meant
// (config.Warnings: no Flabs URL or credentials, bookings that would be
// held for want of a lead_source, plain http to another machine), and no
// config file at all (the built-in defaults are for the demo).
func checkConfig(_ context.Context, cfg *config.Config, opts Options) Check {
	var warnings []string
	if opts.ConfigPath == "" {
		warnings = append(warnings, "no config file found: the built-in defaults are in force; write one with flabsync config example > flabsync.yaml")
	}
	warnings = append(warnings, cfg.Warnings()...)
	where := "built-in defaults"
	if opts.ConfigPath != "" {
		where = opts.ConfigPath
	}
	return withWarnings(pass(NameConfig, "%s loaded and valid", where), warnings)
}
