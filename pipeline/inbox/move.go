package inbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/flabsync/flabsync/internal/logging"
	"github.com/flabsync/flabsync/internal/redact"
	"github.com/flabsync/flabsync/internal/sheet"
	"github.com/flabsync/flabsync/pipeline"
	"github.com/flabsync/flabsync/pipeline/ledger"
)

// Archive moves a handled file to ArchiveDir/<date>/ and returns where it
// went.
func (in *Inbox) Archive(f File) (string, error) {
	dst, err := in.moveTo(f.Path, in.cfg.ArchiveDir, f.Name)
	if err != nil {
		return "", fmt.Errorf("inbox: archive %s: %w", f.Rel, err)
	}
	in.log.Info("inbox: archived", logging.KeyFile, f.Rel, "to", dst)
	if in.cfg.Filed != nil {
		in.cfg.Filed(f, dst)
	}
	return dst, nil
}

// Refuse moves a file that could not be handled to ErrorDir/<date>/ with
// a .error.txt beside it saying what was wrong and what to do, and
// returns where it went.
func (in *Inbox) Refuse(f File, cause error) (string, error) {
	dst, err := in.moveTo(f.Path, in.cfg.ErrorDir, f.Name)
	if err != nil {
		return "", fmt.Errorf("inbox: move %s to errors: %w", f.Rel, err)
	}
	// The reason leaves the ledger (the note, the log, the refused
	// file's record): shown, never a cell's value.
	reason := redact.ShowErr(cause).String()
	if err := in.writeReason(dst, f.Rel, reason, Advice(cause)); err != nil {
		return dst, err
	}
	in.log.Warn("inbox: refused", logging.KeyFile, f.Rel, "to", dst, "reason", reason)
	if in.cfg.Filed != nil {
		in.cfg.Filed(f, dst)
	}
	if in.cfg.Refused != nil {
		in.cfg.Refused(f, dst, reason)
	}
	return dst, nil
}

// refuse moves a file still in the inbox straight to errors/.
func (in *Inbox) refuse(path, rel, reason, advice string) {
	reason = redact.Show(reason).String()
	dst, err := in.moveTo(path, in.cfg.ErrorDir, filepath.Base(rel))
	if err != nil {
		in.log.Error("inbox: move to errors", logging.KeyFile, rel, logging.Err(err))
		return
	}
	if err := in.writeReason(dst, rel, reason, advice); err != nil {
		in.log.Error("inbox: write reason", logging.KeyFile, rel, logging.Err(err))
	}
	in.mu.Lock()
	delete(in.seen, rel)
	in.mu.Unlock()
	in.log.Warn("inbox: refused", logging.KeyFile, rel, "to", dst, "reason", reason)
	if in.cfg.Refused != nil {
		in.cfg.Refused(File{Path: dst, Rel: rel, Name: filepath.Base(rel), Partner: in.partnerOf(rel)}, dst, reason)
	}
}

func (in *Inbox) moveTo(src, root, name string) (string, error) {
	dir := filepath.Join(root, in.cfg.Now().Format("2006-01-02"))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	dst := filepath.Join(dir, name)
	if _, err := os.Lstat(dst); err == nil {
		dst = unique(dst, in.cfg.Now())
	}
	if err := os.Rename(src, dst); err != nil {
		return "", err
	}
	// A partner's sheet holds patient data: archived or refused, it is
	// its owner's alone, whatever mode it was uploaded with.
	if err := ownerOnly(dst); err != nil {
		return dst, err
	}
	return dst, nil
}

// ownerOnly makes the regular file at path readable by its owner alone.
// It never follows a link: the file is opened with O_NOFOLLOW and
// changed through its descriptor, so a link (a refused one, or one put
// in its place) is left as it is, and so is what it points to — chmod
// on the path would change the target, say the service's data folder.
// Anything but a regular file (a link, a FIFO, a folder) is left alone.
func ownerOnly(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil // a link: nothing of it or behind it is touched
	}
	if err != nil {
		return fmt.Errorf("inbox: open %s: %w", filepath.Base(path), err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("inbox: stat %s: %w", filepath.Base(path), err)
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("inbox: chmod %s: %w", filepath.Base(path), err)
	}
	return nil
}

func (in *Inbox) writeReason(dst, rel, reason, advice string) error {
	text := fmt.Sprintf("flabsync could not take this file.\n\nFile:       %s\nMoved here: %s\n\nWhat was wrong:\n  %s\n\nWhat to do:\n  %s\n",
		rel, in.cfg.Now().Format(time.RFC1123), reason, advice)
	// O_NOFOLLOW: a link already there by that name is not written through.
	f, err := os.OpenFile(dst+".error.txt", os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("inbox: write reason for %s: %w", rel, err)
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return fmt.Errorf("inbox: write reason for %s: %w", rel, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("inbox: write reason for %s: %w", rel, err)
	}
	return nil
}

// Advice is what to tell a person about a file flabsync could not take.
func Advice(err error) string {
	switch {
	case errors.Is(err, sheet.ErrRefused):
		return "the reason above says how to fix the file; then drop the fixed file into the inbox again."
	case errors.Is(err, sheet.ErrNoHeader):
		return "check that the sheet has a header row naming its columns (patient name, age, gender, tests), " +
			"or add the clinic's own header names under partners.<name>.columns in the config; then drop the file again."
	case errors.Is(err, pipeline.ErrNoRows):
		return "the file holds a header and no bookings: ask the clinic whether they meant to send some."
	case errors.Is(err, pipeline.ErrAllRejected):
		return "every row was refused; the reasons are in the exception workbook (and the partner's reject file). " +
			"Ask the clinic to correct the rows and send the file again."
	case errors.Is(err, ledger.ErrUnbalanced):
		return "this is a flabsync fault, not the clinic's: keep the file and report it; nothing in it is lost (see the ledger)."
	}
	return "fix what the reason says and drop the file into the inbox again; rows already submitted will not be sent twice."
}

// unique adds a time stamp to a name that is taken: x.csv → x.150405.000000000.csv.
func unique(path string, now time.Time) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "." + now.Format("150405.000000000") + ext
}
