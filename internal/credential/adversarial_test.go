package credential_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"voicetoken/internal/credential"
	"voicetoken/internal/token"
)

// TestAdversarialCredentialFaults breaks a watched secret file in every
// way a disk, an operator or a bad deploy can: the last good token stays
// in use (Current returns it), a CREDENTIAL_REJECTED event says why,
// Reload returns the reason (errors.Is) without blocking, and a good file
// written afterwards is picked up again.
func TestAdversarialCredentialFaults(t *testing.T) {
	root := os.Geteuid() == 0
	tests := []struct {
		name    string
		fault   func(t *testing.T, p, good string)
		wantErr error
		reason  string // a word the event's reason must contain
		// rootReads: root reads a mode-000 file anyway, so the fault is no
		// fault: the token is unchanged and nothing is rejected.
		rootReads bool
	}{
		{name: "deleted", fault: func(t *testing.T, p, _ string) { must(t, os.Remove(p)) }, wantErr: fs.ErrNotExist, reason: "no such file"},
		{name: "truncated to 0 bytes", fault: func(t *testing.T, p, _ string) { must(t, os.Truncate(p, 0)) }, wantErr: credential.ErrEmpty, reason: "empty"},
		{name: "half a token", fault: func(t *testing.T, p, good string) { must(t, os.WriteFile(p, []byte(good[:len(good)/2]), 0o600)) }, wantErr: token.ErrMalformed, reason: "malformed"},
		{name: "cut inside the signature", fault: func(t *testing.T, p, good string) {
			must(t, os.WriteFile(p, []byte(good[:len(good)-5]+"\x00\x00"), 0o600))
		}, wantErr: token.ErrMalformed, reason: "malformed"},
		{name: "replaced by a directory", fault: func(t *testing.T, p, _ string) { must(t, os.Remove(p)); must(t, os.Mkdir(p, 0o700)) }, wantErr: credential.ErrNotRegular, reason: "not a regular file"},
		{name: "replaced by a FIFO", fault: func(t *testing.T, p, _ string) { must(t, os.Remove(p)); must(t, syscall.Mkfifo(p, 0o600)) }, wantErr: credential.ErrNotRegular, reason: "not a regular file"},
		{name: "symlink to /dev/zero", fault: func(t *testing.T, p, _ string) { must(t, os.Remove(p)); must(t, os.Symlink("/dev/zero", p)) }, wantErr: credential.ErrNotRegular, reason: "not a regular file"},
		{name: "dangling symlink", fault: func(t *testing.T, p, _ string) {
			must(t, os.Remove(p))
			must(t, os.Symlink(filepath.Join(filepath.Dir(p), "gone"), p))
		}, wantErr: fs.ErrNotExist, reason: "no such file"},
		{name: "1 MB of garbage", fault: func(t *testing.T, p, _ string) { must(t, os.WriteFile(p, make([]byte, 1<<20), 0o600)) }, wantErr: token.ErrTooLarge, reason: "too large"},
		{name: "unreadable (mode 000)", fault: func(t *testing.T, p, _ string) { must(t, os.Chmod(p, 0)) }, wantErr: fs.ErrPermission, reason: "permission denied", rootReads: true},
	}
	held, failed := 0, 0
	note := ""
	for _, tt := range tests {
		ok := t.Run(tt.name, func(t *testing.T) {
			now := time.Now()
			l := newLogs(t)
			good, next := tokenExp(t, now, 2*time.Hour), tokenExp(t, now, 3*time.Hour)
			l.Secret(good, next)
			p := filepath.Join(t.TempDir(), "podium_token")
			writeToken(t, p, good)
			src := startSource(t, l, credential.Config{Spec: credential.Spec{Kind: credential.KindFile, Path: p}, PollInterval: 20 * time.Millisecond})

			tt.fault(t, p, good)
			if tt.rootReads && root {
				// Root reads it anyway: the same token, nothing to reject.
				c, err := src.Reload(context.Background())
				if err != nil || c.Token() != good {
					t.Fatalf("as root, Reload = %v, %v; want the same token", c, err)
				}
				note = "-as-root-mode-000-is-readable"
				return
			}
			// A fault made in two steps (remove, then create) may first be
			// seen half done: wait for the event about the final state.
			var ev map[string]any
			eventually(t, 3*time.Second, "CREDENTIAL_REJECTED saying "+tt.reason, func() bool {
				for _, e := range l.Events("CREDENTIAL_REJECTED") {
					if r, _ := e["reason"].(string); strings.Contains(r, tt.reason) {
						ev = e
						return true
					}
				}
				return false
			})
			if ev["kept_fingerprint"] != token.Fingerprint(good) {
				t.Errorf("kept_fingerprint %v, want the good token's", ev["kept_fingerprint"])
			}
			if src.Current().Token() != good {
				t.Fatal("the good token was dropped")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := src.Reload(ctx)
			l.NoSecret(err)
			if !errors.Is(err, tt.wantErr) || c == nil || c.Token() != good {
				t.Fatalf("Reload = %v, %v; want %v and the good token kept", c, err, tt.wantErr)
			}
			if ctx.Err() != nil {
				t.Fatal("Reload blocked")
			}

			// Repair: a good file is picked up again.
			os.Chmod(p, 0o600)
			if fi, err := os.Lstat(p); err == nil && !fi.Mode().IsRegular() {
				must(t, os.RemoveAll(p))
			}
			writeToken(t, p, next)
			eventually(t, 3*time.Second, "the repaired file", func() bool { return src.Token() == next })
		})
		if ok {
			held++
		} else {
			failed++
		}
	}
	t.Logf("ADVERSARIAL scenario=credential-file-faults tried=deleted-truncated-half-dir-fifo-devzero-dangling-oversized-unreadable%s times=%d held=%d failed=%d", note, len(tests), held, failed)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
