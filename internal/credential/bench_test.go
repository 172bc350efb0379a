package credential_test

import (
	"path/filepath"
	"testing"
	"time"

	"voicetoken/internal/credential"
)

func BenchmarkRotate(b *testing.B) {
	now := time.Now()
	toks := []string{tokenExp(b, now, time.Hour), tokenExp(b, now, 2*time.Hour)}
	p := filepath.Join(b.TempDir(), "tok")
	for i := 0; b.Loop(); i++ {
		if _, err := credential.Rotate(credential.RotateOptions{Path: p, Token: toks[i%2], Backups: 3}); err != nil {
			b.Fatal(err)
		}
	}
}
