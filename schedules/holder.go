package schedules

import (
	"os"
	"os/user"
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
