package version

import (
	"runtime/debug"
	"testing"
)

func TestGet(t *testing.T) {
	vcs := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "voicetoken", Version: "v0.0.0-20261204160000-0123456789ab+dirty"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-04T16:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	tests := []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  Info
		wantLine              string
	}{
		{name: "go run", bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			want: Info{Version: "(devel)", GoVersion: "go1.26.8"}, wantLine: "(devel) (go1.26.8 "},
		{name: "go build in a clone", bi: vcs,
			want:     Info{Version: "v0.0.0-20261204160000-0123456789ab+dirty", Commit: "0123456789abcdef0123", Date: "2026-12-04T16:00:00Z", Modified: true, GoVersion: "go1.26.8"},
			wantLine: "v0.0.0-20261204160000-0123456789ab+dirty (commit 0123456789ab, modified, 2026-12-04T16:00:00Z, go1.26.8 "},
		{name: "stamped wins", version: "v1.2.3", commit: "feedface", date: "2026-12-01T00:00:00Z", bi: vcs,
			want:     Info{Version: "v1.2.3", Commit: "feedface", Date: "2026-12-01T00:00:00Z", Modified: true, GoVersion: "go1.26.8"},
			wantLine: "v1.2.3 (commit feedface, modified, 2026-12-01T00:00:00Z, go1.26.8 "},
		{name: "no build info", version: "v1.2.3", bi: nil, want: Info{Version: "v1.2.3"}, wantLine: "v1.2.3 (go"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := get(tt.version, tt.commit, tt.date, func() (*debug.BuildInfo, bool) { return tt.bi, tt.bi != nil })
			line := got.String()
			got.Platform = ""
			if tt.bi == nil {
				got.GoVersion = ""
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if len(line) < len(tt.wantLine) || line[:len(tt.wantLine)] != tt.wantLine {
				t.Errorf("String() %q, want prefix %q", line, tt.wantLine)
			}
		})
	}
}
