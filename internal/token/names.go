package token

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
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
// limits, a roomJoin without a room; and a storage credential in
// roomConfig, which the token hands to whoever holds it. Such a token still verifies; it just does not do what it
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
	if c.Video.RoomJoin && c.Video.Room == "" {
		out = append(out, `roomJoin without a room: LiveKit refuses the join ("no room name")`)
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
	if field := egressCredential(c.RoomConfig); field != "" {
		out = append(out, fmt.Sprintf("roomConfig holds a credential (%s): anyone holding this token can read it", field))
	}
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

// egressCredential names a storage secret or stream key in a roomConfig's
// egress section, "" when there is none: S3 and AliOSS secrets, GCP
// credentials, Azure account keys and stream outputs (their URLs carry the
// stream key), under protojson's names in either spelling (accountKey or
// account_key). LiveKit's RoomConfiguration.CheckCredentials looks for the
// same, logs "credentials found in token" and means to refuse such
// tokens; it misses image outputs, which this does not.
func egressCredential(roomConfig json.RawMessage) string {
	if len(roomConfig) == 0 {
		return ""
	}
	var cfg map[string]any
	if json.Unmarshal(roomConfig, &cfg) != nil {
		return ""
	}
	return findCredential(cfg["egress"], "egress")
}

func findCredential(v any, path string) string {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) { // the same field every run
			child := v[k]
			here := path + "." + pathKey(k)
			switch strings.ReplaceAll(strings.ToLower(k), "_", "") {
			case "secret", "credentials", "accountkey":
				if s, ok := child.(string); ok && s != "" {
					return here
				}
			case "streamoutputs":
				if l, ok := child.([]any); ok && len(l) > 0 {
					return here
				}
			}
			if f := findCredential(child, here); f != "" {
				return f
			}
		}
	case []any:
		for i, child := range v {
			if f := findCredential(child, fmt.Sprintf("%s[%d]", path, i)); f != "" {
				return f
			}
		}
	}
	return ""
}

// pathKey writes a JSON key for a path shown on a terminal: as it is when
// it is a plain name, quoted (escapes visible) otherwise.
func pathKey(k string) string {
	for _, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return strconv.Quote(k)
		}
	}
	return k
}
