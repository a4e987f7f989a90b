//go:build !unix

package sheet

import "os"

// openNoFollow opens path read-only. Without O_NOFOLLOW and O_NONBLOCK,
// openFile's Lstat before and fstat after are the guard.
func openNoFollow(path string) (*os.File, error) { return os.Open(path) }
