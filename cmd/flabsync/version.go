package main

import (
	"context"
	"fmt"

	"github.com/flabsync/flabsync/internal/buildinfo"
)

// Revision, RevisionTime and Modified are stamped by `make build`
// (-ldflags -X) for builds where the go command records no VCS
// information (-buildvcs=false); what it records wins when it does.
var (
	Revision     = ""
	RevisionTime = ""
	Modified     = ""
)

// currentVersion reads the build information of the running binary.
func currentVersion() buildinfo.Info {
	return buildinfo.Current(buildinfo.Stamp{Version: Version, Revision: Revision, Time: RevisionTime, Modified: Modified})
}

func runVersion(_ context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("version", "version (or flabsync --version)",
		"Prints which flabsync this is: the version 'make build' stamped (git describe), else the\n"+
			"module version, else dev; the commit it was built from and that commit's time; 'dirty'\n"+
			"when the working tree had uncommitted changes; and the Go toolchain.")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("version: takes no arguments, got %q", fs.Arg(0))
	}
	fmt.Fprintln(m.Stdout, currentVersion())
	return nil
}
