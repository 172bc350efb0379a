// Package supervise runs an agent that reads its upstream token only at
// start-up, and restarts it (or signals it) when the token changes: the
// rotation SOP's step 3 without a hand on it, the way Vault Agent's exec
// mode and envconsul do it.
//
// # Design
//
// A [Supervisor] starts the child with the token, either in an
// environment variable it names or, for a file: source, as the path in
// PODIUM_TOKEN_FILE, which the child reads itself. The token is watched
// by a credential.Source (the very code `voicetoken proxy` uses: fsnotify,
// Kubernetes' ..data swaps, vault:, exec:), which validates each new
// value (and probes the upstream with it when asked) before calling
// [Supervisor.Notify]: a rejected value never reaches the supervisor, so
// it never restarts the child for one. On each accepted value the
// supervisor restarts the child gracefully (SIGTERM to its process group,
// Grace, then SIGKILL) or sends it a signal, logs AGENT_RESTARTED (or
// AGENT_SIGNALLED) with the old and new fingerprints, and runs the
// optional [Hook]. Signals it receives are forwarded to the child; when
// the child exits on its own, Run returns its exit code (128+N for a
// signal N), as a shell would.
//
// The child has a process group of its own, so that a restart reaches
// the workers it forked and a terminal's Ctrl-C is not delivered twice
// (once by the terminal, once forwarded). Its stdout and stderr are the
// supervisor's own, untouched; its stdin is /dev/null.
package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"voicetoken/internal/credential"
)

// DefaultGrace is how long a child has to exit after SIGTERM before it is
// killed: long enough for an agent to leave its rooms, short enough that
// a new token is in use within seconds.
const DefaultGrace = 10 * time.Second

// Config configures a Supervisor. Argv is required, and one of TokenEnv
// and TokenFile.
type Config struct {
	// Argv is the child's command and arguments, run without a shell.
	Argv []string
	// Env is the child's environment besides the token; nil means
	// os.Environ().
	Env []string
	// TokenEnv, when set, is the variable that carries the token itself.
	TokenEnv string
	// TokenFile, when TokenEnv is empty, is passed as PODIUM_TOKEN_FILE:
	// the child reads the file itself.
	TokenFile string
	// Signal, when set, is sent on a change instead of a restart (e.g.
	// syscall.SIGHUP for an agent that re-reads its token on it).
	Signal syscall.Signal
	// Grace is the time between SIGTERM and SIGKILL; zero means
	// DefaultGrace.
	Grace time.Duration
	// Hook, when set, runs after each accepted change.
	Hook *Hook
	// Stdout and Stderr are the child's; nil means os.Stdout, os.Stderr.
	Stdout, Stderr io.Writer
	// Logger receives AGENT_* events; nil discards them.
	Logger *slog.Logger
}

// Supervisor runs one child at a time. Notify may be called from any
// goroutine; Run from one.
type Supervisor struct {
	cfg     Config
	log     *slog.Logger
	changes chan *credential.Credential
}

// New checks cfg and returns a Supervisor.
func New(cfg Config) (*Supervisor, error) {
	var errs []error
	if len(cfg.Argv) == 0 {
		errs = append(errs, errors.New("no command to run: give it after --"))
	}
	if cfg.TokenEnv == "" && cfg.TokenFile == "" {
		errs = append(errs, errors.New("the child gets the token in a variable (--env NAME) or, for a file: credential, its path in PODIUM_TOKEN_FILE"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Env == nil {
		cfg.Env = os.Environ()
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Supervisor{cfg: cfg, log: cfg.Logger, changes: make(chan *credential.Credential, 1)}, nil
}

// Notify hands Run a new, accepted credential; it never blocks. When
// several arrive before Run takes one, only the latest counts: the child
// is restarted once, with the newest token. Its signature is
// credential.Config.OnChange's; old is not used.
func (s *Supervisor) Notify(_, c *credential.Credential) {
	for {
		select {
		case s.changes <- c:
			return
		default:
			select { // drop the older pending one
			case <-s.changes:
			default:
			}
		}
	}
}

// child is one running process.
type child struct {
	cmd  *exec.Cmd
	cred *credential.Credential
	done chan struct{} // closed when it has exited; then err is set
	err  error
}

// Run starts the child with first, then restarts or signals it on each
// Notify and forwards sigs to it, until the child exits on its own (its
// exit code is returned) or ctx ends (the child is stopped, and its code
// returned). A forwarded SIGINT or SIGTERM gives the child Grace to exit
// before SIGKILL. err is set only when the child cannot be started.
func (s *Supervisor) Run(ctx context.Context, first *credential.Credential, sigs <-chan os.Signal) (int, error) {
	c, err := s.start(ctx, first)
	if err != nil {
		return 1, err
	}
	var kill <-chan time.Time // armed by a forwarded SIGINT or SIGTERM
	for {
		select {
		case <-c.done:
			return s.exited(ctx, c), nil
		case sig := <-sigs:
			kill = s.forward(ctx, c, sig, kill)
		case <-kill:
			s.log.LogAttrs(ctx, slog.LevelWarn, "agent did not stop within the grace period; killing it",
				slog.String("event", "AGENT_KILLED"), slog.Int("pid", c.cmd.Process.Pid), slog.Duration("grace", s.cfg.Grace))
			syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		case nc := <-s.changes:
			if nc.Fingerprint() == c.cred.Fingerprint() || kill != nil {
				continue // the same token, or stopping: no restart
			}
			if c, err = s.change(ctx, c, nc); err != nil {
				return 1, err
			}
		case <-ctx.Done():
			s.stop(context.WithoutCancel(ctx), c)
			return exitCode(c.err), nil
		}
	}
}

// exited logs that c exited on its own and returns its exit code.
func (s *Supervisor) exited(ctx context.Context, c *child) int {
	code := exitCode(c.err)
	s.log.LogAttrs(ctx, slog.LevelInfo, "agent exited",
		slog.String("event", "AGENT_EXITED"), slog.Int("pid", c.cmd.Process.Pid), slog.Int("code", code))
	return code
}

// forward sends sig to c and returns the kill timer: a first SIGINT or
// SIGTERM arms it, so the child has Grace to stop.
func (s *Supervisor) forward(ctx context.Context, c *child, sig os.Signal, kill <-chan time.Time) <-chan time.Time {
	s.signal(ctx, c, sig, "forwarded")
	if kill == nil && (sig == syscall.SIGTERM || sig == syscall.SIGINT) {
		return time.After(s.cfg.Grace)
	}
	return kill
}

// change restarts or signals c for the new credential nc, runs the hook,
// and returns the child now running.
func (s *Supervisor) change(ctx context.Context, c *child, nc *credential.Credential) (*child, error) {
	old := c.cred
	if s.cfg.Signal != 0 {
		c.cred = nc
		s.signal(ctx, c, s.cfg.Signal, "credential changed")
	} else {
		s.stop(ctx, c)
		next, err := s.start(ctx, nc)
		if err != nil {
			return c, fmt.Errorf("restart the agent: %w", err)
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "agent restarted with the new credential",
			slog.String("event", "AGENT_RESTARTED"), slog.Int("old_pid", c.cmd.Process.Pid), slog.Int("pid", next.cmd.Process.Pid),
			slog.String("old_fingerprint", old.Fingerprint()), slog.String("fingerprint", nc.Fingerprint()))
		c = next
	}
	if s.cfg.Hook != nil {
		s.cfg.Hook.Run(ctx, old, nc) // logged; a failing hook does not stop the agent
	}
	return c, nil
}

// start runs the child with cred.
func (s *Supervisor) start(ctx context.Context, cred *credential.Credential) (*child, error) {
	cmd := exec.Command(s.cfg.Argv[0], s.cfg.Argv[1:]...)
	cmd.Env = s.childEnv(cred)
	cmd.Stdout, cmd.Stderr = s.cfg.Stdout, s.cfg.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.cfg.Argv[0], err)
	}
	c := &child{cmd: cmd, cred: cred, done: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	s.log.LogAttrs(ctx, slog.LevelInfo, "agent started",
		slog.String("event", "AGENT_STARTED"), slog.Int("pid", cmd.Process.Pid),
		slog.String("command", s.cfg.Argv[0]), slog.String("fingerprint", cred.Fingerprint()))
	return c, nil
}

// childEnv is Env without any earlier value of the token's variable, plus
// the token (or its file).
func (s *Supervisor) childEnv(cred *credential.Credential) []string {
	name, val := "PODIUM_TOKEN_FILE", s.cfg.TokenFile
	if s.cfg.TokenEnv != "" {
		name, val = s.cfg.TokenEnv, cred.Token()
	}
	env := make([]string, 0, len(s.cfg.Env)+1)
	for _, kv := range s.cfg.Env {
		if !strings.HasPrefix(kv, name+"=") {
			env = append(env, kv)
		}
	}
	return append(env, name+"="+val)
}

// stop sends SIGTERM to c's process group, waits Grace, then SIGKILL,
// and waits for it to exit.
func (s *Supervisor) stop(ctx context.Context, c *child) {
	select {
	case <-c.done:
		return
	default:
	}
	pid := c.cmd.Process.Pid
	syscall.Kill(-pid, syscall.SIGTERM)
	t := time.NewTimer(s.cfg.Grace)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		s.log.LogAttrs(ctx, slog.LevelWarn, "agent ignored SIGTERM; killing it",
			slog.String("event", "AGENT_KILLED"), slog.Int("pid", pid), slog.Duration("grace", s.cfg.Grace))
		syscall.Kill(-pid, syscall.SIGKILL)
		<-c.done
	}
}

// signal sends sig to c's process group.
func (s *Supervisor) signal(ctx context.Context, c *child, sig os.Signal, why string) {
	n, ok := sig.(syscall.Signal)
	if !ok {
		return
	}
	syscall.Kill(-c.cmd.Process.Pid, n)
	s.log.LogAttrs(ctx, slog.LevelInfo, "signalled the agent",
		slog.String("event", "AGENT_SIGNALLED"), slog.Int("pid", c.cmd.Process.Pid),
		slog.String("signal", n.String()), slog.String("why", why), slog.String("fingerprint", c.cred.Fingerprint()))
}

// exitCode is the child's exit code as a shell reports it: 128+N when
// signal N ended it.
func exitCode(err error) int {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		if err != nil {
			return 1
		}
		return 0
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ee.ExitCode()
}
