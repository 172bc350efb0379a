package token_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	lkauth "github.com/livekit/protocol/auth"
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

func TestProblems(t *testing.T) {
	tests := []struct {
		name   string
		claims token.Claims
		want   []string
	}{
		{name: "none", claims: token.Claims{Kind: "agent", Video: &token.VideoGrant{CanPublishSources: []string{"camera", "microphone"}}}},
		{name: "no video grant", claims: token.Claims{}},
		{name: "not a participant token (an upstream JWT's own kind)", claims: token.Claims{Kind: "cohost"}},
		{name: "unknown kind", claims: token.Claims{Kind: "alien", Video: &token.VideoGrant{RoomJoin: true, Room: "r"}}, want: []string{`kind "alien" is not a LiveKit participant kind: LiveKit reads it as standard`}},
		{name: "unknown sources", claims: token.Claims{Video: &token.VideoGrant{CanPublishSources: []string{"mic", "camera", "screen"}}}, want: []string{
			`canPublishSources "mic" is not a LiveKit track source: LiveKit allows nothing for it`,
			`canPublishSources "screen" is not a LiveKit track source: LiveKit allows nothing for it`,
		}},
		{name: "at LiveKit's limits", claims: token.Claims{Subject: strings.Repeat("i", 256), Metadata: strings.Repeat("m", 512<<10),
			Attributes: map[string]string{"k": strings.Repeat("v", 64<<10-1)},
			Video:      &token.VideoGrant{RoomJoin: true, Room: strings.Repeat("r", 256)}}},
		{name: "over LiveKit's limits", claims: token.Claims{Subject: strings.Repeat("i", 257), Metadata: strings.Repeat("m", 512<<10+1),
			Attributes: map[string]string{"k": strings.Repeat("v", 64<<10)},
			Video:      &token.VideoGrant{RoomJoin: true, Room: strings.Repeat("r", 257)}}, want: []string{
			"identity: 257 bytes, over LiveKit's default limit of 256 (limit.max_participant_identity_length): it refuses the join unless that is raised",
			"room name: 257 bytes, over LiveKit's default limit of 256 (limit.max_room_name_length): it refuses the join unless that is raised",
			"metadata: 524289 bytes, over LiveKit's default limit of 524288 (limit.max_metadata_size): it refuses the join unless that is raised",
			"attributes: 65537 bytes, over LiveKit's default limit of 65536 (limit.max_attributes_size): it refuses the join unless that is raised",
		}},
		{name: "a storage secret in roomConfig: its path, never its value", claims: token.Claims{Video: &token.VideoGrant{RoomJoin: true, Room: "r"},
			RoomConfig: json.RawMessage(`{"egress":{"room":{"fileOutputs":[{"s3":{"secret":"SK-not-shown","bucket":"b"}},{"gcp":{"credentials":"x"}}]}}}`)},
			want: []string{"roomConfig holds a credential (egress.room.fileOutputs[0].s3.secret): anyone holding this token can read it"}},
		{name: "a key with control characters on the way is quoted", claims: token.Claims{Video: &token.VideoGrant{RoomJoin: true, Room: "r"},
			RoomConfig: json.RawMessage(`{"egress":{"\u001b[2J":{"secret":"s"}}}`)},
			want: []string{`roomConfig holds a credential (egress."\x1b[2J".secret): anyone holding this token can read it`}},
		{name: "roomJoin without a room", claims: token.Claims{Subject: "u", Video: &token.VideoGrant{RoomJoin: true}},
			want: []string{`roomJoin without a room: LiveKit refuses the join ("no room name")`}},
		{name: "long names without roomJoin (an admin token)", claims: token.Claims{Subject: strings.Repeat("i", 300), Video: &token.VideoGrant{RoomAdmin: true, Room: strings.Repeat("r", 300)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := token.Problems(&tt.claims); !slices.Equal(got, tt.want) {
				t.Errorf("Problems = %q, want %q", got, tt.want)
			}
		})
	}
}

// What Problems says LiveKit does with an unknown kind or source is what
// LiveKit's own grant code does.
func TestProblemsDescribeLiveKit(t *testing.T) {
	g := lkauth.ClaimGrants{Kind: "alien"}
	if k := g.GetParticipantKind(); k != livekit.ParticipantInfo_STANDARD {
		t.Errorf("LiveKit reads kind alien as %v, not standard", k)
	}
	pub := true
	v := lkauth.VideoGrant{CanPublish: &pub, CanPublishSources: []string{"mic"}}
	for _, src := range []livekit.TrackSource{livekit.TrackSource_MICROPHONE, livekit.TrackSource_CAMERA, livekit.TrackSource_SCREEN_SHARE} {
		if v.GetCanPublishSource(src) {
			t.Errorf("LiveKit allows %v for canPublishSources [mic]", src)
		}
	}
}

// A roomConfig is flagged for credentials when LiveKit's own
// RoomConfiguration.CheckCredentials finds them, and also for an image
// output's secret, which LiveKit's check misses (its switch has no
// ImageOutput case) though the token carries it all the same.
func TestEgressCredentialsMatchLiveKit(t *testing.T) {
	tests := []struct {
		name, roomConfig string
		want             bool
		liveKitMisses    bool
	}{
		{name: "agents only", roomConfig: `{"agents":[{"agentName":"support"}]}`},
		{name: "room file output to S3 with a secret", roomConfig: `{"egress":{"room":{"fileOutputs":[{"s3":{"accessKey":"AK","secret":"SK","bucket":"b"}}]}}}`, want: true},
		{name: "S3 without a secret (the egress service's own)", roomConfig: `{"egress":{"room":{"fileOutputs":[{"s3":{"bucket":"b"}}]}}}`},
		{name: "proto names: segment_outputs, account_key", roomConfig: `{"egress":{"participant":{"segment_outputs":[{"azure":{"account_name":"n","account_key":"K"}}]}}}`, want: true},
		{name: "GCP credentials in track egress", roomConfig: `{"egress":{"tracks":{"gcp":{"credentials":"{}","bucket":"b"}}}}`, want: true},
		{name: "RTMP stream output (its key is in the URL)", roomConfig: `{"egress":{"room":{"streamOutputs":[{"urls":["rtmp://x/live/KEY"]}]}}}`, want: true},
		{name: "AliOSS secret in image outputs", roomConfig: `{"egress":{"room":{"imageOutputs":[{"aliOSS":{"accessKey":"a","secret":"s"}}]}}}`, want: true, liveKitMisses: true},
		{name: "empty egress", roomConfig: `{"egress":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rc lkauth.RoomConfiguration
			if err := rc.UnmarshalJSON([]byte(tt.roomConfig)); err != nil {
				t.Fatalf("LiveKit cannot read the room config: %v", err)
			}
			if liveKit := rc.CheckCredentials() != nil; liveKit != (tt.want && !tt.liveKitMisses) {
				t.Errorf("LiveKit's CheckCredentials finds credentials: %v", liveKit)
			}
			ps := token.Problems(&token.Claims{Video: &token.VideoGrant{RoomJoin: true, Room: "r"}, RoomConfig: json.RawMessage(tt.roomConfig)})
			if ours := len(ps) > 0; ours != tt.want {
				t.Errorf("Problems: %q, want a credential found: %v", ps, tt.want)
			}
		})
	}
}
