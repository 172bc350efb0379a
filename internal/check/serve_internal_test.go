package check

import (
	"strings"
	"testing"

	"voicetoken/internal/token"
)

// TestServedFor: a served token must be for the room asked for, for the
// identity asked for (or any one the server chose when none was), and
// join the room.
func TestServedFor(t *testing.T) {
	join := func(room, sub string) *token.Claims {
		return &token.Claims{Subject: sub, Video: &token.VideoGrant{RoomJoin: true, Room: room}}
	}
	for _, tc := range []struct {
		name           string
		claims         *token.Claims
		room, identity string
		want           string // "" for ok, else a part of the error
	}{
		{name: "as asked", claims: join("test-room", "u1"), room: "test-room", identity: "u1"},
		{name: "the server's choice", claims: join("test-room", "user-1a2b"), room: "test-room"},
		{name: "another room", claims: join("lobby", "u1"), room: "test-room", identity: "u1", want: "a token for u1 in lobby, asked for u1 in test-room"},
		{name: "another identity", claims: join("test-room", "u2"), room: "test-room", identity: "u1", want: "asked for u1 in test-room"},
		{name: "no identity", claims: join("test-room", ""), room: "test-room", want: "asked for an identity of its choosing in test-room"},
		{name: "no roomJoin", claims: &token.Claims{Subject: "u1", Video: &token.VideoGrant{Room: "test-room"}}, room: "test-room", identity: "u1", want: "no roomJoin grant"},
		{name: "no video grant", claims: &token.Claims{Subject: "u1"}, room: "", identity: "u1", want: "no roomJoin grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := servedFor(tc.claims, tc.room, tc.identity)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("servedFor = %v; want ok", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("servedFor = %v; want %q", err, tc.want)
			}
		})
	}
}
