package schedules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flabsync/flabsync/internal/logging"
	"github.com/flabsync/flabsync/pipeline/inbox"
	"github.com/flabsync/flabsync/pipeline/ledger"
)

// takeover is serve's side of the one file lifecycle: every quarter of
// inbox.takeover_after it looks for work whose process is gone (no live
// process lease) and takes it over:
//   - files a serve that is gone left in its processing folder go back
//     into the inbox, to be claimed and read again;
//   - a file a process that is gone was reading from elsewhere (a
//     hand-run import killed mid-file) is read on in place, in a free
//     slot, when it is still there with the same bytes (the ledger books
//     nothing twice); otherwise it is marked failed, saying from which
//     row nothing was recorded, which raises a file_refused exception;
//   - the bookings such a process held are sent (resume).
type takeover struct {
	led    *ledger.Ledger
	in     *inbox.Inbox
	holder string
	// read reads a file taken over, in place (not archived), replacing
	// the ledger record resumes.
	read   func(ctx context.Context, f inbox.File, resumes int64) error
	resume func(ctx context.Context) (int, error)
	log    *slog.Logger

	resuming sync.Mutex
	rounds   int // looks so far (run's goroutine only)
}

// run looks every quarter of the ledger's Takeover until ctx ends, and
// returns once what it started has stopped.
func (t *takeover) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer t.in.Wait() // the files it is reading on
	defer wg.Wait()
	tick := time.NewTicker(max(t.led.Takeover()/4, 100*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t.files(ctx)
		if t.resuming.TryLock() { // the bookings, one sweep at a time
			wg.Go(func() {
				defer t.resuming.Unlock()
				if n, err := t.resume(ctx); err != nil && ctx.Err() == nil {
					t.log.Error("takeover: resume unsent bookings", logging.Err(err))
				} else if n > 0 {
					t.log.Info("takeover: unsent bookings of processes that are gone sent again", "bookings", n)
				}
			})
		}
	}
}

// files takes over the files of processes that are gone.
func (t *takeover) files(ctx context.Context) {
	names, err := t.in.PeerFolders()
	if err != nil {
		t.log.Error("takeover: processing folders", logging.Err(err))
	}
	for _, name := range names {
		alive, err := t.led.NameAlive(ctx, name)
		if err != nil || alive {
			continue
		}
		if _, err := t.led.Abandon(ctx, name, t.in.PeerFolder(name)); err != nil {
			t.log.Error("takeover: abandon files", "process", name, logging.Err(err))
			continue
		}
		n, err := t.in.RecoverPeer(name)
		if err != nil {
			t.log.Error("takeover: put files back", "process", name, logging.Err(err))
		}
		if n > 0 {
			t.log.Info("takeover: files a process that is gone had claimed are back in the inbox", "process", name, "files", n)
		}
	}

	orphans, err := t.led.Orphans(ctx, t.holder, 100)
	if err != nil {
		if ctx.Err() == nil {
			t.log.Error("takeover: files whose reader is gone", logging.Err(err))
		}
		return
	}
	if t.rounds++; t.rounds%16 == 0 { // now and then: a write
		if err := t.led.ForgetGone(ctx); err != nil && ctx.Err() == nil {
			t.log.Warn("takeover: forget processes gone", logging.Err(err))
		}
	}
	peers := t.in.Config().Peers
	for _, o := range orphans {
		log := t.log.With(logging.KeyFile, o.Name, "file_id", o.ID, "was_read_by", o.By)
		state := look(o.Path, o.SHA256)
		switch {
		case peers != "" && under(o.Path, peers):
			// A serve's claimed file: while it is there, its process's
			// folder is recovered above; gone, it went back to the inbox.
			if state != fileGone {
				continue
			}
			t.give(ctx, o, log, "put back in the inbox to be read again")
		case o.ReadAgain != 0:
			t.give(ctx, o, log, fmt.Sprintf("its reader stopped before its end; read again as file #%d", o.ReadAgain))
		case state == fileThere:
			if ctx.Err() != nil || !t.in.Go(func() { t.readOn(ctx, o, log) }) {
				return // no free slot: the next look
			}
		default:
			why := "the file is no longer at " + o.Path
			if state == fileChanged {
				why = "the file at " + o.Path + " is not the one that was being read (its bytes changed)"
			}
			if won, err := t.led.TakeFile(ctx, o.ID, o.By, t.holder); err != nil || !won {
				continue
			}
			if err := t.led.CutShort(ctx, o, t.holder, why); err != nil {
				log.Error("takeover: flag the file", logging.Err(err))
				continue
			}
			log.Warn("takeover: a file was not read to its end and cannot be read on; flagged (import it again)", "last_row", o.LastRow)
		}
	}
}

// give takes a file over and marks it abandoned, saying why.
func (t *takeover) give(ctx context.Context, o ledger.Orphan, log *slog.Logger, why string) {
	if won, err := t.led.TakeFile(ctx, o.ID, o.By, t.holder); err != nil || !won {
		return
	}
	if err := t.led.AbandonFile(ctx, o.ID, t.holder, why); err != nil {
		log.Error("takeover: abandon file", logging.Err(err))
	}
}

// readOn takes a file over and reads it on where it is.
func (t *takeover) readOn(ctx context.Context, o ledger.Orphan, log *slog.Logger) {
	won, err := t.led.TakeFile(ctx, o.ID, o.By, t.holder)
	if err != nil || !won {
		return
	}
	log.Info("takeover: reading on a file its reader left half read", "last_row", o.LastRow)
	f := inbox.File{Path: o.Path, Name: o.Name, Rel: o.Name, Partner: o.Partner}
	if err := t.read(ctx, f, o.ID); err != nil && ctx.Err() == nil {
		log.Warn("takeover: the file read on did not go through whole", logging.Err(err))
	}
}

// under reports whether path lies in dir.
func under(path, dir string) bool {
	return strings.HasPrefix(path, strings.TrimSuffix(dir, string(filepath.Separator))+string(filepath.Separator))
}

type fileState int

const (
	fileThere fileState = iota
	fileGone
	fileChanged
)

// look says whether the regular file at path still holds the bytes
// whose SHA-256 is sum. It never follows a link.
func look(path, sum string) fileState {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return fileGone
	}
	if err != nil {
		return fileChanged // a link, or unreadable: not the file that was being read
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return fileChanged
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fileChanged
	}
	if hex.EncodeToString(h.Sum(nil)) != sum {
		return fileChanged
	}
	return fileThere
}
