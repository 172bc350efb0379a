// Package redistest runs a real redis-server (Debian's package) for
// tests: on a free 127.0.0.1 port, in the test's temporary directory,
// without persistence, so a restart starts empty. Tests skip without the
// binary, except under CI (CI set), where they fail: CI installs it with
// scripts/apt-install.sh redis-server.
package redistest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"voicetoken/internal/testkit"
)

// Server is one redis-server process.
type Server struct {
	t     testing.TB
	port  int
	dir   string
	extra []string
	cmd   *exec.Cmd
}

// Start runs redis-server with extra arguments (e.g. "--requirepass",
// "pw"), waits until it answers and stops it when the test ends.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is not installed: bash scripts/apt-install.sh redis-server")
		}
		t.Skip("redis-server is not installed (bash scripts/apt-install.sh redis-server)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &Server{t: t, port: port, dir: t.TempDir(), extra: extra}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL is redis://127.0.0.1:port/0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Restart starts the server (again, empty, on the same port) and waits
// until it answers PING.
func (s *Server) Restart() {
	s.t.Helper()
	args := append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", "no"}, s.extra...)
	s.cmd = exec.Command("redis-server", args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer c.Close()
	testkit.Eventually(s.t, 20*time.Second, "redis-server to answer PING", func() bool {
		err := c.Ping(context.Background()).Err()
		return err == nil || redis.HasErrorPrefix(err, "NOAUTH") // up, with a password
	})
}

// Stop kills the server (Redis down).
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT) // if paused
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Pause stops the process without closing its port (SIGSTOP): Redis
// accepts connections and answers nothing, as a Redis too slow would.
// It resumes when the test ends, or with Resume.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
}
