package webhook

import (
	"strings"
	"sync"

	"github.com/jmoiron/sqlx"

	"github.com/flabsync/flabsync/internal/store"
)

// Batches write many rows per statement, at most maxChunk (SQLite allows
// 32,766 parameters, PostgreSQL 65,535; 128 rows of 11 columns is well
// inside both).
const maxChunk = 128

// queries caches statement texts by template, group, size and dialect.
var queries sync.Map // queryKey → string

type queryKey struct {
	tmpl, group string
	n           int
	dialect     store.Dialect
}

// bound returns tmpl with every "%s" replaced by n copies of group,
// comma-separated (when group is not empty), and its "?" placeholders
// numbered for PostgreSQL.
func bound(d store.Dialect, tmpl, group string, n int) string {
	k := queryKey{tmpl, group, n, d}
	if q, ok := queries.Load(k); ok {
		return q.(string)
	}
	q := tmpl
	if group != "" {
		list := strings.TrimSuffix(strings.Repeat(group+", ", n), ", ")
		q = strings.ReplaceAll(tmpl, "%s", list)
	}
	if d == store.Postgres {
		q = sqlx.Rebind(sqlx.DOLLAR, q)
	}
	queries.Store(k, q)
	return q
}

// chunk is how many of n rows go in the next statement: all of them up
// to maxChunk, except on PostgreSQL, where it is the largest power of two
// — so a connection prepares (and plans) only a few statement texts, not
// one per batch size.
func chunk(d store.Dialect, n int) int {
	c := min(n, maxChunk)
	if d == store.Postgres {
		for c&(c-1) != 0 {
			c &= c - 1
		}
	}
	return c
}

// row is the VALUES group of cols placeholders: "(?, ?, ?)".
func row(cols int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
}

// queueRows queues tmpl once per chunk of rows, its "%s" replaced by one
// group (such as row(3)) per row.
func queueRows(p pipe, tmpl, group string, rows [][]any, scan func(scanner) error) {
	for len(rows) > 0 {
		n := chunk(p.dialect(), len(rows))
		args := make([]any, 0, n*len(rows[0]))
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		rows = rows[n:]
		p.queue(bound(p.dialect(), tmpl, group, n), args, scan)
	}
}

// queueIn queues tmpl once per chunk of keys, every "%s" in it replaced
// by a placeholder list for the chunk (the keys bound once per list).
func queueIn(p pipe, tmpl string, keys []string, scan func(scanner) error) {
	lists := strings.Count(tmpl, "%s")
	for len(keys) > 0 {
		n := chunk(p.dialect(), len(keys))
		args := make([]any, 0, lists*n)
		for range lists {
			args = append(args, anys(keys[:n])...)
		}
		keys = keys[n:]
		p.queue(bound(p.dialect(), tmpl, "?", n), args, scan)
	}
}

// anys converts xs to query arguments.
func anys[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// static returns a statement without lists, bound for d.
func static(d store.Dialect, q string) string { return bound(d, q, "", 0) }
