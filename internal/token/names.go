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

// LiveKit's default limits (livekit-server's "limit:" configuration,
// pkg/config/config.go) past which it refuses a join outright.
const (
	LiveKitMaxIdentity   = 256       // limit.max_participant_identity_length
	LiveKitMaxRoomName   = 256       // limit.max_room_name_length
	LiveKitMaxMetadata   = 512 << 10 // limit.max_metadata_size
	LiveKitMaxAttributes = 64 << 10  // limit.max_attributes_size: keys and values together
)

// Problems lists what LiveKit would misread or refuse in a participant
// token (one with a video grant): a kind or a track source it does not
// know, an identity, room name, metadata or attributes over its default
// limits. Such a token still verifies; it just does not do what it
// appears to say, so verify, inspect, check and mint show these. Other
// JWTs (an agent's upstream token, whose "kind" means something else)
// have none.
func Problems(c *Claims) []string {
	if c.Video == nil {
		return nil
	}
	var out []string
	over := func(what string, n, limit int, setting string) {
		if n > limit {
			out = append(out, fmt.Sprintf("%s: %d bytes, over LiveKit's default limit of %d (%s): it refuses the join unless that is raised", what, n, limit, setting))
		}
	}
	if c.Video.RoomJoin {
		over("identity", len(c.ParticipantIdentity()), LiveKitMaxIdentity, "limit.max_participant_identity_length")
		over("room name", len(c.Video.Room), LiveKitMaxRoomName, "limit.max_room_name_length")
	}
	over("metadata", len(c.Metadata), LiveKitMaxMetadata, "limit.max_metadata_size")
	attrs := 0
	for k, v := range c.Attributes {
		attrs += len(k) + len(v)
	}
	over("attributes", attrs, LiveKitMaxAttributes, "limit.max_attributes_size")
	if c.Kind != "" {
		if _, err := ParseKind(c.Kind); err != nil {
			out = append(out, fmt.Sprintf("kind %q is not a LiveKit participant kind: LiveKit reads it as standard", c.Kind))
		}
	}
	for _, s := range c.Video.CanPublishSources {
		if _, err := ParseTrackSource(s); err != nil {
			out = append(out, fmt.Sprintf("canPublishSources %q is not a LiveKit track source: LiveKit allows nothing for it", s))
		}
	}
	return out
}
