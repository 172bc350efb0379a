package token_test

import (
	"strings"
	"testing"

	"github.com/livekit/protocol/livekit"

	"voicetoken/internal/token"
)

// The kinds and track sources we accept are exactly LiveKit's, read from
// its own enums: when LiveKit adds one, this fails.
func TestNamesMatchLiveKit(t *testing.T) {
	for name := range livekit.ParticipantInfo_Kind_value {
		if got, err := token.ParseKind(name); err != nil || got != strings.ToLower(name) {
			t.Errorf("ParseKind(%q) = %q, %v; LiveKit knows this kind", name, got, err)
		}
	}
	for name := range livekit.TrackSource_value {
		got, err := token.ParseTrackSource(name)
		if name == "UNKNOWN" {
			if err == nil {
				t.Errorf("ParseTrackSource(UNKNOWN) accepted: LiveKit grants nothing for it")
			}
			continue
		}
		if err != nil || got != strings.ToLower(name) {
			t.Errorf("ParseTrackSource(%q) = %q, %v; LiveKit knows this source", name, got, err)
		}
	}
}

func TestParseKindAndSource(t *testing.T) {
	tests := []struct {
		in, kind, source string // "" means refused
	}{
		{in: "agent", kind: "agent"},
		{in: " SIP ", kind: "sip"},
		{in: "Standard", kind: "standard"},
		{in: "alien"},
		{in: ""},
		{in: "microphone", source: "microphone"},
		{in: "Screen_Share", source: "screen_share"},
		{in: "mic"},
		{in: "screen-share"},
		{in: "unknown"},
	}
	for _, tt := range tests {
		k, kerr := token.ParseKind(tt.in)
		if k != tt.kind || (kerr == nil) != (tt.kind != "") {
			t.Errorf("ParseKind(%q) = %q, %v; want %q", tt.in, k, kerr, tt.kind)
		}
		s, serr := token.ParseTrackSource(tt.in)
		if s != tt.source || (serr == nil) != (tt.source != "") {
			t.Errorf("ParseTrackSource(%q) = %q, %v; want %q", tt.in, s, serr, tt.source)
		}
	}
}
