package pipeline

import (
	"errors"
	"fmt"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/sheet"
)

// ErrBadPartner is CheckPartner's error.
var ErrBadPartner = errors.New("not a partner name: use lower-case letters, digits, - and _ (at most 40)")

// CheckPartner refuses a partner name that could not safely prefix an
// integrator ID (a newline, a tab, a bidi override, a path): the file is
// refused with the reason, as an unreadable one is.
func CheckPartner(name string) error {
	if !config.ValidPartner(name) {
		return fmt.Errorf("partner %q, from the file's folder or name: %w: %w", name, ErrBadPartner, sheet.ErrRefused)
	}
	return nil
}

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
