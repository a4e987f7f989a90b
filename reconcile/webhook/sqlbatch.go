package webhook

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/jmoiron/sqlx"
)

// Batches write many rows per statement, at most maxChunk (SQLite allows
// 32,766 parameters, PostgreSQL 65,535; 128 rows of 11 columns is well
// inside both).
const maxChunk = 128

// queries caches rebound statement texts by template, row group, size
// and driver.
var queries sync.Map // queryKey → string

type queryKey struct {
	tmpl, group string
	n           int
	driver      string
}

// expand replaces tmpl's "%s" with n copies of group, comma-separated,
// rebound for tx's driver.
func expand(tx *sqlx.Tx, tmpl, group string, n int) string {
	k := queryKey{tmpl, group, n, tx.DriverName()}
	if q, ok := queries.Load(k); ok {
		return q.(string)
	}
	q := tx.Rebind(fmt.Sprintf(tmpl, strings.TrimSuffix(strings.Repeat(group+", ", n), ", ")))
	queries.Store(k, q)
	return q
}

// row is the VALUES group of cols placeholders: "(?, ?, ?)".
func row(cols int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
}

// inQuery replaces tmpl's "%s" with n placeholders, rebound for tx.
func inQuery(tx *sqlx.Tx, tmpl string, n int) string { return expand(tx, tmpl, "?", n) }

// insertRows runs tmpl once per chunk of rows, its "%s" replaced by one
// group (such as row(3)) per row; scan (if not nil) reads every row the
// statements return.
func insertRows(ctx context.Context, tx *sqlx.Tx, tmpl, group string, rows [][]any, scan func(*sqlx.Rows) error) error {
	for len(rows) > 0 {
		n := min(len(rows), maxChunk)
		args := make([]any, 0, n*len(rows[0]))
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		rows = rows[n:]
		q := expand(tx, tmpl, group, n)
		if scan == nil {
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return err
			}
			continue
		}
		rs, err := tx.QueryxContext(ctx, q, args...)
		if err != nil {
			return err
		}
		for rs.Next() {
			if err := scan(rs); err != nil {
				rs.Close()
				return err
			}
		}
		if err := rs.Close(); err != nil {
			return err
		}
		if err := rs.Err(); err != nil {
			return err
		}
	}
	return nil
}

// selectIn runs tmpl with "%s" replaced by a placeholder list for keys,
// appending the rows to dest.
func selectIn[T any](ctx context.Context, tx *sqlx.Tx, tmpl string, keys []string, dest *[]T) error {
	for len(keys) > 0 {
		n := min(len(keys), maxChunk)
		var part []T
		if err := tx.SelectContext(ctx, &part, inQuery(tx, tmpl, n), anys(keys[:n])...); err != nil {
			return err
		}
		keys = keys[n:]
		*dest = append(*dest, part...)
	}
	return nil
}

// anys converts xs to query arguments.
func anys[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}
