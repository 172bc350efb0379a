package credential

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"time"

	"voicetoken/internal/token"
)

// execSource is exec:CMD ARGS...: a command whose stdout is the token,
// the way kubectl's exec credential plugins and AWS credential_process
// reach a secret store without linking its SDK. It is run without a
// shell, with a timeout; its stderr is never logged (it may echo the
// secret), only its length and fingerprint.
type execSource struct {
	argv    []string
	timeout time.Duration
}

func parseExec(rest string) (Spec, error) {
	argv, err := SplitCommand(rest)
	if err != nil {
		return Spec{}, fmt.Errorf("%w: exec: %w", ErrSpec, err)
	}
	return Spec{Kind: KindExec, Argv: argv}, nil
}

// execString shows the program and the number of arguments only: an
// argument may hold a secret of its own.
func execString(s Spec) string {
	if len(s.Argv) == 0 {
		return "exec:"
	}
	return fmt.Sprintf("exec:%s (%d args)", filepath.Base(s.Argv[0]), len(s.Argv)-1)
}

func openExec(s Spec, cfg Config) (Reader, error) {
	if len(s.Argv) == 0 {
		return nil, fmt.Errorf("%w: exec: needs a command", ErrSpec)
	}
	return &execSource{argv: s.Argv, timeout: cfg.ExecTimeout}, nil
}

func (e *execSource) String() string     { return execString(Spec{Kind: KindExec, Argv: e.argv}) }
func (e *execSource) Schedule() Schedule { return Refresh }

func (e *execSource) Read(ctx context.Context) ([]byte, string, error) {
	b, err := runCommand(ctx, e.argv, e.timeout)
	return b, "", err
}

// runCommand runs argv without a shell and returns its stdout. Errors say
// how it failed and describe stderr by size and fingerprint only: a
// secret-store CLI may echo the secret on stderr.
func runCommand(ctx context.Context, argv []string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = time.Second // a grandchild holding stdout must not hang us
	var stdout, stderr capped
	stdout.max, stderr.max = maxFileSize, 64<<10
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	name := filepath.Base(argv[0])
	if err != nil {
		var ee *exec.ExitError
		switch {
		case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
			return nil, fmt.Errorf("%w: %s timed out after %s", ErrExec, name, timeout)
		case errors.As(err, &ee):
			return nil, fmt.Errorf("%w: %s exited with status %d; %s", ErrExec, name, ee.ExitCode(), stderr.describe())
		default:
			return nil, fmt.Errorf("%w: %s: %w", ErrExec, name, err)
		}
	}
	if stdout.over {
		return nil, fmt.Errorf("%w: %s printed more than %d bytes", ErrExec, name, stdout.max)
	}
	return stdout.buf.Bytes(), nil
}

// capped is a buffer that keeps at most max bytes and remembers overflow.
// It has no ReadFrom, so io.Copy cannot bypass the cap.
type capped struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); len(p) > room {
		c.over = true
		c.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return c.buf.Write(p)
}

func (c *capped) describe() string {
	if c.buf.Len() == 0 {
		return "no stderr"
	}
	first, _, _ := bytes.Cut(c.buf.Bytes(), []byte("\n"))
	return fmt.Sprintf("stderr withheld (%d bytes, first line %d bytes, sha256 %s)", c.buf.Len(), len(first), token.Fingerprint(c.buf.String()))
}
