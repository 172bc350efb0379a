package supervise_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"voicetoken/internal/credential"
	"voicetoken/internal/logscan"
	"voicetoken/internal/probe"
	"voicetoken/internal/supervise"
	"voicetoken/internal/testkit"
	"voicetoken/internal/token"
)

// agentBin is the test agent (testdata/agent), built once by TestMain.
var agentBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "supervise-agent")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	agentBin = filepath.Join(dir, "agent")
	if out, err := exec.Command("go", "build", "-o", agentBin, "./testdata/agent").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build the test agent: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// output is the child's stdout, safe to read while it writes.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// starts lists the fingerprints the agent printed at each start.
func (o *output) starts() []string {
	var fps []string
	for _, line := range strings.Split(o.String(), "\n") {
		if fp, ok := strings.CutPrefix(line, "started "); ok {
			fps = append(fps, fp)
		}
	}
	return fps
}

// harness runs a Source on a token file and a Supervisor fed by it.
type harness struct {
	l    *logscan.Logs
	out  *output
	sigs chan os.Signal
	code chan int
	src  *credential.Source
}

func start(t *testing.T, l *logscan.Logs, path string, cfg supervise.Config, accept func(context.Context, *credential.Credential) error) *harness {
	t.Helper()
	h := &harness{l: l, out: &output{}, sigs: make(chan os.Signal, 1), code: make(chan int, 1)}
	cfg.Argv = []string{agentBin}
	cfg.Stdout, cfg.Stderr, cfg.Logger = h.out, h.out, l.Logger()
	if cfg.Env == nil {
		cfg.Env = []string{}
	}
	sup, err := supervise.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.src, err = credential.New(ctx, credential.Config{
		Spec: credential.Spec{Kind: credential.KindFile, Path: path}, Logger: l.Logger(),
		PollInterval: -1, OnChange: sup.Notify, Accept: accept,
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	srcDone := make(chan struct{})
	go func() { h.src.Run(ctx); close(srcDone) }()
	go func() {
		code, err := sup.Run(ctx, h.src.Current(), h.sigs)
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		h.code <- code
	}()
	t.Cleanup(func() {
		cancel()
		<-srcDone
		l.Text("agent output", h.out.String())
	})
	return h
}

// waitStarts waits until the agent has started n times, the last with fp.
func (h *harness) waitStarts(t *testing.T, n int, fp string) {
	t.Helper()
	testkit.Eventually(t, 5*time.Second, fmt.Sprintf("start %d with %s", n, fp), func() bool {
		s := h.out.starts()
		return len(s) >= n && s[len(s)-1] == fp
	})
	if s := h.out.starts(); len(s) != n {
		t.Fatalf("the agent started %d times (%v), want %d", len(s), s, n)
	}
}

// writer changes a token file the way one kind of writer does.
type writer struct {
	name  string
	setup func(t *testing.T, dir, tok string) (path string, write func(tok string))
}

func writeAtomically(t *testing.T, path, tok string) {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

var writers = []writer{
	{name: "rename (an editor, Vault Agent's template)", setup: func(t *testing.T, dir, tok string) (string, func(string)) {
		p := filepath.Join(dir, "podium_token")
		writeAtomically(t, p, tok)
		return p, func(tok string) { writeAtomically(t, p, tok) }
	}},
	{name: "in-place write (echo > file)", setup: func(t *testing.T, dir, tok string) (string, func(string)) {
		p := filepath.Join(dir, "podium_token")
		write := func(tok string) {
			if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		write(tok)
		return p, write
	}},
	{name: "..data swap (a Kubernetes Secret volume)", setup: func(t *testing.T, dir, tok string) (string, func(string)) {
		gen := 0
		write := func(tok string) {
			gen++
			ts := fmt.Sprintf("..2026_12_04_17_00_00.%d", gen)
			if err := os.Mkdir(filepath.Join(dir, ts), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, ts, "podium_token"), []byte(tok), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(ts, filepath.Join(dir, "..data_tmp")); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
				t.Fatal(err)
			}
		}
		write(tok)
		p := filepath.Join(dir, "podium_token")
		if err := os.Symlink(filepath.Join("..data", "podium_token"), p); err != nil {
			t.Fatal(err)
		}
		return p, write
	}},
	{name: "voicetoken rotate", setup: func(t *testing.T, dir, tok string) (string, func(string)) {
		p := filepath.Join(dir, "podium_token")
		write := func(tok string) {
			if _, err := credential.Rotate(credential.RotateOptions{Path: p, Token: tok, Backups: 1}); err != nil {
				// An expired token is refused by rotate itself: write it
				// by hand, as a person would.
				writeAtomically(t, p, tok)
			}
		}
		write(tok)
		return p, write
	}},
}

// TestRunRestartsOncePerAcceptedChange: through each writer, the agent
// (which reads its token only at start) is restarted once per accepted
// change, with the new token, and never for an expired token or one the
// upstream refuses (--probe).
func TestRunRestartsOncePerAcceptedChange(t *testing.T) {
	now := time.Now()
	for i, w := range writers {
		for _, viaEnv := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, token in %s", w.name, map[bool]string{false: "PODIUM_TOKEN_FILE", true: "PODIUM_TOKEN"}[viaEnv]), func(t *testing.T) {
				l := logscan.New(t)
				a, b, c := testkit.TokenExp(t, now, time.Hour), testkit.TokenExp(t, now, 2*time.Hour), testkit.TokenExp(t, now, 3*time.Hour)
				expired, revoked := testkit.TokenExp(t, now, -time.Hour), testkit.TokenExp(t, now, 4*time.Hour+time.Duration(i)*time.Second)
				l.Secret(a, b, c, expired, revoked)
				platform := httptest.NewServer(l.Handler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
					if r.Header.Get("Authorization") == "Bearer "+revoked {
						http.Error(rw, "revoked", http.StatusUnauthorized)
					}
				})))
				t.Cleanup(platform.Close)
				p, err := probe.Parse(platform.URL + "/v1/me")
				if err != nil {
					t.Fatal(err)
				}
				accept := func(ctx context.Context, c *credential.Credential) error {
					_, err := p.Probe(ctx, c.Token())
					return err
				}

				path, write := w.setup(t, t.TempDir(), a)
				cfg := supervise.Config{Grace: 5 * time.Second}
				if viaEnv {
					cfg.TokenEnv = "PODIUM_TOKEN"
				} else {
					cfg.TokenFile = path
				}
				h := start(t, l, path, cfg, accept)
				h.waitStarts(t, 1, token.Fingerprint(a))

				write(b)
				h.waitStarts(t, 2, token.Fingerprint(b))
				restarts := l.Events("AGENT_RESTARTED")
				if len(restarts) != 1 || restarts[0]["old_fingerprint"] != token.Fingerprint(a) || restarts[0]["fingerprint"] != token.Fingerprint(b) {
					t.Fatalf("AGENT_RESTARTED events %v, want one from a to b", restarts)
				}

				// Rejected values: the source decides, and logs it; the
				// supervisor only ever sees accepted ones. The next good
				// value then proves no restart came in between: it is
				// start 3, not 4 or 5.
				write(expired)
				testkit.Eventually(t, 5*time.Second, "the expired token rejected", func() bool { return len(l.Events("CREDENTIAL_REJECTED")) >= 1 })
				write(revoked)
				testkit.Eventually(t, 5*time.Second, "the revoked token rejected by the probe", func() bool {
					for _, ev := range l.Events("CREDENTIAL_REJECTED") {
						if r, _ := ev["reason"].(string); strings.Contains(r, "answered 401") {
							return true
						}
					}
					return false
				})
				write(c)
				h.waitStarts(t, 3, token.Fingerprint(c))
				if n := len(l.Events("AGENT_RESTARTED")); n != 2 {
					t.Errorf("%d restarts, want 2", n)
				}
			})
		}
	}
}

// TestRunForwardsSignalsAndPassesExitCode: a signal the supervisor gets
// reaches the agent, and the agent's exit code is the supervisor's.
func TestRunForwardsSignalsAndPassesExitCode(t *testing.T) {
	l := logscan.New(t)
	a := testkit.TokenExp(t, time.Now(), time.Hour)
	l.Secret(a)
	path := filepath.Join(t.TempDir(), "podium_token")
	writeAtomically(t, path, a)
	h := start(t, l, path, supervise.Config{TokenFile: path}, nil)
	h.waitStarts(t, 1, token.Fingerprint(a))
	h.sigs <- syscall.SIGHUP
	testkit.Eventually(t, 5*time.Second, "the agent to get SIGHUP", func() bool { return strings.Contains(h.out.String(), "signal hangup") })
	h.sigs <- syscall.SIGUSR1 // the agent exits 7 on it
	select {
	case code := <-h.code:
		if code != 7 {
			t.Errorf("exit code %d, want the agent's 7", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the supervisor did not return when the agent exited")
	}
}

// TestRunSignalOnChange: --on-change signal:HUP signals instead of
// restarting, and a child that ignores SIGTERM is killed after Grace.
func TestRunSignalOnChange(t *testing.T) {
	now := time.Now()
	l := logscan.New(t)
	a, b := testkit.TokenExp(t, now, time.Hour), testkit.TokenExp(t, now, 2*time.Hour)
	l.Secret(a, b)
	path := filepath.Join(t.TempDir(), "podium_token")
	writeAtomically(t, path, a)
	h := start(t, l, path, supervise.Config{TokenFile: path, Signal: syscall.SIGHUP}, nil)
	h.waitStarts(t, 1, token.Fingerprint(a))
	writeAtomically(t, path, b)
	testkit.Eventually(t, 5*time.Second, "the agent to get SIGHUP", func() bool { return strings.Contains(h.out.String(), "signal hangup") })
	if ev := l.Events("AGENT_SIGNALLED"); len(ev) != 1 || ev[0]["fingerprint"] != token.Fingerprint(b) {
		t.Errorf("AGENT_SIGNALLED events %v, want one for b", ev)
	}
	if s := h.out.starts(); len(s) != 1 {
		t.Errorf("the agent started %d times, want once (signalled, not restarted)", len(s))
	}
}

func TestRunKillsAfterGrace(t *testing.T) {
	now := time.Now()
	l := logscan.New(t)
	a, b := testkit.TokenExp(t, now, time.Hour), testkit.TokenExp(t, now, 2*time.Hour)
	l.Secret(a, b)
	path := filepath.Join(t.TempDir(), "podium_token")
	writeAtomically(t, path, a)
	h := start(t, l, path, supervise.Config{TokenFile: path, Grace: 200 * time.Millisecond, Env: []string{"AGENT_IGNORE_TERM=1"}}, nil)
	h.waitStarts(t, 1, token.Fingerprint(a))
	writeAtomically(t, path, b)
	h.waitStarts(t, 2, token.Fingerprint(b))
	if len(l.Events("AGENT_KILLED")) != 1 || !strings.Contains(h.out.String(), "signal terminated") {
		t.Errorf("want SIGTERM ignored, then AGENT_KILLED; output:\n%s", h.out.String())
	}
}

func TestNewValidates(t *testing.T) {
	_, err := supervise.New(supervise.Config{})
	if err == nil || !strings.Contains(err.Error(), "no command") || !strings.Contains(err.Error(), "--env NAME") {
		t.Errorf("New(zero) = %v; want both problems at once", err)
	}
}
