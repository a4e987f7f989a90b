//go:build unix

package sheet

import (
	"errors"
	"os"
	"syscall"
)

// openNoFollow opens path read-only without following a symbolic link
// (ELOOP: errIsLink) and without blocking on a FIFO (O_NONBLOCK: a FIFO
// with no writer opens at once, and is then refused by its fstat).
func openNoFollow(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, errIsLink
	}
	return f, err
}
