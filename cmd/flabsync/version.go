package main

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
)

// Revision, RevisionTime and Modified are stamped by `make build`
// (-ldflags -X) for builds where the go command records no VCS
// information (-buildvcs=false); what it records wins when it does.
var (
	Revision     = ""
	RevisionTime = ""
	Modified     = ""
)

// buildVersion says which flabsync this is: what `flabsync version` and
// `flabsync --version` print.
type buildVersion struct {
	// Version is what `make build` stamped (-X main.Version, git describe),
	// else the module version the go command recorded (go install
	// module@v1.2.3), else "dev".
	Version string
	// Revision and Time are the VCS commit the binary was built from and
	// its commit time (RFC 3339), as the go command recorded them; empty
	// when it recorded none (go run, a build outside a git checkout, or
	// -buildvcs=false).
	Revision string
	Time     string
	// Dirty means the working tree had changes not committed.
	Dirty bool
	// Go is the toolchain that built it.
	Go string
}

// currentVersion reads the build information of the running binary.
func currentVersion() buildVersion {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = nil
	}
	v := readBuildVersion(Version, info)
	if v.Revision == "" && Revision != "" {
		v.Revision, v.Time, v.Dirty = Revision, RevisionTime, Modified == "true"
	}
	return v
}

// readBuildVersion combines the version stamped with -ldflags (stamped:
// "dev" when none was) with what the go command recorded in info (nil:
// nothing recorded).
func readBuildVersion(stamped string, info *debug.BuildInfo) buildVersion {
	v := buildVersion{Version: stamped}
	if info == nil {
		if v.Version == "" {
			v.Version = "dev"
		}
		return v
	}
	v.Go = info.GoVersion
	if v.Version == "" || v.Version == "dev" {
		v.Version = "dev"
		if mv := info.Main.Version; mv != "" && mv != "(devel)" {
			v.Version = mv
		}
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Dirty = s.Value == "true"
		}
	}
	return v
}

// String is the one line `flabsync version` prints, e.g.
//
//	flabsync v0.3.0-4-g765f171 (revision 765f171a2b3c, 2026-12-06T21:00:00Z, dirty; go1.26.8)
func (v buildVersion) String() string {
	var parts []string
	if v.Revision != "" {
		rev := v.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		parts = append(parts, "revision "+rev)
		if v.Time != "" {
			parts = append(parts, v.Time)
		}
		if v.Dirty {
			parts = append(parts, "dirty")
		}
	} else {
		parts = append(parts, "no VCS revision: go run, or built outside a git checkout")
	}
	s := "flabsync " + v.Version + " (" + strings.Join(parts, ", ")
	if v.Go != "" {
		s += "; " + v.Go
	}
	return s + ")"
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
