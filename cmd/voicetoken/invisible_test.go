package main

import (
	"strings"
	"testing"
	"time"

	"voicetoken/internal/token"
)

// TestAdversarialVerifyInvisibleCharacters: a claim holding a zero-width
// or bidi character reads as another value ("support-agent\u200b" as
// "support-agent", U+202E reverses what follows). verify and inspect, as
// text and as JSON, must show every such rune escaped, as they already
// show control characters.
func TestAdversarialVerifyInvisibleCharacters(t *testing.T) {
	k, _ := token.NewKey("APIprod", testSecret)
	invisible := []rune{0x200b, 0x200c, 0x200d, 0x200e, 0x200f, 0x202a, 0x202e, 0x2060, 0x2066, 0x2067, 0x2068, 0x2069, 0xfeff, 0x061c}
	tried, failed := 0, 0
	for _, r := range invisible {
		raw, err := k.Mint(token.Claims{
			Subject: "support-agent" + string(r), Name: string(r) + "tnega",
			Metadata: "a" + string(r) + "b",
			Video:    &token.VideoGrant{RoomJoin: true, Room: "support" + string(r)},
		}, testNow, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"verify"}, {"inspect"}, {"verify", "--json"}, {"inspect", "--json"}} {
			tried++
			ok := t.Run(strings.Join(args, " ")+"/"+token.Printable(string(r)), func(t *testing.T) {
				res := runCLI(t, prodEnv, "", append(args, raw)...)
				if res.code != 0 {
					t.Fatalf("exit %d: %s", res.code, res.stderr)
				}
				for _, out := range []string{res.stdout, res.stderr} {
					if i := strings.IndexRune(out, r); i >= 0 {
						t.Fatalf("U+%04X reaches the terminal raw: %q", r, out[max(i-20, 0):min(i+20, len(out))])
					}
				}
				if !strings.Contains(strings.ToLower(res.stdout), `support-agent\u`+strings.ToLower(strings.TrimPrefix(token.Printable(string(r)), `\u`))) {
					t.Errorf("the identity is not shown escaped:\n%s", res.stdout)
				}
			})
			if !ok {
				failed++
			}
		}
	}
	t.Logf("ADVERSARIAL scenario=invisible-characters-in-claims tried=verify-and-inspect-with-bidi-and-zero-width-characters times=%d held=%d failed=%d", tried, tried-failed, failed)
}
