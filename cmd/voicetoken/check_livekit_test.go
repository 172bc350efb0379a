package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"voicetoken/internal/testkit"
	"voicetoken/internal/token"
)

// livekitServer is a real LiveKit server (livekit-server --dev) for
// integration tests, bound to loopback on free ports.
type livekitServer struct {
	cmd  *exec.Cmd
	port int
	log  *bytes.Buffer
	done chan struct{}
}

// livekitBinary finds LiveKit's server: $VOICETOKEN_LIVEKIT_BIN (the CI
// harness passes it), else the repository's build script (scripts/livekit-server.sh),
// which builds it once and caches it. It skips the test when neither is
// available.
func livekitBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: not starting a real LiveKit server")
	}
	if bin := os.Getenv("VOICETOKEN_LIVEKIT_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("VOICETOKEN_LIVEKIT_BIN: %v", err)
		}
		return bin
	}
	script, _ := filepath.Abs(filepath.Join("..", "..", "scripts", "livekit-server.sh"))
	if _, err := os.Stat(script); err != nil {
		t.Skipf("no LiveKit server: VOICETOKEN_LIVEKIT_BIN is unset and %s is missing", script)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute) // the first build takes minutes
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("no LiveKit server: %s failed: %v\n%s", script, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startLiveKit starts LiveKit in dev mode (keys devkey/secret) with its
// HTTP/signal port, ICE/UDP port and no ICE/TCP listener on loopback
// only, away from the default 7880-7882 another test may be using, and
// waits until it answers. It is killed at the end of the test.
func startLiveKit(t *testing.T, bin string) *livekitServer {
	t.Helper()
	s := &livekitServer{port: freePort(t, "tcp"), log: &bytes.Buffer{}, done: make(chan struct{})}
	conf := filepath.Join(t.TempDir(), "livekit.yaml")
	// rtc.tcp_port 0 turns ICE/TCP off: LiveKit would bind it on all
	// interfaces. interfaces/ips keep ICE candidates on loopback.
	yaml := fmt.Sprintf(`rtc:
  tcp_port: 0
  udp_port: %d
  node_ip: 127.0.0.1
  use_external_ip: false
  enable_loopback_candidate: true
  interfaces:
    includes: ["lo"]
  ips:
    includes: ["127.0.0.1/32"]
logging:
  level: info
`, freePort(t, "udp"))
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(bin, "--dev", "--bind", "127.0.0.1", "--port", fmt.Sprint(s.port), "--config", conf)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start LiveKit: %v", err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(s.stop)
	defer func() {
		if t.Failed() {
			t.Logf("LiveKit log:\n%s", s.log.String())
		}
	}()
	testkit.Eventually(t, 60*time.Second, "LiveKit to answer on "+s.httpURL(), func() bool {
		select {
		case <-s.done:
			t.Fatalf("LiveKit exited: %v\n%s", s.cmd.ProcessState, s.log.String())
		default:
		}
		resp, err := http.Get(s.httpURL() + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	return s
}

func (s *livekitServer) httpURL() string { return fmt.Sprintf("http://127.0.0.1:%d", s.port) }
func (s *livekitServer) wsURL() string   { return fmt.Sprintf("ws://127.0.0.1:%d", s.port) }

// stop ends the server. LiveKit's first SIGTERM starts a graceful drain
// that can wait for long; a second one forces the exit (its log says
// "force": true). SIGKILL if even that lingers.
func (s *livekitServer) stop() {
	for _, step := range []struct {
		sig  os.Signal
		wait time.Duration
	}{{syscall.SIGTERM, 500 * time.Millisecond}, {syscall.SIGTERM, 10 * time.Second}, {os.Kill, time.Minute}} {
		select {
		case <-s.done:
			return
		default:
		}
		s.cmd.Process.Signal(step.sig)
		select {
		case <-s.done:
			return
		case <-time.After(step.wait):
		}
	}
}

// runCheckNow runs `check` with the real clock: LiveKit judges our
// tokens by its own.
func runCheckNow(t *testing.T, environ map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"check"}, args...), &env{
		stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		getenv: func(k string) string { return environ[k] }, now: time.Now,
	})
	return result{code, out.String(), errb.String()}
}

// line returns the table line of the named check.
func line(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, name+" ") {
			return l
		}
	}
	return ""
}

func TestCheckAgainstRealLiveKit(t *testing.T) {
	lk := startLiveKit(t, livekitBinary(t))
	devEnv := map[string]string{"LIVEKIT_URL": lk.wsURL(), "LIVEKIT_API_KEY": "devkey", "LIVEKIT_API_SECRET": "secret"}

	r := runCheckNow(t, devEnv, "--strict")
	if r.code != 0 {
		t.Fatalf("check against a running LiveKit: exit %d\n%s%s\nserver log:\n%s", r.code, r.stdout, r.stderr, lk.log.String())
	}
	for _, name := range []string{"keys", "livekit", "livekit api"} {
		if l := line(r.stdout, name); !strings.Contains(l, " ok ") {
			t.Errorf("%s: %q, want ok", name, l)
		}
	}
	t.Logf("all ok:\n%s", r.stdout)

	// The server's own reason when it refuses our secret, token redacted.
	wrong := map[string]string{"LIVEKIT_URL": lk.wsURL(), "LIVEKIT_API_KEY": "devkey", "LIVEKIT_API_SECRET": "not-the-dev-secret"}
	r = runCheckNow(t, wrong)
	l := line(r.stdout, "livekit api")
	if r.code != 1 || !strings.Contains(l, "fail") || !strings.Contains(l, "LiveKit refused API key devkey (401)") ||
		!strings.Contains(l, "signature is invalid") || strings.Contains(r.stdout, "eyJ") {
		t.Errorf("wrong secret: exit %d, line %q\n%s", r.code, l, r.stdout)
	}
	r = runCheckNow(t, map[string]string{"LIVEKIT_URL": lk.wsURL(), "LIVEKIT_API_KEY": "APIunknown", "LIVEKIT_API_SECRET": "x"})
	if l := line(r.stdout, "livekit api"); r.code != 1 || !strings.Contains(l, "invalid API key: APIunknown") {
		t.Errorf("unknown key: exit %d, line %q", r.code, l)
	}

	lk.stop()
	r = runCheckNow(t, devEnv, "--json")
	if r.code != 1 {
		t.Errorf("check with LiveKit stopped: exit %d, want 1\n%s", r.code, r.stdout)
	}
	for _, want := range []string{
		`"name": "livekit",
      "status": "fail",
      "detail": "LiveKit at ` + lk.httpURL() + ` is not reachable: connection refused (nothing listening)"`,
		`"name": "livekit api",
      "status": "skipped",
      "detail": "needs livekit (fail)"`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("JSON lacks %s\n%s", want, r.stdout)
		}
	}
}

// LiveKit itself refuses a join over its identity and room-name limits,
// or with no room in the token (even when the client names one), and
// token.Problems (what verify, check and mint warn about) flags exactly
// the tokens it refuses. /rtc/validate runs the join's checks
// without joining.
func TestProblemsAgainstRealLiveKit(t *testing.T) {
	lk := startLiveKit(t, livekitBinary(t))
	k, err := token.NewKey("devkey", "secret")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, identity, room, display string
	}{
		{"at the limits", strings.Repeat("i", token.LiveKitMaxIdentity), strings.Repeat("r", token.LiveKitMaxRoomName), ""},
		{"identity over", strings.Repeat("i", token.LiveKitMaxIdentity+1), "r", ""},
		{"room name over", "u", strings.Repeat("r", token.LiveKitMaxRoomName+1), ""},
		{"no room", "u", "", ""}, // LiveKit 1.13.5 takes the room from the token only
		// max_participant_name_length (256) applies to updates, not to
		// the join: not a problem.
		{"a 300-byte name", "u", "r", strings.Repeat("n", 300)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := token.Claims{Subject: tt.identity, Name: tt.display, Video: &token.VideoGrant{RoomJoin: true, Room: tt.room}}
			raw, err := k.Mint(c, time.Now(), time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.Get(lk.httpURL() + "/rtc/validate?room=another-room&access_token=" + raw)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			refused, problems := resp.StatusCode != http.StatusOK, token.Problems(&c)
			if refused != (len(problems) > 0) || (tt.identity == "u" && tt.room == "r" && refused) || (tt.name == "at the limits" && refused) {
				t.Errorf("LiveKit answered %d %q; Problems: %q", resp.StatusCode, bytes.TrimSpace(body), problems)
			}
		})
	}

}
