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
// the dev key and expects the verdict of corpusVerdicts. A file without an
// entry fails the test, so the corpus and the expectations cannot drift
// apart.
func TestAttackCorpus(t *testing.T) {
	want := corpusVerdicts()
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
			c, ok := want[name]
			v := c.verdict
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
