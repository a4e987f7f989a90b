// Package buildinfo says which flabsync binary is running: the version
// `make build` stamped, else what the go command recorded (module
// version, VCS commit, its time, whether the tree was dirty, toolchain).
package buildinfo

import (
	"runtime/debug"
	"strings"
)

// Stamp is what `make build` writes into the binary with -ldflags -X,
// for builds where the go command records no VCS information
// (-buildvcs=false). Every field is empty when nothing was stamped.
type Stamp struct {
	// Version is git describe, or "dev".
	Version string
	// Revision and Time are the commit and its time (RFC 3339).
	Revision, Time string
	// Modified is "true" when the working tree had uncommitted changes.
	Modified string
}

// Info says which flabsync this is: what `flabsync version` and
// `flabsync --version` print.
type Info struct {
	// Version is what `make build` stamped (git describe), else the
	// module version the go command recorded (go install
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

// Current reads the build information of the running binary; what the
// go command recorded about the commit wins over s when it recorded any.
func Current(s Stamp) Info {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = nil
	}
	v := Read(s.Version, info)
	if v.Revision == "" && s.Revision != "" {
		v.Revision, v.Time, v.Dirty = s.Revision, s.Time, s.Modified == "true"
	}
	return v
}

// Read combines the version stamped with -ldflags (stamped: "dev" when
// none was) with what the go command recorded in info (nil: nothing
// recorded).
func Read(stamped string, info *debug.BuildInfo) Info {
	v := Info{Version: stamped}
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
func (v Info) String() string {
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
