package pipeline_test

import (
	"testing"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/pipeline"
)

// TestPartnerOf pins the one partner-from-name rule both doors use.
func TestPartnerOf(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"sunrise_2026-11-24.csv", "sunrise"},
		{"/in/box/care-city_0612.csv", "care-city"}, // a '-' belongs to the name
		{"Care-City_0612.xlsx", "care-city"},
		{"care-city-0612.csv", "care-city"},     // no '_': up to the '-' that starts a number
		{"apollo-2026-11-25.csv", "apollo"},     // a date after '-'
		{"metro.csv", "metro"},                  // the whole name
		{"north-west.csv", "north-west"},        // no number: the whole name
		{"a_b_c.csv", "a"},                      // the first '_'
		{"clinic-7_2026-06-12.csv", "clinic-7"}, // '_' decides before '-'
		{"x-1.csv", "x"},
	} {
		if got := pipeline.PartnerOf(tc.path); got != tc.want {
			t.Errorf("PartnerOf(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

// TestPartnerForPatternWins: a partners.<name>.pattern decides before the
// name rule; without one the rule decides.
func TestPartnerForPatternWins(t *testing.T) {
	cfg := config.Default()
	cfg.Partners = map[string]config.Partner{"citycare": {Pattern: "care-city_*.csv"}}
	if got := pipeline.PartnerFor(&cfg, "/drop/care-city_0612.csv"); got != "citycare" {
		t.Errorf("with a pattern: %q, want citycare", got)
	}
	if got := pipeline.PartnerFor(&cfg, "care-city_0612.xlsx"); got != "care-city" {
		t.Errorf("pattern not matching: %q, want care-city", got)
	}
	if got := pipeline.PartnerFor(nil, "care-city_0612.csv"); got != "care-city" {
		t.Errorf("no config: %q", got)
	}
}
