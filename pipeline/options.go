package pipeline

import (
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/sheet"
)

// OptionsFor returns how the config says to read a partner's files: its
// lead source, the lab, its sheet and column aliases. Mapper is left for
// the caller (it comes from the store).
func OptionsFor(cfg *config.Config, partner string, now time.Time) ReadOptions {
	opts := ReadOptions{Partner: partner, LeadSource: cfg.LeadSource(partner), LabID: cfg.Flabs.LabID, Now: now}
	if pc, ok := cfg.Partners[partner]; ok {
		opts.Sheet.Sheet = pc.Sheet
		for name, aliases := range pc.Columns {
			if f, ok := sheet.ParseField(name); ok {
				if opts.Sheet.Aliases == nil {
					opts.Sheet.Aliases = map[sheet.Field][]string{}
				}
				opts.Sheet.Aliases[f] = aliases
			}
		}
	}
	return opts
}
