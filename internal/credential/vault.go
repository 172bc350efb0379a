package credential

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"

	"voicetoken/internal/token"
	"voicetoken/internal/vault"
)

// vaultSource is vault:MOUNT/PATH#FIELD: one field of a Vault (or
// OpenBao) KV secret, read over Vault's HTTP API (package vault) on the
// refresh schedule. When the Vault token is its own (VAULT_TOKEN) it
// renews it while the Source runs (Keep).
type vaultSource struct {
	client *vault.Client
	ref    vault.Ref
	cfg    Config // timeouts, retry interval, logger, clock, RenewTicker
}

var (
	_ Writer = (*vaultSource)(nil)
	_ Keeper = (*vaultSource)(nil)
)

func parseVault(rest string) (Spec, error) {
	ref, err := vault.ParseRef(rest)
	if err != nil {
		return Spec{}, fmt.Errorf("%w: vault: %w", ErrSpec, err)
	}
	return Spec{Kind: KindVault, Vault: ref}, nil
}

// openVault uses cfg.Vault, or a client configured from the environment
// through cfg.Getenv (VAULT_ADDR, VAULT_TOKEN, ...).
func openVault(s Spec, cfg Config) (Reader, error) {
	c := cfg.Vault
	if c == nil {
		var err error
		if c, err = vault.FromEnv(cfg.Getenv); err != nil {
			return nil, fmt.Errorf("%s: %w", s, err)
		}
	}
	return &vaultSource{client: c, ref: s.Vault, cfg: cfg}, nil
}

func (v *vaultSource) String() string     { return "vault:" + v.ref.String() }
func (v *vaultSource) Schedule() Schedule { return Refresh }

func (v *vaultSource) Read(ctx context.Context) ([]byte, string, error) {
	b, err := readVault(ctx, v.client, v.ref, v.cfg.ExecTimeout)
	return b, "", err
}

// Write is RotateVault on this secret.
func (v *vaultSource) Write(ctx context.Context, opts RotateOptions) (*RotateResult, error) {
	return RotateVault(ctx, v.client, v.ref, opts)
}

// readVault reads the token in a vault: source's field.
func readVault(ctx context.Context, c *vault.Client, ref vault.Ref, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v, version, err := c.ReadField(ctx, ref)
	if err != nil {
		return nil, err
	}
	if len(v) > maxFileSize {
		return nil, fmt.Errorf("%w: field %q of version %d is %d bytes, over %d", vault.ErrField, ref.Field, version, len(v), maxFileSize)
	}
	return []byte(v), nil
}

// RotateVault validates opts.Token and writes it into the field ref names
// as a new version of the secret, keeping the secret's other fields. The
// write is check-and-set on the version read: when someone else wrote
// the secret in between, nothing is written and the error wraps
// vault.ErrChanged. Vault keeps the previous version (up to the mount's
// max_versions), which is the backup: opts.Backups and opts.Force do not
// apply. res.Path is the spec ("vault:secret/podium#token"), res.Backup
// names the version kept.
func RotateVault(ctx context.Context, c *vault.Client, ref vault.Ref, opts RotateOptions) (*RotateResult, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	res := &RotateResult{Path: Spec{Kind: KindVault, Vault: ref}.String()}
	nc, err := opts.Policy.Check(opts.Token, opts.Now())
	if err != nil {
		return res, fmt.Errorf("new token: %w", err)
	}
	res.New = nc
	// cas is the version the write must find current: 0 creates the
	// secret only if there is none; after a deleted current version it is
	// that version's number.
	cas, kept, data := 0, 0, map[string]any{}
	cur, err := c.Read(ctx, ref)
	switch {
	case errors.Is(err, vault.ErrNotFound):
		if cur != nil {
			cas = cur.Version
		}
	case err != nil:
		return res, fmt.Errorf("current token: %w", err)
	default:
		cas, kept, data = cur.Version, cur.Version, maps.Clone(cur.Data)
		if old, ferr := cur.Field(ref); ferr == nil {
			res.Old, res.OldErr = Inspect(old)
		} else {
			res.OldErr = ferr
		}
	}
	if res.Old != nil && res.Old.value == nc.value {
		res.Unchanged = true
		return res, nil
	}
	if opts.DryRun {
		return res, nil
	}
	data[ref.Field] = nc.value
	nv, err := c.Write(ctx, ref, data, cas)
	if err != nil {
		return res, fmt.Errorf("write %s: %w", res.Path, err)
	}
	res.Version = nv
	if kept > 0 {
		res.Backup = fmt.Sprintf("version %d, kept by Vault (vault kv rollback -mount=%s -version=%d %s)", kept, ref.Mount, kept, ref.Path)
	}
	return res, nil
}

// renewAt is how much of a Vault token's TTL passes before it is renewed:
// two thirds, as Vault's own LifetimeWatcher does.
const renewAt = 2.0 / 3

// nextRenewal decides, from what Vault said at time at of a token that was
// to expire at prev (zero at the start), when to renew it next, or why
// renewing is over: it never expires, it is not renewable, or a renewal
// no longer extended it (its max TTL is reached).
func nextRenewal(info vault.TokenInfo, prev, at time.Time) (next time.Time, over string) {
	switch {
	case !info.Expires():
		return time.Time{}, "it never expires"
	case !info.Renewable:
		return time.Time{}, "it is not renewable"
	case !prev.IsZero() && !at.Add(info.TTL).After(prev.Add(time.Second)):
		return time.Time{}, "it has reached its max TTL"
	}
	return at.Add(time.Duration(float64(info.TTL) * renewAt)), ""
}

// Keep renews the Vault token a vault: source reads with, when
// it is the source's own (VAULT_TOKEN; a token file is vault login's or
// Vault Agent's to keep), at two thirds of its TTL, until ctx ends. When
// the token cannot be extended it says so once (VAULT_TOKEN_EXPIRING),
// with the time left: reads fail after that, and the credential in use
// stays until its own expiry.
//
// With Config.RenewTicker set, each tick stands for "the time has come"
// (to renew, or to look the token up again) and Done follows the work.
func (v *vaultSource) Keep(ctx context.Context) {
	if !v.client.OwnsToken() {
		return
	}
	w := &renewer{vaultSource: v, log: v.cfg.Logger, origin: v.String()}
	if v.cfg.RenewTicker != nil {
		w.after = func(time.Duration) <-chan time.Time { return v.cfg.RenewTicker.Chan() }
		w.done = v.cfg.RenewTicker.Done
	} else {
		w.after = time.After
		w.done = func() {}
	}
	w.keep(ctx)
}

// renewer is one run of Keep: the waits are w.after, and w.done follows
// the work each wait led to. info is what Vault last said of the token,
// expires when it ends, next when to renew it, over why renewing is over
// ("" while it goes on).
type renewer struct {
	*vaultSource
	log    *slog.Logger
	origin string
	after  func(time.Duration) <-chan time.Time
	done   func()
	waited bool

	info    vault.TokenInfo
	expires time.Time
	next    time.Time
	over    string
}

// wait says the work of the previous wait is done, then waits d (or for
// the injected tick); false when ctx ended first.
func (s *renewer) wait(ctx context.Context, d time.Duration) bool {
	if s.waited {
		s.done()
	}
	select {
	case <-ctx.Done():
		return false
	case <-s.after(d):
		s.waited = true
		return true
	}
}

// keep looks the token up, then renews it each time its schedule says,
// until renewing is over (then it warns of the expiry) or fails for good.
func (s *renewer) keep(ctx context.Context) {
	defer func() {
		if s.waited {
			s.done() // the last tick's work ended the renewal
		}
	}()
	if !s.lookup(ctx) {
		return
	}
	for s.over == "" {
		if !s.wait(ctx, s.next.Sub(s.cfg.Now())) || !s.renew(ctx) {
			return
		}
	}
	s.warnExpiring(ctx)
}

// call runs one request to Vault with the request timeout.
func (s *renewer) call(ctx context.Context, f func(context.Context) (vault.TokenInfo, error)) (vault.TokenInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ExecTimeout)
	defer cancel()
	return f(ctx)
}

// lookup asks Vault about the token until it answers, logs VAULT_TOKEN
// and plans the first renewal; false when ctx ended or Vault denied the
// lookup (expired, revoked or without lookup-self: asking again will not
// help).
func (s *renewer) lookup(ctx context.Context) bool {
	for {
		info, err := s.call(ctx, s.client.LookupSelf)
		if err == nil {
			s.info = info
			break
		}
		if ctx.Err() != nil {
			return false
		}
		s.log.LogAttrs(ctx, slog.LevelWarn, "cannot look up the Vault token to renew it",
			slog.String("event", "VAULT_TOKEN_RENEW_FAILED"), slog.String("source", s.origin), slog.String("error", err.Error()))
		if errors.Is(err, vault.ErrDenied) {
			return false
		}
		if !s.wait(ctx, s.cfg.RetryInterval) { // Vault is down or sealed: ask again
			return false
		}
	}
	at := s.cfg.Now()
	s.next, s.over = nextRenewal(s.info, time.Time{}, at)
	s.expires = at.Add(s.info.TTL)
	s.log.LogAttrs(ctx, slog.LevelInfo, "vault token",
		slog.String("event", "VAULT_TOKEN"), slog.String("source", s.origin),
		slog.Int64("ttl", int64(s.info.TTL/time.Second)), slog.Bool("renewable", s.info.Renewable),
		slog.Bool("renewing", s.over == ""), slog.String("policies", strings.Join(s.info.Policies, ",")))
	return true
}

// renew renews the token once and plans the next renewal: soon again
// after a failure, while the token lives. False when renewing is over for
// good: ctx ended, or Vault no longer knows the token (only a new token
// helps).
func (s *renewer) renew(ctx context.Context) bool {
	renewed, err := s.call(ctx, s.client.RenewSelf)
	now := s.cfg.Now()
	if ctx.Err() != nil {
		return false
	}
	if err != nil {
		left := s.expires.Sub(now)
		s.log.LogAttrs(ctx, slog.LevelWarn, "renewing the Vault token failed",
			slog.String("event", "VAULT_TOKEN_RENEW_FAILED"), slog.String("source", s.origin),
			slog.String("error", err.Error()), slog.Int64("expires_in", int64(left/time.Second)))
		if errors.Is(err, vault.ErrDenied) || left <= 0 {
			return false
		}
		s.next = now.Add(min(s.cfg.RetryInterval, left/3))
		return true
	}
	s.next, s.over = nextRenewal(renewed, s.expires, now)
	s.info, s.expires = renewed, now.Add(renewed.TTL)
	if s.over == "" {
		s.log.LogAttrs(ctx, slog.LevelInfo, "renewed the Vault token",
			slog.String("event", "VAULT_TOKEN_RENEWED"), slog.String("source", s.origin),
			slog.Int64("ttl", int64(renewed.TTL/time.Second)))
	}
	return true
}

// warnExpiring says once, with the time left, that a token which expires
// can no longer be renewed (VAULT_TOKEN_EXPIRING).
func (s *renewer) warnExpiring(ctx context.Context) {
	if !s.info.Expires() {
		return
	}
	left := s.expires.Sub(s.cfg.Now())
	s.log.LogAttrs(ctx, slog.LevelWarn, fmt.Sprintf("the Vault token expires in %s and cannot be renewed (%s): give voicetoken a new VAULT_TOKEN before then, or let Vault Agent keep ~/.vault-token", token.HumanDuration(left), s.over),
		slog.String("event", "VAULT_TOKEN_EXPIRING"), slog.String("source", s.origin),
		slog.Int64("expires_in", int64(left/time.Second)), slog.String("reason", s.over))
}
