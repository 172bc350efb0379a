package credential_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"voicetoken/internal/credential"
	"voicetoken/internal/credential/credentialtest"
	"voicetoken/internal/token"
)

// startSource creates a Source with cfg (Logger set to l) and runs it
// until the test ends.
func startSource(t *testing.T, l *logs, cfg credential.Config) *credential.Source {
	t.Helper()
	cfg.Logger = l.Logger()
	src, err := credential.New(context.Background(), cfg)
	if err != nil {
		l.NoSecret(err)
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { src.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return src
}

func writeToken(t *testing.T, path, tok string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// k8sVolume reproduces the layout kubelet's AtomicWriter gives a Secret
// volume: DIR/..TIMESTAMP/key, DIR/..data -> ..TIMESTAMP, DIR/key ->
// ..data/key.
type k8sVolume struct {
	t   *testing.T
	dir string
	gen int
	cur string
}

func newK8sVolume(t *testing.T, key, tok string) *k8sVolume {
	v := &k8sVolume{t: t, dir: t.TempDir()}
	v.update(key, tok)
	if err := os.Symlink(filepath.Join("..data", key), filepath.Join(v.dir, key)); err != nil {
		t.Fatal(err)
	}
	return v
}

// update does kubelet's swap: write a new timestamped dir, point
// ..data_tmp at it, rename ..data_tmp over ..data, remove the old dir.
func (v *k8sVolume) update(key, tok string) {
	v.gen++
	ts := fmt.Sprintf("..2026_01_02_15_04_05.%09d", v.gen)
	if err := os.Mkdir(filepath.Join(v.dir, ts), 0o755); err != nil {
		v.t.Fatal(err)
	}
	writeToken(v.t, filepath.Join(v.dir, ts, key), tok)
	if err := os.Symlink(ts, filepath.Join(v.dir, "..data_tmp")); err != nil {
		v.t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(v.dir, "..data_tmp"), filepath.Join(v.dir, "..data")); err != nil {
		v.t.Fatal(err)
	}
	if v.cur != "" {
		if err := os.RemoveAll(filepath.Join(v.dir, v.cur)); err != nil {
			v.t.Fatal(err)
		}
	}
	v.cur = ts
}

func TestFileSourcePicksUpUpdates(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name string
		// setup writes the first token and returns the path to watch and
		// a function that replaces it.
		setup func(t *testing.T, first string) (path string, replace func(string))
	}{
		{name: "kubernetes ..data symlink swap", setup: func(t *testing.T, first string) (string, func(string)) {
			v := newK8sVolume(t, "podium_token", first)
			return filepath.Join(v.dir, "podium_token"), func(tok string) { v.update("podium_token", tok) }
		}},
		{name: "subPath-style plain file replaced by rename", setup: func(t *testing.T, first string) (string, func(string)) {
			dir := t.TempDir()
			p := filepath.Join(dir, "podium_token")
			writeToken(t, p, first)
			return p, func(tok string) {
				writeToken(t, p+".new", tok)
				if err := os.Rename(p+".new", p); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{name: "editor rename-write with backup", setup: func(t *testing.T, first string) (string, func(string)) {
			dir := t.TempDir()
			p := filepath.Join(dir, "podium_token")
			writeToken(t, p, first)
			return p, func(tok string) { // vim's default: rename original to ~, write new
				if err := os.Rename(p, p+"~"); err != nil {
					t.Fatal(err)
				}
				writeToken(t, p, tok)
				os.Remove(p + "~")
			}
		}},
		{name: "in-place rewrite", setup: func(t *testing.T, first string) (string, func(string)) {
			dir := t.TempDir()
			p := filepath.Join(dir, "podium_token")
			writeToken(t, p, first)
			return p, func(tok string) { writeToken(t, p, tok) }
		}},
		{name: "credential.WriteFile", setup: func(t *testing.T, first string) (string, func(string)) {
			dir := t.TempDir()
			p := filepath.Join(dir, "podium_token")
			writeToken(t, p, first)
			return p, func(tok string) {
				if err := credential.WriteFile(p, []byte(tok), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{name: "rotate through a symlink into another directory", setup: func(t *testing.T, first string) (string, func(string)) {
			secrets, etc := t.TempDir(), t.TempDir() // /srv/secrets, /etc/podium
			writeToken(t, filepath.Join(secrets, "podium_token"), first)
			link := filepath.Join(etc, "token")
			if err := os.Symlink(filepath.Join(secrets, "podium_token"), link); err != nil {
				t.Fatal(err)
			}
			return link, func(tok string) {
				if _, err := credential.Rotate(credential.RotateOptions{Path: link, Token: tok}); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLogs(t)
			first, second, third := tokenExp(t, now, time.Hour*2), tokenExp(t, now, time.Hour*3), tokenExp(t, now, time.Hour*4)
			l.Secret(first, second, third)
			path, replace := tt.setup(t, first)
			// No poll: the update must arrive through fsnotify.
			src := startSource(t, l, credential.Config{Spec: credential.Spec{Kind: credential.KindFile, Path: path}, PollInterval: -1})
			if src.Token() != first {
				t.Fatal("first token not loaded")
			}
			for _, next := range []string{second, third} {
				start := time.Now()
				replace(next)
				// Issue 6: "picks up the new token within a second".
				eventually(t, time.Second, "the new token", func() bool { return src.Token() == next })
				t.Logf("picked up after %s", time.Since(start).Round(time.Millisecond))
			}
			loaded := l.Events("CREDENTIAL_LOADED")
			if len(loaded) != 3 {
				t.Fatalf("%d CREDENTIAL_LOADED events, want 3", len(loaded))
			}
			if got, want := loaded[2]["fingerprint"], token.Fingerprint(third); got != want {
				t.Errorf("last event fingerprint %v, want %v", got, want)
			}
			if got, want := loaded[2]["previous_fingerprint"], token.Fingerprint(second); got != want {
				t.Errorf("previous_fingerprint %v, want %v", got, want)
			}
		})
	}
}

func TestFileSourceRejectsBadValueAndKeepsOld(t *testing.T) {
	now := time.Now()
	l := newLogs(t)
	good, expired, next := tokenExp(t, now, time.Hour*2), tokenExp(t, now, -time.Minute), tokenExp(t, now, time.Hour*3)
	l.Secret(good, expired, next)
	p := filepath.Join(t.TempDir(), "podium_token")
	writeToken(t, p, good)
	tick := credentialtest.NewTicker()
	src := startSource(t, l, credential.Config{Spec: credential.Spec{Kind: credential.KindFile, Path: p}, Ticker: tick})

	bad := []struct {
		name, content, reason string
		remove                bool
	}{
		{name: "expired", content: expired, reason: "expired"},
		{name: "garbage", content: "not a token at all", reason: "malformed"},
		{name: "empty", content: "", reason: "empty"},
		{name: "removed", remove: true, reason: "no such file"},
	}
	for i, b := range bad {
		if b.remove {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		} else {
			// Replaced by a rename, as kubelet and rotate do: an in-place
			// rewrite shows the watcher an empty file first, a rejection
			// of its own that would shift the events this loop reads.
			writeToken(t, p+".new", b.content)
			if err := os.Rename(p+".new", p); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, 2*time.Second, "a CREDENTIAL_REJECTED event", func() bool { return len(l.Events("CREDENTIAL_REJECTED")) > i })
		ev := l.Events("CREDENTIAL_REJECTED")[i]
		if r, _ := ev["reason"].(string); !strings.Contains(r, b.reason) {
			t.Errorf("%s: reason %q, want it to mention %q", b.name, r, b.reason)
		}
		if ev["kept_fingerprint"] != token.Fingerprint(good) {
			t.Errorf("%s: kept_fingerprint %v, want the good token's", b.name, ev["kept_fingerprint"])
		}
		if src.Token() != good {
			t.Fatalf("%s: the bad value replaced the good one", b.name)
		}
	}
	// Polling a source that stays bad (here: still no file, so every poll
	// reads and fails again) does not repeat the warning. Each Poll
	// returns once its read is done: proof the polls had their chance.
	for range 3 {
		if !tick.Poll(t.Context()) {
			t.Fatal("the source did not poll")
		}
	}
	warns, all := 0, len(l.Events("CREDENTIAL_REJECTED"))
	for _, ev := range l.Events("CREDENTIAL_REJECTED") {
		if ev["level"] == "WARN" {
			warns++
		}
	}
	if warns != len(bad) || all < len(bad)+3 {
		t.Errorf("%d warnings among %d rejections for %d bad values and 3 polls; want one warning each, the polls' at debug level", warns, all, len(bad))
	}
	writeToken(t, p, next)
	eventually(t, 2*time.Second, "recovery", func() bool { return src.Token() == next })
}

func TestFileSourcePollOnly(t *testing.T) {
	now := time.Now()
	l := newLogs(t)
	a, b := tokenExp(t, now, time.Hour*2), tokenExp(t, now, time.Hour*3)
	l.Secret(a, b)
	p := filepath.Join(t.TempDir(), "tok")
	writeToken(t, p, a)
	src := startSource(t, l, credential.Config{Spec: credential.Spec{Kind: credential.KindFile, Path: p}, NoWatch: true, PollInterval: 20 * time.Millisecond})
	writeToken(t, p, b)
	eventually(t, 2*time.Second, "the poll to load the new token", func() bool { return src.Token() == b })
}

func TestReload(t *testing.T) {
	now := time.Now()
	l := newLogs(t)
	a, b, expired := tokenExp(t, now, time.Hour*2), tokenExp(t, now, time.Hour*3), tokenExp(t, now, -time.Hour)
	l.Secret(a, b, expired)
	p := filepath.Join(t.TempDir(), "tok")
	writeToken(t, p, a)
	src := startSource(t, l, credential.Config{Spec: credential.Spec{Kind: credential.KindFile, Path: p}, NoWatch: true, PollInterval: -1})

	writeToken(t, p, b)
	c, err := src.Reload(context.Background())
	if err != nil || c.Token() != b || src.Token() != b {
		t.Fatalf("Reload = %v, %v; want the new token", c, err)
	}
	c, err = src.Reload(context.Background())
	if err != nil || c.Token() != b || len(l.Events("CREDENTIAL_UNCHANGED")) != 1 {
		t.Fatalf("second Reload = %v, %v; want unchanged", c, err)
	}
	writeToken(t, p, expired)
	c, err = src.Reload(context.Background())
	if !errors.Is(err, token.ErrExpired) || c.Token() != b {
		t.Fatalf("Reload of an expired token = %v, %v; want ErrExpired and the old token kept", c, err)
	}
	l.NoSecret(err)
}

func TestUnsafePaths(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name string
		path func(dir string) string
	}{
		{name: ".env", path: func(d string) string { return filepath.Join(d, ".env") }},
		{name: ".env.local", path: func(d string) string { return filepath.Join(d, ".env.local") }},
		{name: "podium.env", path: func(d string) string { return filepath.Join(d, "podium.env") }},
		{name: "inside a git work tree", path: func(d string) string {
			os.MkdirAll(filepath.Join(d, ".git"), 0o700)
			os.MkdirAll(filepath.Join(d, "config", "secrets"), 0o700)
			return filepath.Join(d, "config", "secrets", "podium_token")
		}},
		{name: "git worktree file", path: func(d string) string {
			os.WriteFile(filepath.Join(d, ".git"), []byte("gitdir: /elsewhere\n"), 0o600)
			return filepath.Join(d, "podium_token")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLogs(t)
			tok := tokenExp(t, now, time.Hour)
			l.Secret(tok)
			p := tt.path(t.TempDir())
			writeToken(t, p, tok)
			spec := credential.Spec{Kind: credential.KindFile, Path: p}
			_, err := credential.New(context.Background(), credential.Config{Spec: spec, Logger: l.Logger()})
			if !errors.Is(err, credential.ErrUnsafePath) {
				t.Fatalf("New error = %v, want ErrUnsafePath", err)
			}
			if !strings.Contains(err.Error(), "--force") {
				t.Errorf("error %q does not say how to override", err)
			}
			src, err := credential.New(context.Background(), credential.Config{Spec: spec, Logger: l.Logger(), Force: true})
			if err != nil || src.Token() != tok {
				t.Fatalf("with Force: %v", err)
			}
		})
	}
}

func TestFileModeWarning(t *testing.T) {
	now := time.Now()
	l := newLogs(t)
	tok := tokenExp(t, now, time.Hour*2)
	l.Secret(tok)
	p := filepath.Join(t.TempDir(), "tok")
	writeToken(t, p, tok)
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	startSource(t, l, credential.Config{Spec: credential.Spec{Kind: credential.KindFile, Path: p}, NoWatch: true})
	ev := l.Events("CREDENTIAL_LOADED")
	if len(ev) != 1 || !strings.Contains(fmt.Sprint(ev[0]["warning"]), "0644") {
		t.Fatalf("CREDENTIAL_LOADED = %v, want a mode warning", ev)
	}
}

func TestEnvSource(t *testing.T) {
	now := time.Now()
	l := newLogs(t)
	tok := tokenExp(t, now, time.Hour*2)
	l.Secret(tok)
	env := map[string]string{"PODIUM_TOKEN": tok + "\n"}
	getenv := func(k string) string { return env[k] }
	src, err := credential.New(context.Background(), credential.Config{Spec: credential.Spec{Kind: credential.KindEnv, Var: "PODIUM_TOKEN"}, Getenv: getenv, Logger: l.Logger()})
	if err != nil || src.Token() != tok {
		t.Fatalf("New = %v", err)
	}
	_, err = credential.New(context.Background(), credential.Config{Spec: credential.Spec{Kind: credential.KindEnv, Var: "MISSING"}, Getenv: getenv, Logger: l.Logger()})
	if !errors.Is(err, credential.ErrEmpty) {
		t.Fatalf("missing variable: %v, want ErrEmpty", err)
	}
}

func TestExecSource(t *testing.T) {
	now := time.Now()
	tok := tokenExp(t, now, time.Hour*2)
	dir := t.TempDir()
	p := filepath.Join(dir, "tok")
	writeToken(t, p, tok)
	tests := []struct {
		name    string
		argv    []string
		timeout time.Duration
		wantErr error
	}{
		{name: "stdout is the token", argv: []string{"cat", p}},
		{name: "failure with the secret on stderr", argv: []string{"sh", "-c", `cat "$0" >&2; echo denied >&2; exit 3`, p}, wantErr: credential.ErrExec},
		{name: "failure with the secret on stdout", argv: []string{"sh", "-c", `cat "$0"; exit 1`, p}, wantErr: credential.ErrExec},
		{name: "timeout", argv: []string{"sleep", "10"}, timeout: 100 * time.Millisecond, wantErr: credential.ErrExec},
		{name: "too much output", argv: []string{"head", "-c", "100000", "/dev/zero"}, wantErr: credential.ErrExec},
		{name: "no such program", argv: []string{filepath.Join(dir, "nope")}, wantErr: credential.ErrExec},
		{name: "garbage on stdout", argv: []string{"echo", "hello"}, wantErr: token.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLogs(t)
			l.Secret(tok)
			start := time.Now()
			src, err := credential.New(context.Background(), credential.Config{
				Spec: credential.Spec{Kind: credential.KindExec, Argv: tt.argv}, ExecTimeout: tt.timeout, Logger: l.Logger()})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("New error = %v, want %v", err, tt.wantErr)
			}
			l.NoSecret(err)
			if err == nil && src.Token() != tok {
				t.Fatal("wrong token")
			}
			if tt.timeout > 0 && time.Since(start) > 5*time.Second {
				t.Errorf("timeout not enforced")
			}
		})
	}
}

func TestExecSourceRefreshesBeforeExpiry(t *testing.T) {
	now := time.Now()
	l := newLogs(t)
	// The first token expires in 1h; with RefreshBefore just under 1h the
	// next run is due in about 100ms although Refresh is 1h.
	first, second := tokenExp(t, now, time.Hour), tokenExp(t, now, 3*time.Hour)
	l.Secret(first, second)
	p := filepath.Join(t.TempDir(), "tok")
	writeToken(t, p, first)
	src := startSource(t, l, credential.Config{
		Spec:          credential.Spec{Kind: credential.KindExec, Argv: []string{"cat", p}},
		Refresh:       time.Hour,
		RefreshBefore: time.Hour - 300*time.Millisecond,
		RetryInterval: 10 * time.Millisecond,
	})
	writeToken(t, p, second)
	eventually(t, 3*time.Second, "the refresh before expiry", func() bool { return src.Token() == second })
}

func TestExpiringEvents(t *testing.T) {
	base := time.Now().Truncate(time.Second)
	var offset atomic.Int64
	clock := func() time.Time { return base.Add(time.Duration(offset.Load())) }
	l := newLogs(t)
	tok := tokenExp(t, base, 10*time.Minute)
	l.Secret(tok)
	p := filepath.Join(t.TempDir(), "tok")
	writeToken(t, p, tok)
	offset.Store(int64(10*time.Minute - 400*time.Millisecond)) // 400ms left
	startSource(t, l, credential.Config{Spec: credential.Spec{Kind: credential.KindFile, Path: p}, Now: clock, ExpiringWithin: 800 * time.Millisecond, PollInterval: -1, NoWatch: true})
	ev := l.Events("CREDENTIAL_EXPIRING")
	if len(ev) != 1 || ev[0]["expired"] != false || ev[0]["fingerprint"] != token.Fingerprint(tok) {
		t.Fatalf("after load: %v, want one CREDENTIAL_EXPIRING", ev)
	}
	offset.Store(int64(11 * time.Minute))
	eventually(t, 3*time.Second, "the expired event", func() bool { return len(l.Events("CREDENTIAL_EXPIRING")) == 2 })
	if ev := l.Events("CREDENTIAL_EXPIRING")[1]; ev["expired"] != true || ev["level"] != "ERROR" {
		t.Errorf("second event %v, want expired at ERROR", ev)
	}
}

// TestConcurrentReaders swaps the token while readers hammer Current: run
// with -race. Every read must be one of the tokens, whole.
func TestConcurrentReaders(t *testing.T) {
	now := time.Now()
	l := newLogs(t)
	p := filepath.Join(t.TempDir(), "tok")
	toks := make(map[string]bool)
	first := tokenExp(t, now, time.Hour)
	toks[first] = true
	writeToken(t, p, first)
	src := startSource(t, l, credential.Config{Spec: credential.Spec{Kind: credential.KindFile, Path: p}, NoWatch: true, PollInterval: -1})
	var next []string
	for range 50 {
		tk := tokenExp(t, now, 2*time.Hour)
		next = append(next, tk)
		toks[tk] = true
	}
	l.Secret(append(next, first)...)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if c := src.Current(); !toks[c.Token()] {
					bad.Add(1)
				}
			}
		}()
	}
	for _, tk := range next {
		writeToken(t, p, tk)
		if _, err := src.Reload(context.Background()); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d reads saw a value that is not one of the tokens", bad.Load())
	}
	if src.Token() != next[len(next)-1] {
		t.Fatal("last token not current")
	}
}

// TestExecSourceTickerDrivesRefresh: with an injected Ticker each Poll is
// one run of the command, done when Poll returns: a test needs no wait,
// and "nothing changed" is asserted after a run that had its chance.
func TestExecSourceTickerDrivesRefresh(t *testing.T) {
	now := time.Now()
	l := newLogs(t)
	first, second, expired := tokenExp(t, now, time.Hour), tokenExp(t, now, 3*time.Hour), tokenExp(t, now, -time.Hour)
	l.Secret(first, second, expired)
	p := filepath.Join(t.TempDir(), "tok")
	writeToken(t, p, first)
	tick := credentialtest.NewTicker()
	var changes atomic.Int32
	src := startSource(t, l, credential.Config{
		Spec: credential.Spec{Kind: credential.KindExec, Argv: []string{"cat", p}}, Ticker: tick,
		OnChange: func(_, _ *credential.Credential) { changes.Add(1) },
	})
	steps := []struct {
		name, write, want string
		changes           int32
	}{
		{name: "unchanged", write: first, want: first},
		{name: "a new token", write: second, want: second, changes: 1},
		{name: "an expired one is refused", write: expired, want: second, changes: 1},
	}
	for _, st := range steps {
		writeToken(t, p, st.write)
		if !tick.Poll(t.Context()) {
			t.Fatalf("%s: no refresh", st.name)
		}
		if src.Token() != st.want || changes.Load() != st.changes {
			t.Errorf("%s: token %s after the refresh, %d changes; want %s, %d", st.name, token.Fingerprint(src.Token()), changes.Load(), token.Fingerprint(st.want), st.changes)
		}
	}
}
