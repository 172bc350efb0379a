package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"voicetoken/internal/credential"
	"voicetoken/internal/probe"
	"voicetoken/internal/supervise"
)

const runUsage = `Usage: voicetoken run [--credential SPEC] [--env NAME] [--on-change restart|signal:SIG] [flags] -- COMMAND [ARGS...]

Runs an agent that reads its upstream token only at start-up (the
rotation SOP's step 3) and restarts it when the token changes, the way
Vault Agent's exec mode and envconsul do: nobody has to remember to.

The agent gets the token in the variable --env names, or, for a file:
credential without --env, the file's path in PODIUM_TOKEN_FILE. The
credential is watched with the code 'voicetoken proxy' uses (fsnotify,
Kubernetes ..data swaps, an editor's rename, rotate; vault: and exec:
re-read every --refresh). A new value is validated first (JWT, exp in
the future, --iss/--aud, and with --probe one request to the platform);
a rejected value is logged (CREDENTIAL_REJECTED) and the agent keeps
running with the old one, never restarted for it. An accepted value:

  --on-change restart      SIGTERM to the agent's process group, up to
                           --grace to exit, then SIGKILL; start it again
                           with the new token (AGENT_RESTARTED, with the
                           old and new fingerprints). The default.
  --on-change signal:HUP   send it a signal instead (AGENT_SIGNALLED),
                           for an agent that re-reads its token on it

then --exec runs, if given, with VOICETOKEN_OLD_FINGERPRINT,
VOICETOKEN_NEW_FINGERPRINT and VOICETOKEN_TOKEN_SOURCE in its
environment (never the token).

SIGINT, SIGTERM, SIGQUIT, SIGUSR1 and SIGUSR2 are forwarded to the
agent (after SIGINT or SIGTERM it has --grace to exit); SIGHUP re-reads
the credential, as for proxy. The agent's stdout and stderr are run's
own, untouched; voicetoken's own log lines are JSON on stderr. run exits
with the agent's exit code (128+N when signal N ended it), 1 when there
is no valid token to start with, 3 on a usage error.

Examples:
  voicetoken run --credential file:/run/secrets/podium_token -- python agent.py
  voicetoken run --credential vault:secret/podium#token --env PODIUM_TOKEN \
      --probe https://api.podium.example/v1/me -- ./agent
  voicetoken run --on-change signal:HUP --grace 30s -- node agent.js`

// runConfig is what run's flags say.
type runConfig struct {
	spec      credential.Spec
	sup       supervise.Config
	policy    credential.Policy
	prober    *probe.Prober
	poll      time.Duration
	refresh   time.Duration
	force     bool
	hookArgv  []string
	tokenFile string
}

func runRun(ctx context.Context, e *env, args []string) error {
	rc, err := parseRunFlags(e, args)
	if err != nil {
		return err
	}
	stdout, stderr := shared(e.stdout), shared(e.stderr)
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	rc.sup.Stdout, rc.sup.Stderr, rc.sup.Logger = stdout, stderr, log
	if len(rc.hookArgv) > 0 {
		rc.sup.Hook = &supervise.Hook{Argv: rc.hookArgv, Source: rc.spec.String(), File: rc.tokenFile, Stdout: stdout, Stderr: stderr, Logger: log}
	}
	sup, err := supervise.New(rc.sup)
	if err != nil {
		return usageErr("%v", err)
	}
	// The supervisor outlives the signals that end main's context: it
	// forwards them and returns when the agent has exited.
	srcCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	src, err := credential.New(srcCtx, credential.Config{
		Spec: rc.spec, Policy: rc.policy, Logger: log, Now: e.now, Getenv: e.getenv, Force: rc.force,
		PollInterval: rc.poll, Refresh: rc.refresh, OnChange: sup.Notify, Accept: acceptProbe(rc.prober),
	})
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("load the credential: %w", err)}
	}
	srcDone := make(chan struct{})
	go func() { src.Run(srcCtx); close(srcDone) }()
	defer func() { cancel(); <-srcDone }()
	defer onSIGHUP(srcCtx, func() { src.Reload(srcCtx) })()

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	code, err := sup.Run(srcCtx, src.Current(), sigs)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// shared lets voicetoken's log and the agent write one stream. A file is
// handed to the agent as it is (its own descriptor: output untouched);
// anything else (a test's buffer) is copied by os/exec from another
// goroutine, so writes take a lock.
func shared(w io.Writer) io.Writer {
	if _, ok := w.(*os.File); ok {
		return w
	}
	return &lockedWriter{w: w}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// acceptProbe turns --probe into the Source's last check of a new value.
func acceptProbe(p *probe.Prober) func(context.Context, *credential.Credential) error {
	if p == nil {
		return nil
	}
	return func(ctx context.Context, c *credential.Credential) error {
		_, err := p.Probe(ctx, c.Token())
		return err
	}
}

// runFlags are the parsed flags of `run`.
type runFlags struct {
	sourceFlags
	envName, onChange, hook, probeURL string
	grace                             time.Duration
	force                             bool
}

func (f *runFlags) register(fs *flag.FlagSet) {
	f.sourceFlags.register(fs)
	fs.StringVar(&f.envName, "env", "", "give the agent the token in this variable (default: the file's path in PODIUM_TOKEN_FILE)")
	fs.StringVar(&f.onChange, "on-change", "restart", "what a new token does to the agent: restart, or signal:NAME (e.g. signal:HUP)")
	fs.DurationVar(&f.grace, "grace", supervise.DefaultGrace, "how long the agent has to exit after SIGTERM before SIGKILL")
	fs.StringVar(&f.hook, "exec", "", "command to run after each accepted change (split like a shell, not run by one)")
	fs.StringVar(&f.probeURL, "probe", "", "GET this upstream URL (or a ws(s):// handshake) with each new token before using it: 2xx/101 accepts, 401/403 rejects")
	fs.BoolVar(&f.force, "force", false, "allow a token file inside a git work tree or named like .env")
}

// parseRunFlags turns run's arguments and environment into its config.
func parseRunFlags(e *env, args []string) (*runConfig, error) {
	fs := newFlagSet(e, "run", runUsage)
	var f runFlags
	f.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	return f.config(e, fs.Args())
}

// config resolves the flags (PODIUM_TOKEN_FILE defaults --credential) for
// the agent's argv and checks them, returning every problem at once as
// one usage error.
func (f *runFlags) config(e *env, argv []string) (*runConfig, error) {
	rc := &runConfig{sup: supervise.Config{Argv: argv, TokenEnv: f.envName, Grace: f.grace}, refresh: f.refresh, force: f.force,
		policy: f.policy(), poll: f.pollEvery()}
	var problems []error
	add := func(err error) {
		if err != nil {
			problems = append(problems, err)
		}
	}
	if len(argv) == 0 {
		add(errors.New("no command to run: voicetoken run [flags] -- COMMAND [ARGS...]"))
	}
	add(f.credential(e, rc))
	if f.envName != "" && !validVarName(f.envName) {
		add(fmt.Errorf("--env: %q is not a variable name", f.envName))
	}
	var err error
	if rc.sup.Signal, err = parseOnChange(f.onChange); err != nil {
		add(fmt.Errorf("--on-change: %w", err))
	}
	if f.grace <= 0 {
		add(errors.New("--grace must be positive"))
	}
	if f.hook != "" {
		if rc.hookArgv, err = credential.SplitCommand(f.hook); err != nil {
			add(fmt.Errorf("--exec: %w", err))
		}
	}
	if f.probeURL != "" {
		if rc.prober, err = probe.Parse(f.probeURL); err != nil {
			add(fmt.Errorf("--probe: %w", err))
		}
	}
	if len(problems) > 0 {
		return nil, &exitError{code: exitUsage, err: errors.Join(problems...)}
	}
	return rc, nil
}

// credential sets rc's source from --credential and how the agent gets
// the token: a file's path in PODIUM_TOKEN_FILE unless --env names a
// variable, which any other kind needs.
func (f *runFlags) credential(e *env, rc *runConfig) error {
	var err error
	if rc.spec, err = f.source(e); err != nil {
		return err
	}
	path, ok := rc.spec.File()
	switch {
	case ok:
		rc.tokenFile = path
		if f.envName == "" {
			rc.sup.TokenFile = path
		}
	case f.envName == "":
		return fmt.Errorf("--env NAME is required for %s: only a file: credential can be handed over as PODIUM_TOKEN_FILE", rc.spec)
	}
	return nil
}

// parseOnChange reads "restart" (0) or "signal:HUP" / "signal:SIGHUP".
func parseOnChange(s string) (syscall.Signal, error) {
	if s == "restart" {
		return 0, nil
	}
	name, ok := strings.CutPrefix(s, "signal:")
	if !ok {
		return 0, fmt.Errorf("%q: want restart or signal:NAME (e.g. signal:HUP)", s)
	}
	switch strings.TrimPrefix(strings.ToUpper(name), "SIG") {
	case "HUP":
		return syscall.SIGHUP, nil
	case "USR1":
		return syscall.SIGUSR1, nil
	case "USR2":
		return syscall.SIGUSR2, nil
	case "INT":
		return syscall.SIGINT, nil
	case "TERM":
		return syscall.SIGTERM, nil
	}
	return 0, fmt.Errorf("signal %q: want HUP, USR1, USR2, INT or TERM", name)
}

func validVarName(s string) bool {
	for i, c := range s {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}
