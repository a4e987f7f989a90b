package schedules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"github.com/flabsync/flabsync/internal/logging"
	"github.com/flabsync/flabsync/pipeline/ledger"
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

// ImportHolder names a hand-run import on its process lease and its
// claims: user@host:pid.
func ImportHolder() string { return fmt.Sprintf("%s:%d", Holder(), os.Getpid()) }

// endGoneHeartbeats ends the heartbeats of processes known to be gone, so
// that their files and bookings are taken over at once instead of after
// inbox.takeover_after: earlier runs of the serve named name (one serve
// runs under a name; "" for none), and imports of this user on this
// machine (ImportHolder) whose process no longer exists — a serve
// restarted after kill -9, an import run again after one was killed.
// Holders on other machines are never judged here: only their heartbeat
// says whether they live.
func endGoneHeartbeats(ctx context.Context, led *ledger.Ledger, name, self string) error {
	var gone []string
	if name != "" {
		hs, err := led.Heartbeats(ctx, name+":")
		if err != nil {
			return err
		}
		for _, h := range hs {
			if h != self {
				gone = append(gone, h)
			}
		}
	}
	hs, err := led.Heartbeats(ctx, Holder()+":")
	if err != nil {
		return err
	}
	for _, h := range hs {
		if h != self && pidGone(strings.TrimPrefix(h, Holder()+":")) {
			gone = append(gone, h)
		}
	}
	for _, h := range gone {
		if err := led.EndHeartbeat(ctx, h); err != nil {
			return err
		}
	}
	return nil
}

// beat starts the heartbeat of holder (a serve named name, or an import:
// "") after ending those of processes known to be gone, and keeps it
// until the returned stop is called, which waits for the last beat.
func beat(ctx context.Context, led *ledger.Ledger, name, holder string, log *slog.Logger) (stop func(), err error) {
	if err := endGoneHeartbeats(ctx, led, name, holder); err != nil {
		return nil, err
	}
	if err := led.Heartbeat(ctx, holder); err != nil {
		return nil, err
	}
	beatCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		led.KeepAlive(beatCtx, holder, func(err error) { log.Warn("heartbeat", logging.Err(err)) })
	}()
	return func() { cancel(); <-done }, nil
}

// HandRunGone reports whether holder is a hand run of this user on this
// machine (HandHolder's form) whose process no longer exists: killed
// mid-job, its lease need not be waited out. It fits RunOptions.Gone.
func HandRunGone(holder string) bool {
	rest, ok := strings.CutPrefix(holder, Holder()+" pid ")
	if !ok {
		return false
	}
	return pidGone(rest)
}

// pidGone reports whether pid (as text) names no process on this machine
// — not this one, and not one that exists.
func pidGone(pid string) bool {
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 0 || n == os.Getpid() {
		return false
	}
	return errors.Is(syscall.Kill(n, 0), syscall.ESRCH)
}
