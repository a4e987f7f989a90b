package doctor_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/flabsync/flabsync/internal/doctor"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
)

// TestUnwritableInbox: an inbox that cannot be a folder fails the inbox
// check alone. (Tests run as root, whom no mode bit stops: the inbox is
// a regular file here, and the error folder a folder under one.)
func TestUnwritableInbox(t *testing.T) {
	t.Parallel()
	r := newRig(t, flabstest.Options{})
	file := filepath.Join(r.dir, "not-a-folder")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.cfg.Inbox.Dir = file
	r.cfg.Inbox.ErrorDir = filepath.Join(file, "errors")
	by := only(t, r.run(t), doctor.NameInbox)
	contains(t, by[doctor.NameInbox], "inbox.dir "+file, "inbox.error_dir "+r.cfg.Inbox.ErrorDir, "not a directory")
	if _, err := os.Stat(r.cfg.Inbox.ArchiveDir); err != nil {
		t.Errorf("archive folder: %v", err)
	}
}

// TestArchiveOnAnotherFileSystem: the inbox moves files by rename, so an
// archive folder on another file system fails (when the machine has a
// tmpfs at /dev/shm apart from the temporary directory).
func TestArchiveOnAnotherFileSystem(t *testing.T) {
	t.Parallel()
	r := newRig(t, flabstest.Options{})
	other, err := os.MkdirTemp("/dev/shm", "doctor-test-")
	if err != nil {
		t.Skipf("no /dev/shm to put a folder on another file system: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(other) })
	var a, b syscall.Stat_t
	if syscall.Stat(other, &a) != nil || syscall.Stat(r.dir, &b) != nil || a.Dev == b.Dev {
		t.Skip("/dev/shm is on the temporary directory's file system")
	}
	r.cfg.Inbox.ArchiveDir = other
	by := only(t, r.run(t), doctor.NameInbox)
	contains(t, by[doctor.NameInbox], "inbox.archive_dir "+other+" is on another file system")
	left, _ := os.ReadDir(other)
	if len(left) != 0 {
		t.Errorf("probe files left in %s: %v", other, left)
	}
}
