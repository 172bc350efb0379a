// Package version says which build a binary is: its version, the commit
// and commit time it was built from, and the Go toolchain.
//
// Release builds (scripts/build.sh) stamp the version, commit and date
// with -ldflags -X, because a build from a source archive or inside a
// container has no .git to read. Any other build falls back to what the
// Go toolchain records itself (runtime/debug.ReadBuildInfo: the module
// version derived from the VCS tag, vcs.revision, vcs.time,
// vcs.modified), so `go build` in a clone reports a real commit too, and
// `go run` reports "(devel)".
package version

import (
	"cmp"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Stamped by the linker: -X voicetoken/internal/version.version=v1.2.3
// (and .commit, .date). They are set once at link time and never written
// at run time.
var (
	version string
	commit  string
	date    string
)

// Info is one build's identity, as `version --json` prints it.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Date      string `json:"date,omitempty"` // the commit's time, RFC 3339
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"go"`
	Platform  string `json:"platform"`
}

// Get returns the build's Info: stamped values first, then the toolchain's
// build information.
func Get() Info {
	return get(version, commit, date, debug.ReadBuildInfo)
}

func get(stampedVersion, stampedCommit, stampedDate string, read func() (*debug.BuildInfo, bool)) Info {
	in := Info{Version: stampedVersion, Commit: stampedCommit, Date: stampedDate,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := read()
	if !ok {
		in.Version = cmp.Or(in.Version, "(devel)")
		return in
	}
	in.GoVersion = bi.GoVersion
	in.Version = cmp.Or(in.Version, bi.Main.Version, "(devel)")
	in.addVCS(bi.Settings)
	// A stamped version says "-dirty" itself; keep the flag consistent.
	if strings.HasSuffix(in.Version, "-dirty") || strings.HasSuffix(in.Version, "+dirty") {
		in.Modified = true
	}
	return in
}

// addVCS fills the commit and date the stamps left empty from the
// toolchain's vcs.* settings, and notes a modified work tree.
func (in *Info) addVCS(settings []debug.BuildSetting) {
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			in.Commit = cmp.Or(in.Commit, s.Value)
		case "vcs.time":
			in.Date = cmp.Or(in.Date, s.Value)
		case "vcs.modified":
			in.Modified = in.Modified || s.Value == "true"
		}
	}
}

// String is the one-line form: "v1.2.3 (commit 0123abc, 2026-12-04T16:00:00Z, go1.26.8 linux/amd64)".
func (in Info) String() string {
	parts := []string{}
	if in.Commit != "" {
		c := in.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		if in.Modified {
			c += ", modified"
		}
		parts = append(parts, "commit "+c)
	}
	if in.Date != "" {
		parts = append(parts, in.Date)
	}
	parts = append(parts, in.GoVersion+" "+in.Platform)
	return fmt.Sprintf("%s (%s)", in.Version, strings.Join(parts, ", "))
}
