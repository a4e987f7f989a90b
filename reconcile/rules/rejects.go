package rules

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/flabsync/flabsync/internal/sheet"
	"github.com/flabsync/flabsync/internal/store"
)

// RejectFile is one file's rejected rows as the partner wrote them, for
// the partner's reject file.
type RejectFile struct {
	Partner string
	File    string   // the name it came in under
	Path    string   // where it is now
	Header  []string // the partner's header row ("" cells trimmed off the end)
	Rows    []RejectRow
}

// RejectRow is one rejected row: its cells and why.
type RejectRow struct {
	Row    int
	Cells  []string // nil when the file can no longer be read
	Reason string
}

// Rejects reads back the rows rejected in files received in the window
// (RejectsFor before at), from the files themselves (archived or in
// errors/), so the partner gets their own columns with a reason beside.
// options gives the reading options of a partner (its sheet and header
// aliases).
func Rejects(ctx context.Context, db *store.DB, cfg Config, at time.Time, options func(partner string) sheet.Options) ([]RejectFile, error) {
	if cfg.RejectsFor <= 0 {
		cfg.RejectsFor = 7 * 24 * time.Hour
	}
	var rows []struct {
		FileID  int64  `db:"file_id"`
		Partner string `db:"partner"`
		Name    string `db:"name"`
		Path    string `db:"path"`
		Row     int    `db:"row_num"`
		Code    string `db:"code"`
		Message string `db:"message"`
	}
	q := db.Rebind(`SELECT f.id AS file_id, f.partner, f.name, f.path, r.row_num, r.code, r.message
FROM sheet_rows r JOIN files f ON f.id = r.file_id
WHERE r.status = 'rejected' AND f.created_at >= ? AND f.created_at <= ? ORDER BY f.partner, f.id, r.row_num`)
	if err := db.SelectContext(ctx, &rows, q, store.T(at.Add(-cfg.RejectsFor)), store.T(at)); err != nil {
		return nil, fmt.Errorf("reconcile: read rejected rows: %w", err)
	}
	var out []RejectFile
	for i := 0; i < len(rows); {
		j := i
		for j < len(rows) && rows[j].FileID == rows[i].FileID {
			j++
		}
		f := RejectFile{Partner: rows[i].Partner, File: rows[i].Name, Path: rows[i].Path}
		want := map[int]int{}
		for _, r := range rows[i:j] {
			want[r.Row] = len(f.Rows)
			f.Rows = append(f.Rows, RejectRow{Row: r.Row, Reason: r.Code + ": " + r.Message})
		}
		if _, err := os.Stat(f.Path); err == nil {
			opts := options(f.Partner)
			opts.KeepRaw = true
			sum, _ := sheet.Read(ctx, f.Path, opts, func(rec *sheet.Record) error {
				if k, ok := want[rec.Row]; ok {
					f.Rows[k].Cells = rec.Raw
				}
				return nil
			})
			f.Header = sum.Headers
		}
		out = append(out, f)
		i = j
	}
	return out, nil
}
