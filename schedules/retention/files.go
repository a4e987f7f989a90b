package retention

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/pipeline/ledger"
)

// reasonSuffix ends the note the inbox writes beside a refused sheet.
const reasonSuffix = ".error.txt"

// candidate is a file on disk that may hold patient data.
type candidate struct {
	path string
	size int64
	mod  time.Time
	kind *int // the Report counter it adds to
}

// pruneFiles deletes (or in a dry run counts) the archived and refused
// sheets, reason notes and reject files older than before. A sheet's age
// is when the ledger received it, when the ledger knows its path; a
// reason note goes with its sheet; anything else goes by its
// modification time.
func pruneFiles(ctx context.Context, led *ledger.Ledger, cfg *config.Config, before time.Time, dryRun bool, r *Report) error {
	var cands []candidate
	var errs []error
	walk := func(root string, kindOf func(name string) *int) {
		err := filepath.WalkDir(root, func(path string, d iofs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, iofs.ErrNotExist) && path == root {
					return nil
				}
				return err
			}
			if !d.Type().IsRegular() {
				return nil // directories are walked; links and the like are not ours
			}
			kind := kindOf(d.Name())
			if kind == nil {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			cands = append(cands, candidate{path: path, size: info.Size(), mod: info.ModTime(), kind: kind})
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	walk(cfg.Inbox.ArchiveDir, func(string) *int { return &r.ArchivedSheets })
	walk(cfg.Inbox.ErrorDir, func(name string) *int {
		if strings.HasSuffix(name, reasonSuffix) {
			return &r.ReasonNotes
		}
		return &r.RefusedSheets
	})
	// Reject files are written straight into report.dir, one per partner
	// and day: <partner>_rejects_<date>[_n].csv.
	if entries, err := os.ReadDir(cfg.Report.Dir); err == nil {
		for _, e := range entries {
			if ok, _ := filepath.Match("*_rejects_*.csv", e.Name()); !ok || !e.Type().IsRegular() {
				continue
			}
			if info, err := e.Info(); err == nil {
				cands = append(cands, candidate{path: filepath.Join(cfg.Report.Dir, e.Name()), size: info.Size(), mod: info.ModTime(), kind: &r.RejectFiles})
			}
		}
	} else if !errors.Is(err, iofs.ErrNotExist) {
		errs = append(errs, err)
	}

	paths := make([]string, 0, len(cands))
	for _, c := range cands {
		paths = append(paths, strings.TrimSuffix(c.path, reasonSuffix))
	}
	received, err := led.ReceivedAt(ctx, paths)
	if err != nil {
		return err
	}
	failed := 0
	dirs := map[string]bool{}
	for _, c := range cands {
		if err := ctx.Err(); err != nil {
			return err
		}
		at, ok := received[strings.TrimSuffix(c.path, reasonSuffix)]
		if !ok {
			at = c.mod
		}
		if !at.Before(before) {
			continue
		}
		if !dryRun {
			if err := os.Remove(c.path); err != nil && !errors.Is(err, iofs.ErrNotExist) {
				failed++
				errs = append(errs, err)
				continue
			}
			dirs[filepath.Dir(c.path)] = true
		}
		*c.kind++
		r.BytesFreed += c.size
	}
	// The inbox files by day (archive/<date>/): a day emptied goes too.
	for dir := range dirs {
		if dir != filepath.Clean(cfg.Inbox.ArchiveDir) && dir != filepath.Clean(cfg.Inbox.ErrorDir) && dir != filepath.Clean(cfg.Report.Dir) {
			_ = os.Remove(dir) // fails, as it should, when not empty
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d %w: %w", failed, ErrFiles, errors.Join(errs...))
	}
	return errors.Join(errs...)
}
