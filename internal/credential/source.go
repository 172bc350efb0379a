package credential

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	// debounceEmpty is the debounce while there is no value at all.
	debounceEmpty = 20 * time.Millisecond
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
	// OnChange, if set, is called after each new value is stored (not
	// for the value New reads), with the one it replaced (nil when there
	// was none), from the goroutine that loaded it: it must not block.
	OnChange func(old, cur *Credential)
	// Vault reads vault: sources; nil means a client configured from the
	// environment through Getenv (VAULT_ADDR, VAULT_TOKEN, ...).
	Vault *vault.Client
	// Ticker, when set, replaces the file: poll and the exec: and vault:
	// refresh timer: each tick is one poll or refresh, and Done follows it
	// (credentialtest.Ticker). Nil means real time.
	Ticker Ticker
	// RenewTicker likewise replaces the waits of a vault: source's
	// Vault token renewal.
	RenewTicker Ticker
	// StartEmpty makes New succeed without a valid first value: Current
	// is nil until a valid value arrives, and Missing says why there is
	// none. `voicetoken proxy` starts this way, answering 503 meanwhile.
	StartEmpty bool
	// Accept, when set, is the last word on a new value that passed the
	// Policy, before it replaces the current one: an error refuses it
	// (CREDENTIAL_REJECTED with the error as reason) and the current one
	// stays. It is not asked about the value New reads. Probe is one.
	Accept func(context.Context, *Credential) error
}

// Source holds the current upstream token and replaces it when its origin
// changes and the new value passes the Policy. Current never blocks. A
// Source is safe for concurrent use.
type Source struct {
	cfg     Config
	reader  Reader
	log     *slog.Logger
	origin  string
	cur     atomic.Pointer[Credential]
	missing atomic.Pointer[string] // why there is no value yet, while cur is nil

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

// New opens the source (see Open), reads the first value and returns a
// Source holding it. Without StartEmpty it fails when there is no valid
// first value: there is nothing to fall back on. Call Run to keep the
// value fresh.
func New(ctx context.Context, cfg Config) (*Source, error) {
	cfg = cfg.withDefaults()
	r, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	if f, ok := r.(*fileSource); ok {
		cfg.Spec.Path = f.path // made absolute
	}
	s := &Source{cfg: cfg, reader: r, log: cfg.Logger, origin: r.String(), recheck: make(chan struct{}, 1)}
	if _, err := s.load(ctx, "start", true); err != nil {
		if !cfg.StartEmpty {
			return nil, err
		}
		s.log.LogAttrs(ctx, slog.LevelError, "no valid credential yet; waiting for one",
			slog.String("event", "CREDENTIAL_MISSING"), slog.String("source", s.origin),
			slog.String("reason", err.Error()))
	}
	return s, nil
}

// Current returns the current credential without blocking: never nil for
// a Source returned by New, except with StartEmpty until a first valid
// value arrives.
func (s *Source) Current() *Credential { return s.cur.Load() }

// Token returns the current token value, or "" when there is none.
func (s *Source) Token() string {
	if c := s.cur.Load(); c != nil {
		return c.value
	}
	return ""
}

// Missing returns why there is no credential (the last refusal, e.g.
// "file:/run/secrets/podium_token: token has expired: expired 2h ago"),
// or "" once there is one.
func (s *Source) Missing() string {
	if s.cur.Load() != nil {
		return ""
	}
	if p := s.missing.Load(); p != nil {
		return *p
	}
	return "not read yet"
}

// Spec returns the source's spec (a file path made absolute).
func (s *Source) Spec() Spec { return s.cfg.Spec }

// Reload reads the source now, even when the file looks unchanged, and
// re-runs an exec: command. It returns the credential in use afterwards,
// and the reason when the new value was refused (the old one stays).
// `voicetoken proxy` calls it on SIGHUP.
func (s *Source) Reload(ctx context.Context) (*Credential, error) {
	return s.load(ctx, "reload", true)
}

// Run keeps the value fresh until ctx is done: it watches a Watcher
// (file:), re-reads on the Reader's Schedule (a file's poll; an exec:
// command's or a vault: secret's refresh, earlier as the token nears
// expiry), runs a Keeper's own work (a vault: source renews its Vault
// token), and for all kinds logs CREDENTIAL_EXPIRING as exp approaches.
// It returns ctx.Err().
func (s *Source) Run(ctx context.Context) error {
	expiryT := time.NewTicker(s.expiryCheckInterval())
	defer expiryT.Stop()
	if k, ok := s.reader.(Keeper); ok {
		kept := make(chan struct{})
		go func() { defer close(kept); k.Keep(ctx) }()
		defer func() { <-kept }() // ctx is done: it returns at once
	}
	changed, stopWatch := s.watch(ctx)
	defer stopWatch()
	var tickC, settle <-chan time.Time
	sched := s.timer()
	if sched != nil {
		defer sched.stop()
		tickC = sched.C()
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
			settle = s.settleAfter(settle)
		case <-s.recheck:
			settle = s.settleAfter(settle)
		case <-settle:
			settle = nil
			s.load(ctx, "watch", false)
		case <-tickC:
			s.onTick(ctx, sched)
		case <-expiryT.C:
			s.checkExpiry(ctx)
		}
	}
}

// watch starts watching a Watcher (unless NoWatch) and returns a channel
// that receives after changes, and the function that stops the watch. It
// returns a nil channel when there is nothing to watch or the watch
// failed (logged: the poll remains).
func (s *Source) watch(ctx context.Context) (<-chan struct{}, func()) {
	w, ok := s.reader.(Watcher)
	if !ok || s.cfg.NoWatch {
		return nil, func() {}
	}
	changed := make(chan struct{}, 1)
	stop, err := w.Watch(func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}, func(err error) { s.watchFailed(ctx, "credential watch error", err) })
	if err != nil {
		s.watchFailed(ctx, "credential watch failed; polling only", err)
		return nil, func() {}
	}
	// The file may have changed between New's read and the watch: read
	// once more (skipped by hash if unchanged).
	s.load(ctx, "watch", false)
	return changed, stop
}

// timer returns the timer of the Reader's Schedule: the poll (nil when
// polling is off) or the refresh; nil for a Reader read only once.
func (s *Source) timer() *schedule {
	switch s.reader.Schedule() {
	case Poll:
		if s.cfg.Ticker != nil || s.cfg.PollInterval > 0 {
			return newSchedule(s.cfg.Ticker, s.cfg.PollInterval)
		}
	case Refresh:
		return newSchedule(s.cfg.Ticker, s.nextRefresh())
	}
	return nil
}

// onTick does the work of one tick of the schedule, a poll or a refresh,
// and arms the next.
func (s *Source) onTick(ctx context.Context, t *schedule) {
	if s.reader.Schedule() == Poll {
		s.load(ctx, "poll", false)
		t.next(s.cfg.PollInterval)
		return
	}
	s.load(ctx, "refresh", true)
	t.next(s.nextRefresh())
}

// settleAfter returns the timer that ends a burst of events: settle when
// one is already running, else a new one.
func (s *Source) settleAfter(settle <-chan time.Time) <-chan time.Time {
	if settle != nil {
		return settle
	}
	return time.After(s.debounce())
}

// debounce is how long a burst of events settles before the read. With no
// value yet, every request is answered 503 meanwhile: read sooner (a
// partial file is re-read once anyway, see suspect).
func (s *Source) debounce() time.Duration {
	if s.Current() == nil {
		return debounceEmpty
	}
	return debounce
}

func (s *Source) watchFailed(ctx context.Context, msg string, err error) {
	s.log.LogAttrs(ctx, slog.LevelWarn, msg,
		slog.String("event", "CREDENTIAL_WATCH_FAILED"), slog.String("source", s.origin),
		slog.String("error", err.Error()))
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
	raw, warning, err := s.reader.Read(ctx)
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
	if err != nil && !force && s.rereadFirst(sum) {
		return s.Current(), fmt.Errorf("%s: %w (will re-read once before rejecting)", s.origin, err)
	}
	s.hasSuspect = false
	if err != nil {
		return s.reject(ctx, why, fingerprintOf(raw), err)
	}
	old := s.Current()
	if old != nil && old.value == c.value {
		s.lastReject = ""
		if force {
			s.log.LogAttrs(ctx, slog.LevelInfo, "credential unchanged",
				slog.String("event", "CREDENTIAL_UNCHANGED"), slog.String("source", s.origin),
				slog.String("trigger", why), slog.String("fingerprint", old.fingerprint))
		}
		return old, nil
	}
	if s.cfg.Accept != nil && why != "start" {
		if err := s.cfg.Accept(ctx, c); err != nil {
			return s.reject(ctx, why, c.fingerprint, err)
		}
	}
	s.store(ctx, why, c, old, now, warning)
	return c, nil
}

// rereadFirst decides whether a bad value whose hash is sum is re-read
// once before it is rejected, and if so asks Run for that read: a polled
// file seen bad for the first time may be in the middle of an in-place
// rewrite.
func (s *Source) rereadFirst(sum [sha256.Size]byte) bool {
	if s.reader.Schedule() != Poll || (s.hasSuspect && s.suspect == sum) {
		return false
	}
	s.suspect, s.hasSuspect, s.haveHash = sum, true, false
	select {
	case s.recheck <- struct{}{}:
	default:
	}
	return true
}

// fingerprintOf is the fingerprint of a refused value, "" when it is
// blank.
func fingerprintOf(raw []byte) string {
	if t := strings.TrimSpace(string(raw)); t != "" {
		return token.Fingerprint(t)
	}
	return ""
}

// store makes c, read at now, the current value in place of old, logs
// CREDENTIAL_LOADED and tells OnChange.
func (s *Source) store(ctx context.Context, why string, c, old *Credential, now time.Time, warning string) {
	s.lastReject = ""
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
	if s.cfg.OnChange != nil && why != "start" {
		s.cfg.OnChange(old, c)
	}
	s.checkExpiryLocked(ctx)
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
	msg := "credential rejected; keeping the previous one"
	if old != nil {
		attrs = append(attrs, slog.String("kept_fingerprint", old.fingerprint))
	} else {
		msg = "credential rejected; there is no previous one to keep"
		why := err.Error()
		s.missing.Store(&why)
	}
	s.log.LogAttrs(ctx, level, msg, attrs...)
	return old, err
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
