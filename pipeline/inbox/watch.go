package inbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/flabsync/flabsync/internal/logging"
)

// Handler processes one claimed file. nil: the file is archived. An error
// wrapping context.Canceled: the run stopped mid-file, which goes back to
// the inbox to be taken again. Any other error: the file goes to errors/
// with the error as its reason.
type Handler func(ctx context.Context, f File) error

// Handle runs h on f and files f away by the outcome.
func (in *Inbox) Handle(ctx context.Context, f File, h Handler) error {
	err := h(ctx, f)
	switch {
	case err == nil:
		_, aerr := in.Archive(f)
		return aerr
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		in.putBack(f)
		return err
	default:
		_, rerr := in.Refuse(f, err)
		return rerr
	}
}

// Drain takes every settled file (looking twice, a short pause apart, so
// that a file being written is not taken) and handles them one by one.
// It is the `import` job's body. The first look claims too: a file the
// watcher of the same process had already looked at has settled by then,
// and is handled with the rest (a claimed file left unhandled would sit
// in the processing folder until the next start).
func (in *Inbox) Drain(ctx context.Context, h Handler, pause time.Duration) (handled int, err error) {
	files, err := in.Take(ctx) // the first look
	if err != nil {
		return 0, err
	}
	t := time.NewTimer(pause)
	select {
	case <-ctx.Done():
		t.Stop()
		for _, f := range files {
			in.putBack(f)
		}
		return 0, ctx.Err()
	case <-t.C:
	}
	more, err := in.Take(ctx)
	files = append(files, more...)
	if err != nil && len(files) == 0 {
		return 0, err
	}
	for _, f := range files {
		if err := in.Handle(ctx, f, h); err != nil {
			if ctx.Err() != nil {
				return handled, err
			}
			in.log.Error("inbox: could not file the file away; it stays in the processing folder until the next start", logging.KeyFile, f.Rel, logging.Err(err))
		}
		handled++
	}
	return handled, err
}

// putBack returns a claimed file to the inbox, to be taken again.
func (in *Inbox) putBack(f File) {
	if err := os.Rename(f.Path, filepath.Join(in.cfg.Dir, f.Rel)); err != nil {
		in.log.Error("inbox: put back after stop", logging.KeyFile, f.Rel, logging.Err(err))
	}
}

// Watch handles files as they settle until ctx ends: fsnotify events on
// the inbox and its partner folders prompt a look, and a scan every
// ScanEvery (and every Settle/2, so a file is taken soon after it
// settles) is the safety net for events a filesystem does not deliver.
func (in *Inbox) Watch(ctx context.Context, h Handler) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("inbox: watch: %w", err)
	}
	defer w.Close()
	addDirs := func() {
		w.Add(in.cfg.Dir)
		entries, _ := os.ReadDir(in.cfg.Dir)
		for _, e := range entries {
			p := filepath.Join(in.cfg.Dir, e.Name())
			if e.IsDir() && !ignored(e.Name()) && !in.special(p) {
				w.Add(p)
			}
		}
	}
	addDirs()
	every := min(in.cfg.ScanEvery, max(in.cfg.Settle/2, 100*time.Millisecond))
	tick := time.NewTicker(every)
	defer tick.Stop()
	poke := time.NewTimer(0)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Has(fsnotify.Create) {
				addDirs() // a new partner folder
			}
			// Look soon, and again once the file may have settled.
			poke.Reset(100 * time.Millisecond)
			time.AfterFunc(in.cfg.Settle+50*time.Millisecond, func() {
				select {
				case <-ctx.Done():
				default:
					poke.Reset(0)
				}
			})
			continue
		case err := <-w.Errors:
			in.log.Warn("inbox: watcher", logging.Err(err))
			continue
		case <-tick.C:
		case <-poke.C:
		}
		files, err := in.Take(ctx)
		if err != nil {
			in.log.Error("inbox: scan", logging.Err(err))
		}
		for _, f := range files {
			if err := in.Handle(ctx, f, h); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				in.log.Error("inbox: could not file the file away; it stays in the processing folder until the next start", logging.KeyFile, f.Rel, logging.Err(err))
			}
		}
	}
}
