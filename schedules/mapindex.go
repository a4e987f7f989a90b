package schedules

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/flabsync/flabsync/fixtures"
	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/mapping"
)

// MappingIndex builds the index a run maps with: the stored table and
// catalogue. With no catalogue synced and no Flabs configured (the demo,
// a first look), the sample catalogue stands in, and the note says so. A
// nil ms is a database not created yet: no table, no catalogue.
func MappingIndex(ctx context.Context, cfg *config.Config, ms *mapping.Store) (*mapping.Index, string, error) {
	var es []mapping.Entry
	var cat []mapping.CatalogueItem
	if ms != nil {
		var err error
		if es, err = ms.Entries(ctx); err != nil {
			return nil, "", err
		}
		if cat, err = ms.Catalogue(ctx); err != nil {
			return nil, "", err
		}
	}
	if len(cat) > 0 {
		return mapping.NewIndex(es, cat), "", nil
	}
	if cfg.Flabs.BaseURL != "" {
		return mapping.NewIndex(es, nil), "no catalogue synced yet (run 'flabsync mapping sync'): nothing maps, every name would be sent unmapped", nil
	}
	sample, err := fixtures.LoadCatalogue()
	if err != nil {
		return nil, "", err
	}
	return mapping.NewIndex(es, sample.Items()), "no catalogue synced and no flabs.base_url: mapping with the sample catalogue", nil
}

// DryRunIndex is the mapping a dry run uses, without writing anything:
// with no SQLite file yet, none is created (the sample catalogue stands
// in when no Flabs is configured).
func DryRunIndex(ctx context.Context, cfg *config.Config) (*mapping.Index, string, error) {
	if path, ok := strings.CutPrefix(cfg.Database, "sqlite:"); ok {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return MappingIndex(ctx, cfg, nil)
		}
	}
	db, err := store.Open(ctx, cfg.Database)
	if err != nil {
		return nil, "", err
	}
	defer db.Close()
	return MappingIndex(ctx, cfg, mapping.NewStore(db))
}
