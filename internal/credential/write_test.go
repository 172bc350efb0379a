package credential_test

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"voicetoken/internal/credential"
	"voicetoken/internal/token"
)

func TestWriteFileMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := credential.WriteFile(p, []byte("new"), credential.FileMode); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %#o, want 0600", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Errorf("content %q", b)
	}
}

func TestRotate(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name        string
		existing    bool
		oldValue    string // "" means a fresh valid token
		newValue    func(t *testing.T) string
		opts        credential.RotateOptions
		wantErr     error
		wantWritten bool
		wantBackup  bool
	}{
		{name: "replace with backup", existing: true, opts: credential.RotateOptions{Backups: 1}, wantWritten: true, wantBackup: true},
		{name: "first write has no backup", existing: false, opts: credential.RotateOptions{Backups: 1}, wantWritten: true},
		{name: "no backups", existing: true, opts: credential.RotateOptions{Backups: 0}, wantWritten: true},
		{name: "old value invalid is refused", existing: true, oldValue: "garbage", opts: credential.RotateOptions{Backups: 1}, wantErr: credential.ErrNotToken},
		{name: "old value invalid is backed up with Force", existing: true, oldValue: "garbage", opts: credential.RotateOptions{Backups: 1, Force: true}, wantWritten: true, wantBackup: true},
		{name: "dry run writes nothing", existing: true, opts: credential.RotateOptions{Backups: 1, DryRun: true}},
		{name: "expired new token refused", existing: true, newValue: func(t *testing.T) string { return tokenExp(t, now, -time.Minute) }, opts: credential.RotateOptions{Backups: 1}, wantErr: token.ErrExpired},
		{name: "malformed new token refused", existing: true, newValue: func(*testing.T) string { return "hunter2-not-a-jwt" }, opts: credential.RotateOptions{Backups: 1}, wantErr: token.ErrMalformed},
		{name: "wrong issuer refused", existing: true, opts: credential.RotateOptions{Policy: credential.Policy{Issuer: "someone-else"}}, wantErr: credential.ErrIssuer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLogs(t)
			dir := t.TempDir()
			p := filepath.Join(dir, "podium_token")
			old := tt.oldValue
			if old == "" {
				old = tokenExp(t, now, time.Hour)
			}
			if tt.existing {
				writeToken(t, p, old)
			}
			next := tokenExp(t, now, 24*time.Hour)
			if tt.newValue != nil {
				next = tt.newValue(t)
			}
			l.Secret(old, next)
			opts := tt.opts
			opts.Path, opts.Token = p, next+"\n"
			res, err := credential.Rotate(opts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Rotate error = %v, want %v", err, tt.wantErr)
			}
			l.NoSecret(err)
			l.Write([]byte(fmt.Sprintf("%+v\n", res)))
			got, _ := os.ReadFile(p)
			if written := strings.TrimSpace(string(got)) == next; written != tt.wantWritten {
				t.Errorf("new token written = %v, want %v", written, tt.wantWritten)
			}
			_, statErr := os.Stat(p + ".bak")
			if hasBak := statErr == nil; hasBak != tt.wantBackup {
				t.Errorf("backup exists = %v, want %v", hasBak, tt.wantBackup)
			}
			if tt.wantBackup {
				b, _ := os.ReadFile(p + ".bak")
				if strings.TrimSpace(string(b)) != old {
					t.Errorf("backup does not hold the old value")
				}
				if fi, _ := os.Stat(p + ".bak"); fi.Mode().Perm() != 0o600 {
					t.Errorf("backup mode %#o", fi.Mode().Perm())
				}
				if res.Backup != p+".bak" {
					t.Errorf("Backup = %q", res.Backup)
				}
			}
			if err == nil && (res.New == nil || res.New.Fingerprint() != token.Fingerprint(next)) {
				t.Errorf("result New = %v", res.New)
			}
			if tt.existing && err == nil {
				if tt.oldValue == "garbage" {
					if res.Old != nil || res.OldErr == nil {
						t.Errorf("Old = %v, OldErr = %v; want a decode error", res.Old, res.OldErr)
					}
				} else if res.Old == nil || res.Old.Fingerprint() != token.Fingerprint(old) {
					t.Errorf("Old = %v", res.Old)
				}
			}
		})
	}
}

func TestRotateKeepsNBackups(t *testing.T) {
	now := time.Now()
	p := filepath.Join(t.TempDir(), "podium_token")
	var all []string
	for i := range 6 {
		tk := tokenExp(t, now, time.Duration(i+1)*time.Hour)
		all = append(all, tk)
		if _, err := credential.Rotate(credential.RotateOptions{Path: p, Token: tk, Backups: 3}); err != nil {
			t.Fatal(err)
		}
	}
	baks, err := credential.Backups(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(baks) != 3 || baks[0] != p+".bak" {
		t.Fatalf("backups %v, want NAME.bak and 2 timestamped", baks)
	}
	// Newest first: tokens 4, 3, 2 (0-based), the current being 5.
	for i, b := range baks {
		got, _ := os.ReadFile(b)
		if strings.TrimSpace(string(got)) != all[4-i] {
			t.Errorf("backup %d (%s) holds the wrong generation", i, filepath.Base(b))
		}
	}
}

func TestRotateUnchanged(t *testing.T) {
	p := filepath.Join(t.TempDir(), "podium_token")
	tk := tokenExp(t, time.Now(), time.Hour)
	writeToken(t, p, tk)
	res, err := credential.Rotate(credential.RotateOptions{Path: p, Token: tk, Backups: 1})
	if err != nil || !res.Unchanged {
		t.Fatalf("Rotate = %+v, %v; want Unchanged", res, err)
	}
	if _, err := os.Stat(p + ".bak"); err == nil {
		t.Error("an unchanged rotate wrote a backup")
	}
}

// TestRotateFollowsSymlink: rotating through a symlink replaces the file
// it names and keeps the link; a link that leads nowhere is refused.
func TestRotateFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	real, link := filepath.Join(dir, "podium_token"), filepath.Join(dir, "token")
	old, fresh := tokenExp(t, time.Now(), time.Hour), tokenExp(t, time.Now(), 2*time.Hour)
	writeToken(t, real, old)
	if err := os.Symlink("podium_token", link); err != nil {
		t.Fatal(err)
	}
	res, err := credential.Rotate(credential.RotateOptions{Path: link, Token: fresh, Backups: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != real || res.Link != link {
		t.Errorf("Path %q, Link %q; want %q, %q", res.Path, res.Link, real, link)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link is gone: %v, %v", fi, err)
	}
	for path, want := range map[string]string{real: fresh, link: fresh, real + ".bak": old} {
		if b, err := os.ReadFile(path); err != nil || strings.TrimSpace(string(b)) != want {
			t.Errorf("%s does not hold the expected token (%v)", filepath.Base(path), err)
		}
	}

	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink("missing", dangling); err != nil {
		t.Fatal(err)
	}
	if _, err := credential.Rotate(credential.RotateOptions{Path: dangling, Token: fresh}); err == nil || !strings.Contains(err.Error(), "symlink that leads nowhere") {
		t.Errorf("dangling link: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "missing")); err == nil {
		t.Error("a file was created behind the dangling link")
	}
}

func TestRotateRefusesUnsafePath(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, ".env.local")
	_, err := credential.Rotate(credential.RotateOptions{Path: p, Token: tokenExp(t, time.Now(), time.Hour)})
	if !errors.Is(err, credential.ErrUnsafePath) {
		t.Fatalf("error %v, want ErrUnsafePath", err)
	}
	if _, err := os.Stat(p); err == nil {
		t.Fatal("file written despite the refusal")
	}
	if _, err := credential.Rotate(credential.RotateOptions{Path: p, Token: tokenExp(t, time.Now(), time.Hour), Force: true}); err != nil {
		t.Fatalf("with Force: %v", err)
	}
}

// crashHelperEnv makes the test binary a rotate loop (see TestMain).
const crashHelperEnv = "VOICETOKEN_TEST_ROTATE_LOOP"

func TestMain(m *testing.M) {
	if p := os.Getenv(rotateOnceEnv); p != "" {
		rotateOnce(p, os.Getenv(rotateOnceEnv+"_TOKEN"))
	}
	if p := os.Getenv(crashHelperEnv); p != "" {
		at, err := strconv.ParseFloat(os.Getenv(crashHelperEnv+"_KILL_AT"), 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "rotate loop:", err)
			os.Exit(2)
		}
		rotateLoop(p, strings.Split(os.Getenv(crashHelperEnv+"_TOKENS"), ","), at)
		return
	}
	os.Exit(m.Run())
}

// rotateLoop rotates p between two tokens until it is killed. It times
// its first rotation that writes, d, then sends itself SIGKILL killAt*d
// later (the test draws killAt uniformly from [0, 3)), so the kill lands
// anywhere in the next rotations however fast or loaded the machine is.
// The child, not the test, times the kill: the test process sleeps on no
// clock, it waits for the child's exit.
func rotateLoop(p string, toks []string, killAt float64) {
	os.Stdout.WriteString("ready\n")
	armed := false
	for i := 0; ; i++ {
		start := time.Now()
		res, err := credential.Rotate(credential.RotateOptions{Path: p, Token: toks[i%2], Backups: 3})
		if err != nil {
			fmt.Fprintln(os.Stderr, "rotate:", err)
			os.Exit(2)
		}
		if res.Unchanged {
			continue // the file held this token already: nothing written, nothing timed
		}
		os.Stdout.WriteString("ok\n") // one line per completed rotation
		if !armed {
			armed = true
			d := time.Duration(killAt * float64(time.Since(start)))
			time.AfterFunc(d, func() { syscall.Kill(os.Getpid(), syscall.SIGKILL) })
		}
	}
}

// TestRotateSurvivesSIGKILL runs rotations in a child process that kills
// itself with SIGKILL at a random moment (see rotateLoop), up to 100
// times in 20s. After every kill the file must hold one of the two
// tokens, whole, and once any rotation has completed a backup holding a
// whole token must exist.
func TestRotateSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns 100 processes")
	}
	now := time.Now()
	a, b := tokenExp(t, now, time.Hour), tokenExp(t, now, 2*time.Hour)
	dir := t.TempDir()
	p := filepath.Join(dir, "podium_token")
	writeToken(t, p, a)
	const iterations = 100
	var completed, strayTemps, kills int
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < iterations && time.Now().Before(deadline); i++ {
		kills++
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		killAt := strconv.FormatFloat(3*rand.Float64(), 'f', -1, 64) // in rotations; see rotateLoop
		cmd.Env = append(os.Environ(), crashHelperEnv+"="+p, crashHelperEnv+"_TOKENS="+a+","+b, crashHelperEnv+"_KILL_AT="+killAt)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan int, 1)
		ready := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(out)
			n := 0
			for sc.Scan() {
				if sc.Text() == "ready" {
					close(ready)
					continue
				}
				n++
			}
			lines <- n
		}()
		select {
		case <-ready:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("helper never started: %s", stderr.String())
		}
		completed += <-lines
		err = cmd.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
			t.Fatalf("helper ended on its own (%v): %s", err, stderr.String())
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("iteration %d: token file unreadable after kill: %v", i, err)
		}
		cur := strings.TrimSpace(string(got))
		if cur != a && cur != b {
			t.Fatalf("iteration %d: file holds neither token whole (%d bytes)", i, len(got))
		}
		if _, err := (credential.Policy{}).Check(cur, now); err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
		if completed > 0 {
			bak, err := os.ReadFile(p + ".bak")
			if bk := strings.TrimSpace(string(bak)); err != nil && !os.IsNotExist(err) || err == nil && bk != a && bk != b {
				t.Fatalf("iteration %d: backup is not a whole token (%v)", i, err)
			}
			baks, _ := credential.Backups(p)
			if len(baks) == 0 {
				t.Fatalf("iteration %d: no backup after a completed rotation", i)
			}
			if len(baks) > 3 {
				t.Fatalf("iteration %d: %d backups, want at most 3", i, len(baks))
			}
		}
		if m, _ := filepath.Glob(filepath.Join(dir, ".podium_token.tmp-*")); len(m) > 0 {
			strayTemps++
		}
	}
	t.Logf("%d kills; %d rotations completed in all; %d kills left a temporary token file (killed mid-write)", kills, completed, strayTemps)
	if completed == 0 {
		t.Fatal("no rotation ever completed: the helper did not run")
	}
}
