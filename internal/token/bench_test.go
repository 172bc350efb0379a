package token_test

import (
	"testing"
	"time"

	lkauth "github.com/livekit/protocol/auth"

	"voicetoken/internal/token"
)

// The benchmarks mint and verify the token the seed's /api/token hands a
// browser: join one room, publish, subscribe, data, with a display name.
// Each has a LiveKit twin so one `go test -bench` run gives the ratio.

const (
	benchKey    = "APIbenchkey"
	benchSecret = "a-32-byte-long-benchmark-secret!"
)

var benchNow = time.Unix(1_790_000_000, 0)

func benchClaims() token.Claims {
	return token.Claims{
		Subject: "user-4f2a9c", Name: "Alice",
		Video: &token.VideoGrant{RoomJoin: true, Room: "test-room",
			CanPublish: token.Bool(true), CanSubscribe: token.Bool(true), CanPublishData: token.Bool(true)},
	}
}

func BenchmarkMint(b *testing.B) {
	k, err := token.NewKey(benchKey, benchSecret)
	if err != nil {
		b.Fatal(err)
	}
	c := benchClaims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Mint(c, benchNow, 6*time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMintLiveKit(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		at := lkauth.NewAccessToken(benchKey, benchSecret).
			SetIdentity("user-4f2a9c").SetName("Alice").SetValidFor(6 * time.Hour)
		at.SetVideoGrant(&lkauth.VideoGrant{RoomJoin: true, Room: "test-room",
			CanPublish: ptr(true), CanSubscribe: ptr(true), CanPublishData: ptr(true)})
		if _, err := at.ToJWT(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	k, _ := token.NewKey(benchKey, benchSecret)
	raw, _ := k.Mint(benchClaims(), time.Now(), 6*time.Hour)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		t, err := token.Verify(raw, k, now)
		if err != nil || t.Claims.Video.Room != "test-room" {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyLiveKit(b *testing.B) {
	k, _ := token.NewKey(benchKey, benchSecret)
	raw, _ := k.Mint(benchClaims(), time.Now(), 6*time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		v, err := lkauth.ParseAPIToken(raw)
		if err != nil {
			b.Fatal(err)
		}
		_, g, err := v.Verify(benchSecret)
		if err != nil || g.Video.Room != "test-room" {
			b.Fatal(err)
		}
	}
}

func ptr[T any](v T) *T { return &v }
