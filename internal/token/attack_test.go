package token_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"voicetoken/internal/token"
)

// TestAttackCorpus runs every token in testdata/tokens through Check with
// the dev key and expects the verdict named here. A file without an entry
// fails the test, so the corpus and the expectations cannot drift apart.
func TestAttackCorpus(t *testing.T) {
	want := map[string]token.Verdict{
		"seed-browser.jwt":     token.Valid,
		"agent-dispatch.jwt":   token.Valid,
		"admin.jwt":            token.Valid,
		"alg-none.jwt":         token.Malformed,
		"alg-NONE.jwt":         token.Malformed,
		"alg-rs256-kid.jwt":    token.Malformed,
		"jku-x5u.jwt":          token.BadSignature,
		"empty-signature.jwt":  token.Malformed,
		"duplicate-exp.jwt":    token.Malformed,
		"exp-string.jwt":       token.Malformed,
		"exp-huge.jwt":         token.Malformed,
		"nested-bomb.jwt":      token.Malformed,
		"non-utf8.jwt":         token.BadSignature,
		"control-identity.jwt": token.BadSignature,
		"room-path-glob.jwt":   token.BadSignature,
		"two-segments.jwt":     token.Malformed,
	}
	k := testKey(t)
	files, err := filepath.Glob("testdata/tokens/*.jwt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	for _, p := range files {
		name := filepath.Base(p)
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			raw := strings.TrimSpace(string(b))
			v, ok := want[name]
			if !ok {
				t.Fatalf("no expected verdict for %s", name)
			}
			now := time.Now()
			if tok, err := token.Parse(raw); err == nil && tok.Claims.IssuedAt != 0 {
				now = time.Unix(tok.Claims.IssuedAt, 0) // valid seeds are judged when they were minted
			}
			if rep := token.Check(raw, k, now, 0); rep.Verdict != v {
				t.Errorf("verdict %s (%v), want %s", rep.Verdict, rep.Err, v)
			}
		})
	}
}
