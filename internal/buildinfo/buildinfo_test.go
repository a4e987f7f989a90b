package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestRead(t *testing.T) {
	info := func(mainVersion string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/flabsync/flabsync", Version: mainVersion}}
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	vcs := []string{"vcs", "git", "vcs.revision", "765f171a2b3c4d5e6f708192a3b4c5d6e7f80912", "vcs.time", "2026-12-06T21:00:00Z", "vcs.modified", "true"}
	for _, tc := range []struct {
		name    string
		stamped string
		info    *debug.BuildInfo
		want    string
	}{
		{"MakeBuild", "765f171-dirty", info("(devel)", vcs...),
			"flabsync 765f171-dirty (revision 765f171a2b3c, 2026-12-06T21:00:00Z, dirty; go1.26.8)"},
		{"GoInstallAtVersion", "dev", info("v1.2.3"),
			"flabsync v1.2.3 (no VCS revision: go run, or built outside a git checkout; go1.26.8)"},
		{"GoBuildInCheckout", "dev", info("(devel)", vcs[:6]...),
			"flabsync dev (revision 765f171a2b3c, 2026-12-06T21:00:00Z; go1.26.8)"},
		{"NoBuildInfo", "dev", nil, "flabsync dev (no VCS revision: go run, or built outside a git checkout)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Read(tc.stamped, tc.info).String(); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
