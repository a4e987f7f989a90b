package inbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
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

// Go runs fn in a free slot and reports whether there was one: the
// slots Watch and Drain claim files for, so work that is not a claimed
// file (a file another process left half read) counts against the same
// limit. fn's end frees the slot; Watch waits for it before it returns.
func (in *Inbox) Go(fn func()) bool {
	select {
	case in.slots <- struct{}{}:
	default:
		return false
	}
	in.busy.Add(1)
	go func() {
		defer in.busy.Done()
		defer in.release()
		fn()
	}()
	return true
}

// Wait waits until every handling Watch, Drain or Go started is done.
func (in *Inbox) Wait() { in.busy.Wait() }

// release frees a slot and tells the watcher to look again.
func (in *Inbox) release() {
	<-in.slots
	select {
	case in.freed <- struct{}{}:
	default:
	}
}

// dispatch claims as many settled files as there are free slots and
// starts handling each in its own; done, if not nil, hears of each end
// (with Handle's error). It returns how many it started.
func (in *Inbox) dispatch(ctx context.Context, h Handler, done func(error)) (int, error) {
	free := 0
	for free < cap(in.slots) {
		select {
		case in.slots <- struct{}{}:
			free++
			continue
		default:
		}
		break
	}
	// With no free slot the look still happens (claiming nothing): files
	// settle meanwhile and are claimed as soon as a slot frees, and
	// files to refuse are refused.
	files, err := in.TakeUpTo(ctx, free)
	for range free - len(files) {
		<-in.slots // not needed: give back quietly (nothing new to look at)
	}
	for _, f := range files {
		in.busy.Add(1)
		go func() {
			defer in.busy.Done()
			defer in.release()
			err := in.Handle(ctx, f, h)
			if err != nil && ctx.Err() == nil && !stopped(err) {
				in.log.Error("inbox: could not file the file away; it stays in the processing folder until the next start", logging.KeyFile, f.Rel, logging.Err(err))
			}
			if done != nil {
				done(err)
			}
		}()
	}
	return len(files), err
}

// Drain is the `import` job's sweep: it takes the settled files (looking
// twice, a short pause apart, so that a file being written is not
// taken) as slots come free, handles them side by side, and returns once
// no settled file is left that it could take and the files it took are
// handled. The first look claims too: a file the watcher of the same
// process had already looked at has settled by then. Files the watcher
// handles meanwhile are the watcher's.
func (in *Inbox) Drain(ctx context.Context, h Handler, pause time.Duration) (handled int, err error) {
	var (
		mine    sync.WaitGroup
		mu      sync.Mutex
		running int
		stop    bool // a handler stopped mid-file: its file is back, not to be taken again now
		ended   = make(chan struct{}, 1)
	)
	start := func() error {
		mu.Lock()
		defer mu.Unlock()
		n, err := in.dispatch(ctx, h, func(err error) {
			mu.Lock()
			running--
			handled++
			stop = stop || stopped(err)
			mu.Unlock()
			mine.Done()
			select {
			case ended <- struct{}{}:
			default:
			}
		})
		running += n
		mine.Add(n)
		return err
	}
	defer func() { mine.Wait() }()
	if err := start(); err != nil { // the first look
		return 0, err
	}
	t := time.NewTimer(pause)
	select {
	case <-ctx.Done():
		t.Stop()
		mine.Wait() // what the first look took goes back (its handler sees the stop)
		return handled, ctx.Err()
	case <-t.C:
	}
	for {
		mu.Lock()
		halt := stop
		mu.Unlock()
		if !halt {
			if err := start(); err != nil {
				mine.Wait()
				return handled, err
			}
		}
		mu.Lock()
		left := running
		mu.Unlock()
		if left == 0 {
			mine.Wait()
			mu.Lock()
			defer mu.Unlock()
			return handled, nil
		}
		select {
		case <-ended:
		case <-ctx.Done():
			mine.Wait()
			return handled, ctx.Err()
		}
	}
}

// stopped reports a handler's error that means the run stopped mid-file.
func stopped(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// putBack returns a claimed file to the inbox, to be taken again.
func (in *Inbox) putBack(f File) {
	if err := os.Rename(f.Path, filepath.Join(in.cfg.Dir, f.Rel)); err != nil {
		in.log.Error("inbox: put back after stop", logging.KeyFile, f.Rel, logging.Err(err))
	}
}

// Watch handles files as they settle until ctx ends, up to Concurrency
// side by side: fsnotify events on the inbox and its partner folders
// prompt a look, and so does a file's end (a slot came free); a scan
// every ScanEvery (and every Settle/2, so a file is taken soon after it
// settles) is the safety net for events a filesystem does not deliver.
// Each look claims only what there are free slots for. It returns once
// every file it, Drain or Go started is handled (a stop puts a file cut
// short back in the inbox).
func (in *Inbox) Watch(ctx context.Context, h Handler) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("inbox: watch: %w", err)
	}
	defer w.Close()
	defer in.busy.Wait()
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
		case <-in.freed: // a file is done: room to claim another
		}
		if _, err := in.dispatch(ctx, h, nil); err != nil && ctx.Err() == nil {
			in.log.Error("inbox: scan", logging.Err(err))
		}
	}
}
