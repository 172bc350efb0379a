package credential_test

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"voicetoken/internal/credential"
)

// nobody is the second user of the ownership tests: the agent's user, or
// another local user who plants files and links.
const nobody = 65534

// TestAdversarialRotateOwnershipAndLinks plays another local user against
// root's rotate: the agent's file keeps its owner, group and mode (and so
// does the backup) so the agent can still read it; links and files that
// user could have planted are refused; a config file named by mistake is
// not overwritten; a new file reached through a symlinked directory into
// a git work tree is refused. Rows marked root need root to chown files to
// nobody (CI runs as root); they are skipped otherwise.
func TestAdversarialRotateOwnershipAndLinks(t *testing.T) {
	root := os.Geteuid() == 0
	now := time.Now()
	tests := []struct {
		name     string
		needRoot bool
		// setup arranges files under dir and returns the path to rotate.
		setup   func(t *testing.T, dir string) string
		force   bool
		wantErr error
		// after checks the files; tok is the new token.
		after func(t *testing.T, dir, path, tok string)
	}{
		{
			name: "agent's file nobody:nogroup 0640 stays so, and so does its backup", needRoot: true,
			setup: func(t *testing.T, dir string) string {
				return tokenFile(t, filepath.Join(dir, "podium_token"), tokenExp(t, now, time.Hour), nobody, nobody, 0o640)
			},
			after: func(t *testing.T, dir, p, tok string) {
				wantAttrs(t, p, nobody, nobody, 0o640)
				wantAttrs(t, p+".bak", nobody, nobody, 0o640)
				if got := readAsNobody(t, p); got != tok {
					t.Error("the agent's user cannot read the new token")
				}
			},
		},
		{
			name: "group-readable root:nogroup 0640 stays so, the agent reads it through its group", needRoot: true,
			setup: func(t *testing.T, dir string) string {
				return tokenFile(t, filepath.Join(dir, "podium_token"), tokenExp(t, now, time.Hour), 0, nobody, 0o640)
			},
			after: func(t *testing.T, dir, p, tok string) {
				wantAttrs(t, p, 0, nobody, 0o640)
				wantAttrs(t, p+".bak", 0, nobody, 0o640)
				if got := readAsNobody(t, p); got != tok {
					t.Error("the agent's group cannot read the new token")
				}
			},
		},
		{
			name: "a new file is the writer's, 0600",
			setup: func(t *testing.T, dir string) string {
				return filepath.Join(dir, "podium_token")
			},
			after: func(t *testing.T, dir, p, tok string) {
				wantAttrs(t, p, os.Geteuid(), os.Getegid(), 0o600)
			},
		},
		{
			name: "link planted by nobody in a 1777 directory is refused", needRoot: true,
			setup: func(t *testing.T, dir string) string {
				victim := shadow(t, dir)
				return plantLink(t, sharedDir(t, dir, 0o1777, 0), victim)
			},
			wantErr: credential.ErrPlantedLink,
			after:   func(t *testing.T, dir, p, tok string) { shadowIntact(t, dir, p) },
		},
		{
			name: "link in a group-writable directory is refused", needRoot: true,
			setup: func(t *testing.T, dir string) string {
				return plantLink(t, sharedDir(t, dir, 0o775, 0), shadow(t, dir))
			},
			wantErr: credential.ErrPlantedLink,
			after:   func(t *testing.T, dir, p, tok string) { shadowIntact(t, dir, p) },
		},
		{
			name: "link in a directory owned by nobody is refused", needRoot: true,
			setup: func(t *testing.T, dir string) string {
				return plantLink(t, sharedDir(t, dir, 0o755, nobody), shadow(t, dir))
			},
			wantErr: credential.ErrPlantedLink,
			after:   func(t *testing.T, dir, p, tok string) { shadowIntact(t, dir, p) },
		},
		{
			name: "a safe link to a link planted in a 1777 directory is refused", needRoot: true,
			setup: func(t *testing.T, dir string) string {
				planted := plantLink(t, sharedDir(t, dir, 0o1777, 0), shadow(t, dir))
				safe := filepath.Join(dir, "podium_token")
				must(t, os.Symlink(planted, safe))
				return safe
			},
			wantErr: credential.ErrPlantedLink,
			after:   func(t *testing.T, dir, p, tok string) { shadowIntact(t, dir, "") },
		},
		{
			name: "file planted by nobody in a 1777 directory is refused (the token would be nobody's)", needRoot: true,
			setup: func(t *testing.T, dir string) string {
				return tokenFile(t, filepath.Join(sharedDir(t, dir, 0o1777, 0), "podium_token"), tokenExp(t, now, time.Hour), nobody, nobody, 0o644)
			},
			wantErr: credential.ErrPlantedLink,
		},
		{
			name: "--force follows a planted link and the target keeps its owner and mode", needRoot: true,
			setup: func(t *testing.T, dir string) string {
				return plantLink(t, sharedDir(t, dir, 0o1777, 0), shadow(t, dir))
			},
			force: true,
			after: func(t *testing.T, dir, p, tok string) {
				if b, _ := os.ReadFile(filepath.Join(dir, "shadow")); strings.TrimSpace(string(b)) != tok {
					t.Error("--force did not write through the link")
				}
				wantAttrs(t, filepath.Join(dir, "shadow"), 0, 0, 0o600)
			},
		},
		{
			name: "a link in root's own directory is followed; the target keeps nobody:nogroup 0640", needRoot: true,
			setup: func(t *testing.T, dir string) string {
				must(t, os.Mkdir(filepath.Join(dir, "secrets"), 0o755))
				target := tokenFile(t, filepath.Join(dir, "secrets", "podium_token"), tokenExp(t, now, time.Hour), nobody, nobody, 0o640)
				link := filepath.Join(dir, "token")
				must(t, os.Symlink(target, link))
				return link
			},
			after: func(t *testing.T, dir, p, tok string) {
				if fi, err := os.Lstat(p); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
					t.Error("the link was replaced by a file")
				}
				target := filepath.Join(dir, "secrets", "podium_token")
				wantAttrs(t, target, nobody, nobody, 0o640)
				if got := readAsNobody(t, target); got != tok {
					t.Error("the agent's user cannot read the new token")
				}
			},
		},
		{
			name: "a config file given as --to is not overwritten",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "agent.yaml")
				must(t, os.WriteFile(p, []byte("agent:\n  name: support-agent\n"), 0o644))
				return p
			},
			wantErr: credential.ErrNotToken,
			after: func(t *testing.T, dir, p, tok string) {
				if b, _ := os.ReadFile(p); string(b) != "agent:\n  name: support-agent\n" {
					t.Error("the config file was changed")
				}
			},
		},
		{
			name: "an empty file is a token file waiting for its token",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "podium_token")
				must(t, os.WriteFile(p, nil, 0o640))
				return p
			},
			after: func(t *testing.T, dir, p, tok string) { wantAttrs(t, p, os.Geteuid(), os.Getegid(), 0o640) },
		},
		{
			name: "a new file through a symlinked directory into a git work tree is refused",
			setup: func(t *testing.T, dir string) string {
				must(t, os.MkdirAll(filepath.Join(dir, "repo", ".git"), 0o755))
				must(t, os.Mkdir(filepath.Join(dir, "repo", "secrets"), 0o755))
				must(t, os.Symlink(filepath.Join(dir, "repo", "secrets"), filepath.Join(dir, "outside")))
				return filepath.Join(dir, "outside", "podium_token")
			},
			wantErr: credential.ErrUnsafePath,
			after: func(t *testing.T, dir, p, tok string) {
				if _, err := os.Lstat(filepath.Join(dir, "repo", "secrets", "podium_token")); err == nil {
					t.Error("the token was written into the work tree")
				}
			},
		},
	}
	held, failed, skipped := 0, 0, 0
	for _, tt := range tests {
		if tt.needRoot && !root {
			skipped++
			continue
		}
		ok := t.Run(tt.name, func(t *testing.T) {
			l := newLogs(t)
			dir := traversable(t)
			p := tt.setup(t, dir)
			tok := tokenExp(t, now, 24*time.Hour)
			l.Secret(tok)
			res, err := credential.Rotate(credential.RotateOptions{Path: p, Token: tok, Backups: 1, Force: tt.force})
			l.NoSecret(err)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Rotate error = %v, want %v", err, tt.wantErr)
			}
			if err != nil && res != nil && res.Backup != "" {
				t.Errorf("a refused rotate wrote the backup %s", res.Backup)
			}
			if tt.after != nil {
				tt.after(t, dir, p, tok)
			}
		})
		if ok {
			held++
		} else {
			failed++
		}
	}
	if skipped > 0 {
		t.Logf("skipped %d of %d rows: they chown files to nobody (uid %d) and need root; CI runs as root", skipped, len(tests), nobody)
	}
	t.Logf("ADVERSARIAL scenario=rotate-ownership-and-links tried=owner-group-mode-kept-planted-links-and-files-non-token-target-symlinked-git-dir times=%d held=%d failed=%d", held+failed, held, failed)
}

// traversable returns a temporary directory that nobody can enter (the
// test's own temporary directories are 0700).
func traversable(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	must(t, os.Chmod(filepath.Dir(dir), 0o755))
	must(t, os.Chmod(dir, 0o755))
	return dir
}

// tokenFile writes tok to p owned by uid:gid with mode.
func tokenFile(t *testing.T, p, tok string, uid, gid int, mode os.FileMode) string {
	t.Helper()
	writeToken(t, p, tok)
	must(t, os.Chown(p, uid, gid))
	must(t, os.Chmod(p, mode))
	return p
}

// sharedDir makes dir/shared with mode (raw bits: 0o1777 is sticky),
// owned by uid.
func sharedDir(t *testing.T, dir string, mode os.FileMode, uid int) string {
	t.Helper()
	d := filepath.Join(dir, "shared")
	must(t, os.Mkdir(d, 0o700))
	must(t, os.Chown(d, uid, uid))
	must(t, syscall.Chmod(d, uint32(mode))) // 0o1777 is the raw sticky bit
	return d
}

// shadow is a root-only file the attacker would like overwritten.
func shadow(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "shadow")
	must(t, os.WriteFile(p, []byte("root:$6$not-a-token:19000:0:99999:7:::\n"), 0o600))
	return p
}

func shadowIntact(t *testing.T, dir, link string) {
	t.Helper()
	if b, _ := os.ReadFile(filepath.Join(dir, "shadow")); !strings.HasPrefix(string(b), "root:$6$") {
		t.Error("the file behind the planted link was overwritten")
	}
	wantAttrs(t, filepath.Join(dir, "shadow"), 0, 0, 0o600)
	if link != "" {
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			t.Error("the planted link was replaced")
		}
	}
}

// plantLink makes dir/podium_token -> target, owned by nobody as if nobody
// had made it.
func plantLink(t *testing.T, dir, target string) string {
	t.Helper()
	p := filepath.Join(dir, "podium_token")
	must(t, os.Symlink(target, p))
	must(t, os.Lchown(p, nobody, nobody))
	return p
}

func wantAttrs(t *testing.T, p string, uid, gid int, mode os.FileMode) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Errorf("stat %s: %v", filepath.Base(p), err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if int(st.Uid) != uid || int(st.Gid) != gid || fi.Mode().Perm() != mode {
		t.Errorf("%s is %d:%d %#o, want %d:%d %#o", filepath.Base(p), st.Uid, st.Gid, fi.Mode().Perm(), uid, gid, mode)
	}
}

// readAsNobody reads p as the agent's user would: setpriv to nobody:nogroup
// with no other groups, then cat.
func readAsNobody(t *testing.T, p string) string {
	t.Helper()
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) not found: cannot read the file as nobody")
	}
	out, err := exec.Command(setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", "cat", p).Output()
	if err != nil {
		t.Errorf("cat %s as nobody: %v", filepath.Base(p), err)
	}
	return strings.TrimSpace(string(out))
}

// rotateOnceEnv makes the test binary rotate once and exit (see TestMain):
// how a test runs Rotate as another user.
const rotateOnceEnv = "VOICETOKEN_TEST_ROTATE_ONCE"

// rotateOnce rotates p to tok and exits 0, or prints the error and exits 2.
func rotateOnce(p, tok string) {
	if _, err := credential.Rotate(credential.RotateOptions{Path: p, Token: tok, Backups: 1}); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(2)
	}
	os.Exit(0)
}

// TestAdversarialRotateAsAnotherUser: nobody, who may write the
// directory, rotates root's token file. Before, the rename handed the file
// to nobody (nobody:nogroup 0600, root's readers locked out); now nothing is
// written and the error says why.
func TestAdversarialRotateAsAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the rotate as nobody; CI runs as root")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) not found")
	}
	l := newLogs(t)
	now := time.Now()
	old, next := tokenExp(t, now, time.Hour), tokenExp(t, now, 24*time.Hour)
	l.Secret(old, next)
	dir := traversable(t)
	self, err := os.Executable()
	must(t, err)
	bin := filepath.Join(dir, "rotate.test")
	b, err := os.ReadFile(self)
	must(t, err)
	must(t, os.WriteFile(bin, b, 0o755))
	tokens := filepath.Join(dir, "tokens")
	must(t, os.Mkdir(tokens, 0o777)) // nobody may create files here
	must(t, os.Chmod(tokens, 0o777))
	p := tokenFile(t, filepath.Join(tokens, "podium_token"), old, 0, 0, 0o644)

	cmd := exec.Command(setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", bin)
	cmd.Env = append(os.Environ(), rotateOnceEnv+"="+p, rotateOnceEnv+"_TOKEN="+next)
	out, err := cmd.CombinedOutput()
	l.Text("rotate as nobody", string(out))
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "cannot keep the file's owner") {
		t.Fatalf("rotate as nobody: %v, %q; want exit 2 saying the owner cannot be kept", err, out)
	}
	if b, _ := os.ReadFile(p); strings.TrimSpace(string(b)) != old {
		t.Error("the file was replaced")
	}
	wantAttrs(t, p, 0, 0, 0o644)
	failed := 0
	if t.Failed() {
		failed = 1
	}
	t.Logf("ADVERSARIAL scenario=rotate-as-another-user tried=nobody-rotates-roots-token-file times=1 held=%d failed=%d", 1-failed, failed)
}
