package token

import (
	"fmt"
	"strings"
)

// ParseKind checks a participant kind (the "kind" claim) against the
// kinds LiveKit knows (livekit.ParticipantInfo_Kind) and returns it in
// lower case, as LiveKit's SDKs write it. LiveKit reads any other value as
// "standard" without a word, so a typo would silently mint the wrong kind.
func ParseKind(s string) (string, error) {
	k := strings.ToLower(strings.TrimSpace(s))
	switch k {
	case "standard", "agent", "sip", "ingress", "egress", "connector", "bridge":
		return k, nil
	}
	return "", fmt.Errorf("participant kind %q: want standard, agent, sip, ingress, egress, connector or bridge (LiveKit reads anything else as standard)", s)
}

// ParseTrackSource checks a track source for canPublishSources against
// LiveKit's (livekit.TrackSource, UNKNOWN excepted) and returns it in
// lower case. LiveKit reads any other value as an unknown source, so a
// token allowing only "mic" could publish nothing.
func ParseTrackSource(s string) (string, error) {
	src := strings.ToLower(strings.TrimSpace(s))
	switch src {
	case "camera", "microphone", "screen_share", "screen_share_audio":
		return src, nil
	}
	return "", fmt.Errorf("track source %q: want camera, microphone, screen_share or screen_share_audio", s)
}
