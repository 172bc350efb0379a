package token_test

import (
	"fmt"
	"time"

	"voicetoken/internal/token"
)

func ExampleKey_Mint() {
	key, _ := token.NewKey("devkey", "secret")
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	raw, _ := key.Mint(token.Claims{
		Subject: "user1",
		Video:   &token.VideoGrant{RoomJoin: true, Room: "test-room"},
	}, now, 6*time.Hour)

	rep := token.Check(raw, key, now.Add(time.Hour), 0)
	fmt.Println(rep.Verdict, rep.Token.Claims.Room(), "expires in", token.HumanDuration(rep.Remaining))
	// Output: VALID test-room expires in 5h
}

func ExampleCheck() {
	key, _ := token.NewKey("devkey", "secret")
	issued := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	raw, _ := key.Mint(token.Claims{Subject: "u", Video: &token.VideoGrant{RoomJoin: true, Room: "r"}}, issued, 24*time.Hour)

	rep := token.Check(raw, key, issued.Add(27*time.Hour+12*time.Minute), 0)
	fmt.Println(rep.Verdict)
	fmt.Println(rep.Err)
	// Output:
	// EXPIRED
	// token is expired 3h 12m ago
}
