package store

import (
	"database/sql/driver"
	"fmt"
	"time"
)

// timeLayout is fixed-width so SQLite's text timestamps sort as times.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// Time is a timestamp both backends store alike: TIMESTAMPTZ on
// PostgreSQL, fixed-width UTC text on SQLite, microsecond precision. The
// zero Time is NULL.
type Time struct{ time.Time }

// T wraps t, rounded to what the database keeps.
func T(t time.Time) Time { return Time{t.UTC().Truncate(time.Microsecond)} }

// Value encodes t as UTC text, which PostgreSQL parses as TIMESTAMPTZ.
func (t Time) Value() (driver.Value, error) {
	if t.IsZero() {
		return nil, nil
	}
	return t.UTC().Format(timeLayout), nil
}

// Scan decodes a time.Time (PostgreSQL) or text (SQLite).
func (t *Time) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		t.Time = time.Time{}
	case time.Time:
		t.Time = v.UTC()
	case string:
		return t.parse(v)
	case []byte:
		return t.parse(string(v))
	default:
		return fmt.Errorf("store.Time: cannot scan %T", src)
	}
	return nil
}

func (t *Time) parse(s string) error {
	p, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		p, err = time.Parse("2006-01-02 15:04:05.999999999-07:00", s)
	}
	if err != nil {
		return fmt.Errorf("store.Time: %q: %w", s, err)
	}
	t.Time = p.UTC()
	return nil
}
