package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/flabsync/flabsync/internal/config"
)

// MinFreeBytes is the free space on the inbox's file system below which
// the inbox check warns.
const MinFreeBytes = 1 << 30

// probePrefix starts every file the inbox check writes: a dot-file, which
// the inbox watcher never takes.
const probePrefix = ".flabsync-doctor-"

// checkInbox makes the watched folders and report.dir when missing (as
// serve would), writes and removes a probe file in each, moves a probe
// from the inbox into the archive and error folders by rename (how the
// inbox moves files: it needs one file system), and warns when the
// inbox's file system has less than MinFreeBytes free.
func checkInbox(_ context.Context, cfg *config.Config, _ Options) Check {
	dirs := []struct{ key, path string }{
		{"inbox.dir", cfg.Inbox.Dir},
		{"inbox.archive_dir", cfg.Inbox.ArchiveDir},
		{"inbox.error_dir", cfg.Inbox.ErrorDir},
		{"report.dir", cfg.Report.Dir},
	}
	var problems, made []string
	for _, d := range dirs {
		created, err := writable(d.path)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s %s: %v", d.key, d.path, err))
		} else if created {
			made = append(made, d.path)
		}
	}
	if len(problems) > 0 {
		return fail(NameInbox, "%s: make each a folder this user may write (check the path, its owner and its mode)", strings.Join(problems, "; "))
	}
	for _, d := range dirs[1:3] {
		if err := renameProbe(cfg.Inbox.Dir, d.path); err != nil {
			if errors.Is(err, syscall.EXDEV) {
				problems = append(problems, fmt.Sprintf("%s %s is on another file system than inbox.dir %s: files are moved by rename, so put both on one file system", d.key, d.path, cfg.Inbox.Dir))
			} else {
				problems = append(problems, fmt.Sprintf("moving a file from inbox.dir to %s %s: %v", d.key, d.path, err))
			}
		}
	}
	if len(problems) > 0 {
		return fail(NameInbox, "%s", strings.Join(problems, "; "))
	}
	detail := "inbox, archive, errors and report folders writable; archive and errors on the inbox's file system"
	if len(made) > 0 {
		detail += "; made " + strings.Join(made, ", ")
	}
	var st unix.Statfs_t
	if err := unix.Statfs(cfg.Inbox.Dir, &st); err != nil {
		return warn(NameInbox, "free space on %s unknown (%v); %s", cfg.Inbox.Dir, err, detail)
	}
	free := st.Bavail * uint64(st.Bsize)
	if free < MinFreeBytes {
		return warn(NameInbox, "only %s free on the file system of inbox.dir %s: sheets, archives and the database will fill it; free some space; %s", bytesText(free), cfg.Inbox.Dir, detail)
	}
	return pass(NameInbox, "%s; %s free", detail, bytesText(free))
}

// writable makes dir if missing and writes and removes a probe file in
// it; created says whether dir was made.
func writable(dir string) (created bool, err error) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		created = true
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return false, fmt.Errorf("cannot make it: %w", unwrapPath(err))
	}
	f, err := os.CreateTemp(dir, probePrefix+"*")
	if err != nil {
		return created, fmt.Errorf("not writable: %w", unwrapPath(err))
	}
	_, werr := f.WriteString("flabsync doctor probe\n")
	cerr := f.Close()
	rerr := os.Remove(f.Name())
	if err := errors.Join(werr, cerr, rerr); err != nil {
		return created, fmt.Errorf("not writable: %w", unwrapPath(err))
	}
	return created, nil
}

// renameProbe makes a probe file in from, renames it into to and removes
// it.
func renameProbe(from, to string) error {
	f, err := os.CreateTemp(from, probePrefix+"*")
	if err != nil {
		return unwrapPath(err)
	}
	f.Close()
	dst := filepath.Join(to, filepath.Base(f.Name()))
	if err := os.Rename(f.Name(), dst); err != nil {
		os.Remove(f.Name())
		return unwrapPath(err)
	}
	return unwrapPath(os.Remove(dst))
}

// unwrapPath drops the operation and path of a *PathError or *LinkError
// (the message names the folder already), keeping the cause.
func unwrapPath(err error) error {
	var pe *os.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		return pe.Err
	case errors.As(err, &le):
		return le.Err
	}
	return err
}

// bytesText writes n in GiB or MiB.
func bytesText(n uint64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%d MiB", n>>20)
}
