package schedules

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
)

// Holder names a hand-run command for job runs and entries: user@host.
func Holder() string {
	name := "flabsync"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	if host != "" {
		name += "@" + host
	}
	return name
}

// HandHolder names this process for a job run by hand, on the job's
// lease and its job_runs row: user@host pid N, so two hand runs on one
// machine never share a lease.
func HandHolder() string {
	return fmt.Sprintf("%s pid %d", Holder(), os.Getpid())
}

// HandRunGone reports whether holder is a hand run of this user on this
// machine (HandHolder's form) whose process no longer exists: killed
// mid-job, its lease need not be waited out. It fits RunOptions.Gone.
func HandRunGone(holder string) bool {
	rest, ok := strings.CutPrefix(holder, Holder()+" pid ")
	if !ok {
		return false
	}
	pid, err := strconv.Atoi(rest)
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
