package token_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"voicetoken/internal/token"
)

// addSeeds adds every file of testdata/tokens (one token per file) to f.
func addSeeds(f *testing.F) {
	files, _ := filepath.Glob("testdata/tokens/*")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(strings.TrimSpace(string(b)))
	}
}

// FuzzParse: no input panics or hangs the parser; whatever parses
// re-encodes to claims that parse to the same JSON (nothing is lost or
// invented), and a token whose signature verifies still verifies after a
// re-sign of the same claims.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	k, _ := token.NewKey("devkey", "secret")
	f.Fuzz(func(t *testing.T, raw string) {
		rep := token.Check(raw, k, time.Unix(1_790_000_000, 0), time.Hour)
		if rep.Token == nil && rep.Verdict != token.Malformed {
			t.Fatalf("verdict %s without token", rep.Verdict)
		}
		tok, err := token.Decode(raw)
		if err != nil {
			return
		}
		first, err := tok.Claims.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(first) {
			t.Fatalf("re-encoded claims are not JSON: %s", first)
		}
		for _, p := range token.Problems(&tok.Claims) { // verify and check print these
			if p == "" || strings.ContainsFunc(p, unicode.IsControl) {
				t.Fatalf("problem %q is empty or holds a control character", p)
			}
		}
		agents, settings := token.RoomConfigSummary(tok.Claims.RoomConfig) // verify prints these
		for _, line := range append(agents, settings...) {
			if line == "" {
				t.Fatalf("empty roomConfig summary line in %q, %q", agents, settings)
			}
		}
		var again token.Claims
		if err := again.UnmarshalJSON(first); err != nil {
			t.Fatalf("re-encoded claims do not parse: %v\n%s", err, first)
		}
		second, _ := again.MarshalJSON()
		if !bytes.Equal(first, second) {
			t.Fatalf("round trip changed claims:\n%s\n%s", first, second)
		}
		resigned := k.Sign(&again)
		if _, err := token.Parse(resigned); err != nil {
			t.Fatalf("a token we signed does not parse: %v", err)
		}
	})
}

// FuzzClaimsJSON compares our JSON reader with encoding/json: whatever we
// accept must be valid JSON.
func FuzzClaimsJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"sub":"u","exp":1}`, `{"video":{"roomJoin":true,"room":"r"}}`, `{"a":[1,{"b":null}],"exp":1.5e3}`, `{"name":"\ud83d\ude00\u00e9"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var c token.Claims
		if err := c.UnmarshalJSON(data); err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON: %q", data)
		}
	})
}
