package store

import "fmt"

// LatestSchemaVersion is the version of the newest migration this build
// embeds for the database's dialect: the version Open brings a database
// up to. A SchemaVersion above it means a newer flabsync has migrated the
// database; below it, migrations are pending.
func (db *DB) LatestSchemaVersion() (int64, error) {
	p, err := db.provider()
	if err != nil {
		return 0, err
	}
	src := p.ListSources() // ascending by version
	if len(src) == 0 {
		return 0, fmt.Errorf("migrations: none embedded for %s", db.dialect)
	}
	return src[len(src)-1].Version, nil
}
