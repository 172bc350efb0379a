//go:build !race

// The race detector adds allocations and drops pooled objects, so this
// file is built only without it: .ci/run runs it in its own step.

package token_test

import (
	"testing"
	"time"

	"voicetoken/internal/token"
)

// TestHotPathAllocations pins the allocations of Mint and Verify on the
// token the token API hands out: counts, not times, so a busy machine
// cannot fail it. Verify's three are the Token, the payload's text and
// the video grant (its tri-state fields included).
func TestHotPathAllocations(t *testing.T) {
	k, err := token.NewKey(benchKey, benchSecret)
	if err != nil {
		t.Fatal(err)
	}
	c := benchClaims()
	raw, err := k.Mint(c, benchNow, 6*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		max  float64
		fn   func()
	}{
		{name: "mint", max: 1, fn: func() { _, _ = k.Mint(c, benchNow, 6*time.Hour) }},
		{name: "verify", max: 3, fn: func() { _, _ = token.Verify(raw, k, benchNow) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(100, tt.fn); got > tt.max {
				t.Errorf("%s allocates %v times per token, want at most %v", tt.name, got, tt.max)
			}
		})
	}
}

// TestTriStateGrantsIndependent: the tri-state grants share one
// allocation with their grant, yet each reads its own value and stays
// nil when absent or null.
func TestTriStateGrantsIndependent(t *testing.T) {
	k, _ := token.NewKey(benchKey, benchSecret)
	raw := k.Sign(&token.Claims{Issuer: benchKey, Subject: "u", ExpiresAt: benchNow.Unix() + 60,
		Video: &token.VideoGrant{RoomJoin: true, Room: "r", CanPublish: token.Bool(true),
			CanSubscribe: token.Bool(false), CanUpdateOwnMetadata: token.Bool(true), CanManageAgentSession: token.Bool(false)}})
	tok, err := token.Verify(raw, k, benchNow)
	if err != nil {
		t.Fatal(err)
	}
	v := tok.Claims.Video
	tests := []struct {
		name string
		got  *bool
		want *bool
	}{
		{name: "canPublish", got: v.CanPublish, want: token.Bool(true)},
		{name: "canSubscribe", got: v.CanSubscribe, want: token.Bool(false)},
		{name: "canPublishData", got: v.CanPublishData},
		{name: "canUpdateOwnMetadata", got: v.CanUpdateOwnMetadata, want: token.Bool(true)},
		{name: "canSubscribeMetrics", got: v.CanSubscribeMetrics},
		{name: "canManageAgentSession", got: v.CanManageAgentSession, want: token.Bool(false)},
	}
	for _, tt := range tests {
		if (tt.got == nil) != (tt.want == nil) || (tt.got != nil && *tt.got != *tt.want) {
			t.Errorf("%s = %v, want %v", tt.name, fmtTri(tt.got), fmtTri(tt.want))
		}
	}
	*v.CanPublish = false // a caller may change one without touching another
	if !*v.CanUpdateOwnMetadata || *v.CanSubscribe {
		t.Error("changing canPublish changed another grant")
	}
}

func fmtTri(b *bool) string {
	if b == nil {
		return "nil"
	}
	if *b {
		return "true"
	}
	return "false"
}
