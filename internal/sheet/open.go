package sheet

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// openFile opens the file at path for reading if, and only if, it is a
// regular file. Everything read from outside — a partner's sheet, a
// workbook back from ops, a mapping table — is opened here, so that a
// FIFO, a device, a socket, a directory or a symbolic link is refused
// (ErrRefused) without being opened: the path is looked at first without
// following a link (Lstat), then opened without following one and
// without waiting for a FIFO's writer (openNoFollow), and what was opened
// is checked again (fstat) to be that same regular file. Nothing here can
// block, so a read of a FIFO path neither hangs nor outlives its context.
func openFile(path string) (*os.File, fs.FileInfo, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return nil, nil, err
	}
	if err := regular(st); err != nil {
		return nil, nil, err
	}
	f, err := openNoFollow(path)
	if err != nil {
		if errors.Is(err, errIsLink) {
			return nil, nil, fmt.Errorf("%w: it is a symbolic link; copy the file itself there", ErrRefused)
		}
		return nil, nil, err
	}
	got, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if err := regular(got); err != nil {
		f.Close()
		return nil, nil, err
	}
	if !os.SameFile(st, got) {
		f.Close()
		return nil, nil, fmt.Errorf("%w: the file was replaced while it was opened; drop it again", ErrRefused)
	}
	return f, got, nil
}

// regular refuses anything but a regular file, saying what it is.
func regular(st fs.FileInfo) error {
	m := st.Mode()
	var what string
	switch {
	case m.IsRegular():
		return nil
	case m&fs.ModeSymlink != 0:
		what = "a symbolic link; copy the file itself there"
	case m.IsDir():
		what = "a folder, not a file"
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO), not a file"
	case m&fs.ModeSocket != 0:
		what = "a socket, not a file"
	case m&fs.ModeDevice != 0:
		what = "a device, not a file"
	default:
		what = "not a regular file"
	}
	return fmt.Errorf("%w: it is %s", ErrRefused, what)
}

// errIsLink is openNoFollow's answer for a path that became a link.
var errIsLink = errors.New("symbolic link")

// Open opens the file at path for reading through the same guard as
// every read of this package (a regular file only; a FIFO, device,
// socket, directory or symbolic link refused with ErrRefused, without
// being opened and without blocking). It is for a caller that reads a
// file from outside's bytes itself, such as hashing it before the read.
func Open(path string) (*os.File, error) {
	f, _, err := openFile(path)
	return f, err
}
