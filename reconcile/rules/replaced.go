package rules

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/reconcile"
)

// copyMark matches one mark a person or a program adds to a file's name
// when saving a copy or a correction, at the end of the name: " (1)",
// "_v2", "-corrected", "_fixed", " copy", "_final"…
var copyMark = regexp.MustCompile(`(?:\s*\(\d+\)|[\s_.-]+(?:v\d+|copy|corrected|correction|fixed|final|new|resend|resent|revised|updated|amended))$`)

// FileKey is the name a file is known by when it comes again corrected:
// its base name without extension, in lower case, without the copy marks
// people add (" (1)", "_v2", "-corrected", "_fixed", "copy", "final" and
// the like, any number of them). Two files of a partner with the same
// key are the same file sent again; carecity_0612.csv and
// carecity_0613.csv are not (a date is no copy mark). It is the one rule
// for "the same file": a refused file is replaced only by a later file
// with its key.
func FileKey(name string) string {
	base := filepath.Base(strings.ReplaceAll(name, `\`, "/"))
	if ext := filepath.Ext(base); ext != "" && ext != base {
		base = strings.TrimSuffix(base, ext)
	}
	key := strings.ToLower(strings.TrimSpace(base))
	for {
		k := strings.TrimSpace(copyMark.ReplaceAllString(key, ""))
		if k == key || k == "" {
			return key
		}
		key = k
	}
}

// refusals sorts the refused (or unreadable) files received by at into
// those still open and those a later file replaced: a file of the same
// partner with the same FileKey, received after it and by at, read to its
// end with rows accepted. replaced maps a refused file to the name of the
// first file that replaced it.
func refusals(ctx context.Context, tx *sqlx.Tx, at time.Time) (open []int64, replaced map[int64]string, err error) {
	var refused []struct {
		ID   int64  `db:"id"`
		Name string `db:"name"`
	}
	now := store.T(at)
	err = tx.SelectContext(ctx, &refused, tx.Rebind(`SELECT f.id, f.name FROM files f WHERE f.status IN (?, ?) AND f.created_at <= ? ORDER BY f.id`),
		ledger.FileRefused, ledger.FileFailed, now)
	if err != nil {
		return nil, nil, fmt.Errorf("rule file_refused: %w", err)
	}
	if len(refused) == 0 {
		return nil, nil, nil
	}
	// The files that could replace one: later, of its partner, read to
	// the end with rows accepted. A few per refusal, read by name only.
	var later []struct {
		Refused int64  `db:"refused"`
		Name    string `db:"name"`
	}
	err = tx.SelectContext(ctx, &later, tx.Rebind(`SELECT f.id AS refused, g.name FROM files f JOIN files g ON g.partner = f.partner
WHERE f.status IN (?, ?) AND f.created_at <= ? AND g.status IN (?, ?) AND g.created_at > f.created_at AND g.created_at <= ?
	AND EXISTS (SELECT 1 FROM sheet_rows c WHERE c.file_id = g.id AND c.status IN (?, ?))
ORDER BY f.id, g.created_at, g.id`),
		ledger.FileRefused, ledger.FileFailed, now, ledger.FileDone, ledger.FileInterrupted, now, ledger.RowAccepted, ledger.RowDuplicate)
	if err != nil {
		return nil, nil, fmt.Errorf("rule file_refused: replacements: %w", err)
	}
	keys := make(map[int64]string, len(refused))
	for _, f := range refused {
		keys[f.ID] = FileKey(f.Name)
	}
	replaced = map[int64]string{}
	for _, g := range later {
		if _, done := replaced[g.Refused]; !done && FileKey(g.Name) == keys[g.Refused] {
			replaced[g.Refused] = g.Name
		}
	}
	for _, f := range refused {
		if _, ok := replaced[f.ID]; !ok {
			open = append(open, f.ID)
		}
	}
	return open, replaced, nil
}

// noteReplaced says, in the detail of each refused file this run
// resolved because a later file replaced it, which file did.
func noteReplaced(ctx context.Context, tx *sqlx.Tx, at time.Time, replaced map[int64]string) error {
	q := tx.Rebind(`UPDATE exceptions SET detail = detail || ? WHERE file_id = ? AND category = ? AND status = ? AND resolved_at = ?`)
	for id, name := range replaced {
		if _, err := tx.ExecContext(ctx, q, "; replaced by "+name, id, reconcile.CategoryFileRefused, reconcile.StatusResolved, store.T(at)); err != nil {
			return fmt.Errorf("note replaced file %d: %w", id, err)
		}
	}
	return nil
}
