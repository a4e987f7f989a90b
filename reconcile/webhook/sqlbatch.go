package webhook

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/jmoiron/sqlx"
)

// Batches write many rows per statement. Statement texts are kept to a
// few sizes — powers of two up to maxChunk — so the drivers' prepared
// statement caches stay warm whatever the batch size.
const maxChunk = 128

// chunkSizes splits n into descending powers of two, each ≤ maxChunk.
func chunkSizes(n int) []int {
	var out []int
	for n > 0 {
		c := maxChunk
		for c > n {
			c /= 2
		}
		out = append(out, c)
		n -= c
	}
	return out
}

// queries caches rebound statement texts by template, size and dialect.
var queries sync.Map // queryKey → string

type queryKey struct {
	tmpl   string
	n      int
	driver string
}

// valuesQuery expands tmpl's "%s" into n groups of "(?, …)" of width
// cols (or, for cols 0, n bare "?"), rebound for tx's driver.
func valuesQuery(tx *sqlx.Tx, tmpl string, n, cols int) string {
	k := queryKey{tmpl, n, tx.DriverName()}
	if q, ok := queries.Load(k); ok {
		return q.(string)
	}
	group := "?"
	if cols > 0 {
		group = "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	}
	q := tx.Rebind(fmt.Sprintf(tmpl, strings.TrimSuffix(strings.Repeat(group+", ", n), ", ")))
	queries.Store(k, q)
	return q
}

// inQuery expands tmpl's "%s" into n placeholders, rebound for tx.
func inQuery(tx *sqlx.Tx, tmpl string, n int) string {
	return valuesQuery(tx, tmpl, n, 0)
}

// insertRows runs tmpl once per chunk of rows, each row giving cols
// arguments; scan (if not nil) reads every row the statements return.
func insertRows(ctx context.Context, tx *sqlx.Tx, tmpl string, cols int, rows [][]any, scan func(*sqlx.Rows) error) error {
	for _, n := range chunkSizes(len(rows)) {
		args := make([]any, 0, n*cols)
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		rows = rows[n:]
		q := valuesQuery(tx, tmpl, n, cols)
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
// padded to a power of two by repeating the last key (so few statement
// texts exist), appending the rows to dest.
func selectIn[T any](ctx context.Context, tx *sqlx.Tx, tmpl string, keys []string, dest *[]T) error {
	for len(keys) > 0 {
		n := min(len(keys), maxChunk)
		size := 1
		for size < n {
			size *= 2
		}
		args := make([]any, size)
		for i := range size {
			args[i] = keys[min(i, n-1)]
		}
		keys = keys[n:]
		var part []T
		if err := tx.SelectContext(ctx, &part, inQuery(tx, tmpl, size), args...); err != nil {
			return err
		}
		*dest = append(*dest, part...)
	}
	return nil
}
