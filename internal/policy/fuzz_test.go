package policy

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParsePolicy: any input either parses into a policy that compiles,
// or is refused with ErrInvalidPolicy; never a panic.
func FuzzParsePolicy(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "policies", "*.yaml"))
	seeds = append(seeds, filepath.Join("..", "..", "examples", "policy.yaml"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("rooms: [{name: a, agent: b}]\napi_keys: [{name: k, sha256: 00, rooms: ['*']}]"))
	f.Add([]byte("max_ttl: 1e308\ndefault_ttl: NaN"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("error without ErrInvalidPolicy: %v", err)
			}
			return
		}
		if _, err := Compile(p); err != nil {
			t.Fatalf("parsed policy does not compile: %v", err)
		}
	})
}
