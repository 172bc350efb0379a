package token_test

import (
	"testing"
	"time"

	lkauth "github.com/livekit/protocol/auth"

	"voicetoken/internal/token"
)

func TestScratchCompat(t *testing.T) {
	k, _ := token.NewKey("devkey", "secret")
	now := time.Now()
	raw, err := k.Mint(token.Claims{Subject: "user1", Name: "U", Video: &token.VideoGrant{RoomJoin: true, Room: "r", CanPublish: token.Bool(true)}, Attributes: map[string]string{"a": "b"}}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	v, err := lkauth.ParseAPIToken(raw)
	if err != nil {
		t.Fatal(err)
	}
	_, g, err := v.Verify("secret")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v %+v", g, g.Video)
	at := lkauth.NewAccessToken("devkey", "secret").SetIdentity("x").SetVideoGrant(&lkauth.VideoGrant{RoomJoin: true, Room: "r"}).SetName("n")
	lt, _ := at.ToJWT()
	tok, err := token.Verify(lt, k, now)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := tok.Claims.MarshalJSON()
	t.Logf("%s", b)
}
