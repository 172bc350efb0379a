package credential

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"voicetoken/internal/keys"
	"voicetoken/internal/token"
	"voicetoken/internal/vault"
)

// Defaults for Config's zero values, each chosen to be safe rather than
// fast.
const (
	// DefaultPollInterval is the file safety-net poll: fsnotify can drop
	// events (queue overflow, a remounted directory), a stat and a small
	// read every 30s cost nothing.
	DefaultPollInterval = 30 * time.Second
	// DefaultRefresh is how often an exec: command is re-run and a vault:
	// secret re-read.
	DefaultRefresh = 5 * time.Minute
	// DefaultRefreshBefore re-runs an exec: command this long before the
	// current token expires, whatever the interval says.
	DefaultRefreshBefore = 10 * time.Minute
	// DefaultRetryInterval is the delay after a failed exec: run, and the
	// shortest delay between runs, so a command that keeps returning an
	// almost expired token is not run in a hot loop.
	DefaultRetryInterval = 30 * time.Second
	// DefaultExecTimeout bounds one exec: run; a secret store that hangs
	// must not hang the agent.
	DefaultExecTimeout = 30 * time.Second
	// DefaultExpiringWithin is when CREDENTIAL_EXPIRING is logged.
	DefaultExpiringWithin = time.Hour
	// debounce coalesces the burst of events of one update (an editor's
	// temp file, write and rename; Kubernetes' four-step swap).
	debounce = 100 * time.Millisecond
	// maxFileSize bounds what is read from a file or a command: a token
	// plus a little whitespace.
	maxFileSize = token.MaxTokenSize + 1024
)

// Config configures a Source. Only Spec is required.
type Config struct {
	// Spec is where the token comes from; see ParseSpec.
	Spec Spec
	// Policy is what every new value must satisfy.
	Policy Policy
	// Logger receives the CREDENTIAL_* events. Nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Getenv reads env: sources; nil means os.Getenv.
	Getenv func(string) string
	// Force reads a file inside a git work tree or named like .env,
	// which is otherwise refused with ErrUnsafePath.
	Force bool
	// PollInterval is the file: safety-net poll. Zero means
	// DefaultPollInterval; negative disables polling.
	PollInterval time.Duration
	// NoWatch disables fsnotify, leaving the poll (and Reload).
	NoWatch bool
	// Refresh, RefreshBefore, RetryInterval and ExecTimeout tune exec:
	// and vault: sources (ExecTimeout bounds one Vault request); zero
	// means the Default* constant.
	Refresh, RefreshBefore, RetryInterval, ExecTimeout time.Duration
	// ExpiringWithin is when CREDENTIAL_EXPIRING is logged; zero means
	// DefaultExpiringWithin.
	ExpiringWithin time.Duration
	// OnChange, if set, is called after each new value is stored, from the
	// goroutine that loaded it.
	OnChange func(*Credential)
	// Vault reads vault: sources; nil means a client configured from the
	// environment through Getenv (VAULT_ADDR, VAULT_TOKEN, ...).
	Vault *vault.Client
}

// Source holds the current upstream token and replaces it when its origin
// changes and the new value passes the Policy. Current never blocks. A
// Source is safe for concurrent use.
type Source struct {
	cfg    Config
	log    *slog.Logger
	origin string
	cur    atomic.Pointer[Credential]

	mu         sync.Mutex // serialises loads and guards the fields below
	lastHash   [sha256.Size]byte
	haveHash   bool
	lastReject string
	warnedFP   string // fingerprint CREDENTIAL_EXPIRING was logged for
	expiredFP  string // fingerprint logged as expired
	lastErr    error  // last exec: or vault: failure, for the retry schedule
	// suspect is the hash of a bad value seen once by a watch or poll:
	// it is rejected only when read again unchanged, because a file being
	// rewritten in place (echo "$T" > file) is empty or partial for a
	// moment. recheck asks Run for that second read.
	suspect    [sha256.Size]byte
	hasSuspect bool
	recheck    chan struct{}
}

// New reads the first value and returns a Source holding it. It fails when
// there is no valid first value: there is nothing to fall back on. Call
// Run to keep the value fresh.
func New(ctx context.Context, cfg Config) (*Source, error) {
	switch cfg.Spec.Kind {
	case KindFile, KindEnv, KindExec, KindVault:
	default:
		return nil, fmt.Errorf("%w: no source kind", ErrSpec)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if cfg.Spec.Kind == KindFile {
		abs, err := filepath.Abs(cfg.Spec.Path)
		if err != nil {
			return nil, fmt.Errorf("credential file: %w", err)
		}
		cfg.Spec.Path = abs
	}
	setDefault(&cfg.PollInterval, DefaultPollInterval)
	setDefault(&cfg.Refresh, DefaultRefresh)
	setDefault(&cfg.RefreshBefore, DefaultRefreshBefore)
	setDefault(&cfg.RetryInterval, DefaultRetryInterval)
	setDefault(&cfg.ExecTimeout, DefaultExecTimeout)
	setDefault(&cfg.ExpiringWithin, DefaultExpiringWithin)
	if cfg.Spec.Kind == KindVault && cfg.Vault == nil {
		c, err := vault.FromEnv(cfg.Getenv)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.Spec, err)
		}
		cfg.Vault = c
	}
	s := &Source{cfg: cfg, log: cfg.Logger, origin: cfg.Spec.String(), recheck: make(chan struct{}, 1)}
	if _, err := s.load(ctx, "start", true); err != nil {
		return nil, err
	}
	return s, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d == 0 {
		*d = v
	}
}

// Current returns the current credential. It never blocks and is never
// nil for a Source returned by New.
func (s *Source) Current() *Credential { return s.cur.Load() }

// Token returns the current token value.
func (s *Source) Token() string { return s.cur.Load().value }

// Spec returns the source's spec (a file path made absolute).
func (s *Source) Spec() Spec { return s.cfg.Spec }

// Reload reads the source now, even when the file looks unchanged, and
// re-runs an exec: command. It returns the credential in use afterwards,
// and the reason when the new value was refused (the old one stays).
// `voicetoken proxy` calls it on SIGHUP.
func (s *Source) Reload(ctx context.Context) (*Credential, error) {
	return s.load(ctx, "reload", true)
}

// Run keeps the value fresh until ctx is done: for file: it watches the
// directory and polls; for exec: it re-runs the command on schedule, and
// for vault: re-reads the secret on the same schedule, and renews the
// Vault token when it is the source's own (see keepVaultToken); for
// all kinds it logs CREDENTIAL_EXPIRING as exp approaches. It returns
// ctx.Err().
func (s *Source) Run(ctx context.Context) error {
	var (
		events  <-chan fsnotify.Event
		errs    <-chan error
		poll    <-chan time.Time
		execC   <-chan time.Time
		settle  <-chan time.Time
		expiryT = time.NewTicker(s.expiryCheckInterval())
	)
	defer expiryT.Stop()
	switch s.cfg.Spec.Kind {
	case KindFile:
		if !s.cfg.NoWatch {
			w, err := s.watch()
			if err != nil {
				s.log.LogAttrs(ctx, slog.LevelWarn, "credential watch failed; polling only",
					slog.String("event", "CREDENTIAL_WATCH_FAILED"), slog.String("source", s.origin),
					slog.String("error", err.Error()))
			} else {
				defer w.Close()
				events, errs = w.Events, w.Errors
				// The file may have changed between New's read and the
				// watch: read once more (skipped by hash if unchanged).
				s.load(ctx, "watch", false)
			}
		}
		if s.cfg.PollInterval > 0 {
			t := time.NewTicker(s.cfg.PollInterval)
			defer t.Stop()
			poll = t.C
		}
	case KindExec, KindVault:
		if s.cfg.Spec.Kind == KindVault && s.cfg.Vault.OwnsToken() {
			renewing := make(chan struct{})
			go func() { defer close(renewing); s.keepVaultToken(ctx) }()
			defer func() { <-renewing }() // ctx is done: it returns at once
		}
		t := time.NewTimer(s.nextRefresh())
		defer t.Stop()
		execC = t.C
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-execC:
				s.load(ctx, "refresh", true)
				t.Reset(s.nextRefresh())
			case <-expiryT.C:
				s.checkExpiry(ctx)
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			_ = ev // any change in the directory may be ours: ..data swaps, renames
			if settle == nil {
				settle = time.After(debounce)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			s.log.LogAttrs(ctx, slog.LevelWarn, "credential watch error",
				slog.String("event", "CREDENTIAL_WATCH_FAILED"), slog.String("source", s.origin),
				slog.String("error", err.Error()))
		case <-settle:
			settle = nil
			s.load(ctx, "watch", false)
		case <-s.recheck:
			if settle == nil {
				settle = time.After(debounce)
			}
		case <-poll:
			s.load(ctx, "poll", false)
		case <-expiryT.C:
			s.checkExpiry(ctx)
		}
	}
}

// watch watches the file's directory, not the file: an editor's rename
// and Kubernetes' ..data swap replace or bypass the file's inode, and a
// watch on it would go silent after the first update. When the path is a
// symlink into another directory (/etc/podium/token ->
// /srv/secrets/podium_token), where rotate replaces the file, that
// directory is watched too.
func (s *Source) watch() (*fsnotify.Watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(s.cfg.Spec.Path)
	if err := w.Add(dir); err != nil {
		w.Close()
		return nil, err
	}
	if target, err := filepath.EvalSymlinks(s.cfg.Spec.Path); err == nil && filepath.Dir(target) != dir {
		_ = w.Add(filepath.Dir(target)) // best effort: the poll still catches a change there
	}
	return w, nil
}

func (s *Source) expiryCheckInterval() time.Duration {
	return min(time.Minute, max(s.cfg.ExpiringWithin/8, 100*time.Millisecond))
}

// nextRefresh is the delay before the next exec: run or vault: read: the
// refresh interval, or earlier so the token is replaced RefreshBefore its
// expiry, but never sooner than RetryInterval.
func (s *Source) nextRefresh() time.Duration {
	s.mu.Lock()
	failed := s.lastErr != nil
	s.mu.Unlock()
	d := s.cfg.Refresh
	if failed {
		d = min(d, s.cfg.RetryInterval)
	}
	if c := s.Current(); c != nil && !c.expiresAt.IsZero() {
		d = min(d, c.expiresAt.Add(-s.cfg.RefreshBefore).Sub(s.cfg.Now()))
	}
	return max(d, s.cfg.RetryInterval)
}

// load reads, validates and, when the value is new and valid, stores it.
// With force false an unchanged file is skipped by its hash.
func (s *Source) load(ctx context.Context, why string, force bool) (*Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	raw, warning, err := s.read(ctx)
	s.lastErr = err
	if err != nil {
		s.haveHash = false
		return s.reject(ctx, why, "", err)
	}
	sum := sha256.Sum256(raw)
	if !force && s.haveHash && sum == s.lastHash {
		return s.Current(), nil
	}
	s.lastHash, s.haveHash = sum, true
	now := s.cfg.Now()
	c, err := s.cfg.Policy.Check(string(raw), now)
	if err != nil && !force && s.cfg.Spec.Kind == KindFile && !(s.hasSuspect && s.suspect == sum) {
		s.suspect, s.hasSuspect, s.haveHash = sum, true, false
		select {
		case s.recheck <- struct{}{}:
		default:
		}
		return s.Current(), fmt.Errorf("%s: %w (will re-read once before rejecting)", s.origin, err)
	}
	s.hasSuspect = false
	if err != nil {
		fp := ""
		if t := strings.TrimSpace(string(raw)); t != "" {
			fp = token.Fingerprint(t)
		}
		return s.reject(ctx, why, fp, err)
	}
	s.lastReject = ""
	old := s.Current()
	if old != nil && old.value == c.value {
		if force {
			s.log.LogAttrs(ctx, slog.LevelInfo, "credential unchanged",
				slog.String("event", "CREDENTIAL_UNCHANGED"), slog.String("source", s.origin),
				slog.String("trigger", why), slog.String("fingerprint", old.fingerprint))
		}
		return old, nil
	}
	c.loadedAt, c.origin = now, s.origin
	s.cur.Store(c)
	attrs := []slog.Attr{
		slog.String("event", "CREDENTIAL_LOADED"), slog.String("source", s.origin),
		slog.String("trigger", why), slog.String("fingerprint", c.fingerprint),
		slog.Time("expires_at", c.expiresAt), slog.Int64("expires_in", int64(c.ExpiresIn(now)/time.Second)),
	}
	if old != nil {
		attrs = append(attrs, slog.String("previous_fingerprint", old.fingerprint))
	}
	if warning != "" {
		attrs = append(attrs, slog.String("warning", warning))
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "credential loaded", attrs...)
	if s.cfg.OnChange != nil {
		s.cfg.OnChange(c)
	}
	s.checkExpiryLocked(ctx)
	return c, nil
}

// reject logs CREDENTIAL_REJECTED (once per distinct reason, so a bad file
// that stays bad is not logged at every poll) and keeps the old value.
func (s *Source) reject(ctx context.Context, why, fp string, err error) (*Credential, error) {
	err = fmt.Errorf("%s: %w", s.origin, err)
	level := slog.LevelWarn
	if msg := err.Error(); msg == s.lastReject && !(why == "reload" || why == "start") {
		level = slog.LevelDebug
	} else {
		s.lastReject = msg
	}
	attrs := []slog.Attr{
		slog.String("event", "CREDENTIAL_REJECTED"), slog.String("source", s.origin),
		slog.String("trigger", why), slog.String("reason", err.Error()),
	}
	if fp != "" {
		attrs = append(attrs, slog.String("fingerprint", fp))
	}
	old := s.Current()
	if old != nil {
		attrs = append(attrs, slog.String("kept_fingerprint", old.fingerprint))
	}
	s.log.LogAttrs(ctx, level, "credential rejected; keeping the previous one", attrs...)
	return old, err
}

// read fetches the raw value and, for a file, a permissions warning.
func (s *Source) read(ctx context.Context) ([]byte, string, error) {
	switch s.cfg.Spec.Kind {
	case KindFile:
		if !s.cfg.Force {
			if err := CheckPath(s.cfg.Spec.Path); err != nil {
				return nil, "", err
			}
		}
		b, err := readFile(s.cfg.Spec.Path)
		if err != nil {
			return nil, "", err
		}
		return b, keys.CheckFileMode(s.cfg.Spec.Path), nil
	case KindEnv:
		v := s.cfg.Getenv(s.cfg.Spec.Var)
		if v == "" {
			return nil, "", fmt.Errorf("%w: variable %s is unset or empty", ErrEmpty, s.cfg.Spec.Var)
		}
		return []byte(v), "", nil
	case KindExec:
		b, err := runCommand(ctx, s.cfg.Spec.Argv, s.cfg.ExecTimeout)
		return b, "", err
	case KindVault:
		b, err := readVault(ctx, s.cfg.Vault, s.cfg.Spec.Vault, s.cfg.ExecTimeout)
		return b, "", err
	}
	return nil, "", ErrSpec
}

// readFile reads at most maxFileSize bytes of a regular file, following
// symlinks (Kubernetes mounts are symlinks into ..data).
func readFile(path string) ([]byte, error) {
	// Refuse what is not a regular file before opening it: opening a FIFO
	// blocks until a writer appears, which would hang every load (and
	// Reload, and Run) behind s.mu. The check after opening covers a swap
	// in between.
	if fi, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s", ErrNotRegular, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s", ErrNotRegular, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", token.ErrTooLarge, path, maxFileSize)
	}
	return b, nil
}

// CheckPath returns an error wrapping ErrUnsafePath when path is named
// like a dotenv file or lies inside a git work tree, with one line saying
// why. The rotation SOP forbids tokens in files that can be committed.
func CheckPath(path string) error {
	base := filepath.Base(path)
	if base == ".env" || strings.HasPrefix(base, ".env.") || strings.HasSuffix(base, ".env") {
		return fmt.Errorf("%w: %s is named like a dotenv file, which projects keep next to their code and commit by mistake; use a file outside the repository such as /run/secrets/podium_token (or --force)", ErrUnsafePath, path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("credential file: %w", err)
	}
	dirs := []string{filepath.Dir(abs)}
	if real, err := filepath.EvalSymlinks(abs); err == nil && filepath.Dir(real) != dirs[0] {
		dirs = append(dirs, filepath.Dir(real))
	}
	for _, d := range dirs {
		if root, ok := gitWorkTree(d); ok {
			return fmt.Errorf("%w: %s is inside the git work tree %s, where one 'git add' publishes it; keep tokens outside repositories (or --force)", ErrUnsafePath, path, root)
		}
	}
	return nil
}

// gitWorkTree walks up from dir looking for a .git directory or file.
func gitWorkTree(dir string) (string, bool) {
	for {
		if _, err := os.Lstat(filepath.Join(dir, ".git")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// checkExpiry logs CREDENTIAL_EXPIRING once per credential when it enters
// the ExpiringWithin window, and once more when it has expired.
func (s *Source) checkExpiry(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkExpiryLocked(ctx)
}

func (s *Source) checkExpiryLocked(ctx context.Context) {
	c := s.Current()
	if c == nil || c.expiresAt.IsZero() {
		return
	}
	left := c.ExpiresIn(s.cfg.Now())
	switch {
	case left <= 0 && s.expiredFP != c.fingerprint:
		s.expiredFP, s.warnedFP = c.fingerprint, c.fingerprint
		s.log.LogAttrs(ctx, slog.LevelError, "credential has expired; rotate it",
			slog.String("event", "CREDENTIAL_EXPIRING"), slog.String("source", s.origin),
			slog.String("fingerprint", c.fingerprint), slog.Int64("expires_in", int64(left/time.Second)),
			slog.Bool("expired", true))
	case left > 0 && left < s.cfg.ExpiringWithin && s.warnedFP != c.fingerprint:
		s.warnedFP = c.fingerprint
		s.log.LogAttrs(ctx, slog.LevelWarn, "credential expires soon; rotate it",
			slog.String("event", "CREDENTIAL_EXPIRING"), slog.String("source", s.origin),
			slog.String("fingerprint", c.fingerprint), slog.Int64("expires_in", int64(left/time.Second)),
			slog.Bool("expired", false))
	}
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
