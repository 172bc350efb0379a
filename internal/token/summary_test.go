package token_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	lkauth "github.com/livekit/protocol/auth"

	"voicetoken/internal/token"
)

func TestAbbrev(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"", 5, ""},
		{"short", 5, "short"},
		{"longer", 5, "longe… (6 bytes)"},
		{"héllo wörld", 4, "héll… (13 bytes)"}, // cut at a rune, size in bytes
		{"\xff\xfe\xfd", 2, "\xff\xfe… (3 bytes)"},
	}
	for _, tt := range tests {
		got := token.Abbrev(tt.in, tt.max)
		if got != tt.want {
			t.Errorf("Abbrev(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
		if head, _, _ := strings.Cut(got, "…"); utf8.RuneCountInString(head) > tt.max {
			t.Errorf("Abbrev(%q, %d) keeps %d runes", tt.in, tt.max, utf8.RuneCountInString(head))
		}
	}
}

// Every roomConfig here is one LiveKit's RoomConfiguration reads, so the
// summary is of real configurations; egress contents, where storage
// secrets live, are never shown.
func TestRoomConfigSummary(t *testing.T) {
	tests := []struct {
		name, roomConfig string
		agents, settings []string
	}{
		{name: "none"},
		{name: "one agent", roomConfig: `{"agents":[{"agentName":"support"}]}`, agents: []string{"support"}},
		{name: "agents with metadata and deployment, proto names",
			roomConfig: `{"agents":[{"agent_name":"host-bot","metadata":"{\"lang\":\"en\"}"},{"agentName":"scribe","deployment":"prod-eu"},{"metadata":"m"}]}`,
			agents:     []string{`host-bot (job metadata {"lang":"en"})`, "scribe (deployment prod-eu)", "(no agentName) (job metadata m)"}},
		{name: "settings in key order, egress by section only",
			roomConfig: `{"name":"demo","emptyTimeout":300,"maxParticipants":10,"syncStreams":true,"egress":{"room":{"fileOutputs":[{"s3":{"secret":"SK-never-shown","bucket":"b"}}]},"tracks":{"filepath":"x"}},"agents":[{"agentName":"a"}]}`,
			agents:     []string{"a"},
			settings:   []string{"egress (room, tracks)", "emptyTimeout=300", "maxParticipants=10", "name=demo", "syncStreams=true"}},
		{name: "a long metadata is cut", roomConfig: `{"metadata":"` + strings.Repeat("x", 50) + `"}`,
			settings: []string{"metadata=" + strings.Repeat("x", 40) + "… (50 bytes)"}},
		{name: "empty egress", roomConfig: `{"egress":{}}`, settings: []string{"egress {}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.roomConfig != "" {
				var rc lkauth.RoomConfiguration
				if err := rc.UnmarshalJSON([]byte(tt.roomConfig)); err != nil {
					t.Fatalf("LiveKit cannot read the room config: %v", err)
				}
			}
			agents, settings := token.RoomConfigSummary(json.RawMessage(tt.roomConfig))
			if !slices.Equal(agents, tt.agents) || !slices.Equal(settings, tt.settings) {
				t.Errorf("RoomConfigSummary = %q, %q\nwant %q, %q", agents, settings, tt.agents, tt.settings)
			}
			if all := strings.Join(append(agents, settings...), "\n"); strings.Contains(all, "SK-never-shown") {
				t.Error("the summary shows an egress secret")
			}
		})
	}
	// Not LiveKit's, but a token may carry anything: said, not shown.
	if _, s := token.RoomConfigSummary(json.RawMessage(`{"agents":`)); !slices.Equal(s, []string{"not a JSON object (10 bytes)"}) {
		t.Errorf("broken roomConfig: %q", s)
	}
}
