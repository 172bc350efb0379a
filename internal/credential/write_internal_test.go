package credential

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"voicetoken/internal/testkit"
)

// TestRotateFailsSafelyAtEveryStep makes each durable step of Rotate fail
// in turn and checks what a crash there would leave: the file holds the
// old token or the new one, whole, and once the new one is in place the
// old one is in NAME.bak.
func TestRotateFailsSafelyAtEveryStep(t *testing.T) {
	steps := []string{"backup-moved", "backup-written", "temp-created", "temp-written", "temp-synced", "renamed"}
	injected := errors.New("injected crash")
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "podium_token")
			now := time.Now()
			older, old, next := testkit.TokenExp(t, now, time.Hour), testkit.TokenExp(t, now, 2*time.Hour), testkit.TokenExp(t, now, 3*time.Hour)
			if err := os.WriteFile(p+".bak", []byte(older), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(old+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			hit := false
			_, err := Rotate(RotateOptions{Path: p, Token: next, Backups: 3, step: func(s string) error {
				if s == step {
					hit = true
					return injected
				}
				return nil
			}})
			if !hit || !errors.Is(err, injected) {
				t.Fatalf("step %s not reached (err %v)", step, err)
			}
			got, _ := os.ReadFile(p)
			cur := strings.TrimSpace(string(got))
			switch {
			case cur == old:
			case cur == next:
				bak, _ := os.ReadFile(p + ".bak")
				if string(bak) != old+"\n" {
					t.Errorf("new token in place but NAME.bak does not hold the old one")
				}
			default:
				t.Fatalf("file holds neither token whole (%d bytes)", len(got))
			}
			// The next rotate cleans up whatever the crash left.
			res, err := Rotate(RotateOptions{Path: p, Token: next, Backups: 3})
			if err != nil {
				t.Fatalf("rotate after the crash: %v", err)
			}
			if m, _ := filepath.Glob(filepath.Join(dir, ".podium_token.tmp-*")); len(m) != 0 {
				t.Errorf("stale temporary files left: %v", m)
			}
			if got, _ := os.ReadFile(p); strings.TrimSpace(string(got)) != next {
				t.Errorf("after the second rotate the file is not the new token (unchanged=%v)", res.Unchanged)
			}
		})
	}
}

// TestAsideName: NAME.bak moves to NAME.bak.<its time>, and never onto a
// backup that already has that name (two rotations within one mtime
// tick, or a backup restored by hand).
func TestAsideName(t *testing.T) {
	at := time.Date(2026, 12, 4, 19, 30, 5, 123, time.FixedZone("CET", 3600))
	const stamp = ".bak.20261204T183005.000000123Z"
	for _, tc := range []struct {
		name  string
		taken []string // suffixes of files already there
		want  string
	}{
		{name: "free", want: stamp},
		{name: "taken once", taken: []string{stamp}, want: stamp + "-1"},
		{name: "taken twice", taken: []string{stamp, stamp + "-1"}, want: stamp + "-2"},
		{name: "a gap is reused", taken: []string{stamp, stamp + "-2"}, want: stamp + "-1"},
		{name: "a dangling link counts as taken", taken: []string{stamp + "@"}, want: stamp + "-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "podium_token")
			for _, s := range tc.taken {
				if name, ok := strings.CutSuffix(s, "@"); ok {
					if err := os.Symlink("/nonexistent", p+name); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if err := os.WriteFile(p+s, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if got := asideName(p+".bak", at); got != p+tc.want {
				t.Errorf("asideName = %s, want %s", filepath.Base(got), filepath.Base(p+tc.want))
			}
		})
	}
}
