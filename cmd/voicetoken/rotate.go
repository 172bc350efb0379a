package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"os"
	"os/exec"
	"time"

	"voicetoken/internal/credential"
	"voicetoken/internal/probe"
	"voicetoken/internal/token"
	"voicetoken/internal/vault"
)

const rotateUsage = `Usage: voicetoken rotate --to file:PATH|vault:MOUNT/PATH#FIELD [flags] < NEW_TOKEN

Replaces an agent's upstream token (e.g. the Podium JWT) in its file
or in a Vault (or OpenBao) KV v2 secret.
The new token is read from stdin, never from the command line, which
any user can see in ps. It is validated first (JWT shape, exp in the
future, --iss/--aud); a bad token changes nothing. Then the current
token is copied to NAME.bak and the new one is written atomically:
temporary file in the same directory, fsync, rename, fsync of the
directory. The new file and NAME.bak keep the old file's owner, group
and mode (run as root, the agent's user can still read it); a new file
is 0600. A crash at any point leaves the old token or the new one, whole.

Refused unless --force (exit 2, nothing written): a symlink that sits in
a directory others can write (1777 /tmp, group- or world-writable, owned
by another user), or a file another user owns in a world-writable one:
whoever planted it chose what gets overwritten; a current file that is
not a token (agent.yaml given by mistake); a file inside a git work
tree (also through a symlinked directory) or named like .env. A file
whose owner cannot be kept (not root, someone else's file) is refused
even with --force.

With vault:secret/podium#token the token becomes a new version of that
secret (its other fields are kept), written with check-and-set on the
version read: if someone else wrote the secret meanwhile, nothing is
written. Vault keeps the previous version as the backup (--backups and
--force do not apply). Vault is reached as the vault CLI reaches it:
VAULT_ADDR, VAULT_TOKEN or ~/.vault-token, VAULT_NAMESPACE, VAULT_CACERT.

--probe URL sends one request with the new token to the platform before
anything is written (GET, or a WebSocket handshake for ws:// and
wss://): a 2xx or 101 answer keeps it; 401 or 403 refuses it with the
upstream's status, as does any other answer: a token that could not be
shown to work does not replace one that does. Shape, exp, iss and aud
cannot tell a revoked token or one for another account.

Agents behind 'voicetoken proxy' or 'voicetoken run' pick the new token
up by themselves; --exec runs a command for those that can't.

Exit: 0 rotated (or unchanged), 1 write or --exec failed,
      2 the new token or the target was refused (nothing written:
      an invalid token, a planted link, a file that holds no token,
      an owner that cannot be kept, a file in a git work tree, a KV
      version 1 mount), 3 usage.

Examples:
  pbpaste | voicetoken rotate --to file:/run/secrets/podium_token
  voicetoken rotate --to file:/run/secrets/podium_token --dry-run < new.jwt
  voicetoken rotate --to file:/run/secrets/podium_token \
      --probe https://api.podium.example/v1/me < new.jwt
  voicetoken rotate --to file:/etc/podium/token --backups 5 \
      --exec 'systemctl restart podium-voices-agent' < new.jwt
  VAULT_ADDR=https://vault:8200 voicetoken rotate --to vault:secret/podium#token < new.jwt`

// rotateFlags are the parsed flags of `rotate`.
type rotateFlags struct {
	to, hook, iss, aud, probeURL string
	backups                      int
	dryRun, force                bool
	minTTL                       time.Duration
}

func (f *rotateFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.to, "to", "", "where the token lives: file:PATH or vault:MOUNT/PATH#FIELD (default file:$PODIUM_TOKEN_FILE)")
	fs.IntVar(&f.backups, "backups", 1, "previous tokens to keep: 0 none, 1 NAME.bak, N NAME.bak plus N-1 timestamped")
	fs.BoolVar(&f.dryRun, "dry-run", false, "validate and report; write nothing")
	fs.StringVar(&f.hook, "exec", "", "command to run after a successful write, e.g. 'systemctl restart agent' (split like a shell, not run by one)")
	fs.BoolVar(&f.force, "force", false, "allow a symlink or file others could have planted, a current file that is not a token, a file inside a git work tree or named like .env")
	fs.StringVar(&f.iss, "iss", "", "require this issuer (iss)")
	fs.StringVar(&f.aud, "aud", "", "require this audience (aud)")
	fs.DurationVar(&f.minTTL, "min-ttl", 0, "refuse a token with less life left than this, e.g. 1h")
	fs.StringVar(&f.probeURL, "probe", "", "before writing, GET this upstream URL (or a ws(s):// handshake) with the new token: 2xx/101 keeps it, 401/403 refuses it")
}

// rotateConfig is what the flags of `rotate` resolve to.
type rotateConfig struct {
	spec   credential.Spec
	target credential.Writer
	prober *probe.Prober // nil without --probe
	hook   []string      // --exec's argv
	dryRun bool
	opts   credential.RotateOptions // without the token
}

// parseRotateFlags turns rotate's arguments and environment into its
// config.
func parseRotateFlags(e *env, args []string) (rotateConfig, error) {
	fs := newFlagSet(e, "rotate", rotateUsage)
	var f rotateFlags
	f.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return rotateConfig{}, err
	}
	return f.config(e, fs.Args())
}

// config resolves the flags (PODIUM_TOKEN_FILE defaults --to), opens the
// target and checks the rest, returning every problem at once as one
// usage error.
func (f *rotateFlags) config(e *env, args []string) (rotateConfig, error) {
	var (
		c        rotateConfig
		problems []error
		err      error
	)
	if len(args) > 0 {
		problems = append(problems, errors.New("the new token is read from stdin, never from arguments (ps shows them): voicetoken rotate --to file:PATH < token"))
	}
	if c.spec, c.target, err = f.target(e); err != nil {
		problems = append(problems, err)
	}
	if f.probeURL != "" {
		if c.prober, err = probe.Parse(f.probeURL); err != nil {
			problems = append(problems, fmt.Errorf("--probe: %w", err))
		}
	}
	if f.backups < 0 || f.minTTL < 0 {
		problems = append(problems, errors.New("--backups and --min-ttl must not be negative"))
	}
	if f.hook != "" {
		if c.hook, err = credential.SplitCommand(f.hook); err != nil {
			problems = append(problems, fmt.Errorf("--exec: %w", err))
		}
	}
	c.dryRun = f.dryRun
	c.opts = credential.RotateOptions{
		Path: c.spec.Path, Backups: f.backups, DryRun: f.dryRun, Force: f.force, Now: e.now,
		Policy: credential.Policy{Issuer: f.iss, Audience: f.aud, MinRemaining: f.minTTL},
	}
	if len(problems) > 0 {
		return c, &exitError{code: exitUsage, err: errors.Join(problems...)}
	}
	return c, nil
}

// target is where --to says the token lives, opened for writing.
func (f *rotateFlags) target(e *env) (credential.Spec, credential.Writer, error) {
	to := f.to
	if to == "" {
		p := e.getenv("PODIUM_TOKEN_FILE")
		if p == "" {
			return credential.Spec{}, nil, errors.New("--to file:PATH is required (or set PODIUM_TOKEN_FILE)")
		}
		to = "file:" + p
	}
	spec, err := credential.ParseSpec(to)
	if err != nil {
		return spec, nil, fmt.Errorf("--to: %w", err)
	}
	r, err := credential.Open(credential.Config{Spec: spec, Getenv: e.getenv, Force: f.force})
	if err != nil {
		return spec, nil, fmt.Errorf("--to %s: %w", spec, err)
	}
	w, ok := r.(credential.Writer)
	if !ok {
		return spec, nil, fmt.Errorf("--to: %w: rotate writes files and Vault secrets; for %s update the variable or the secret store itself", credential.ErrNotWritable, spec.Kind)
	}
	return spec, w, nil
}

func runRotate(ctx context.Context, e *env, args []string) error {
	c, err := parseRotateFlags(e, args)
	if err != nil {
		return err
	}
	opts := c.opts
	if opts.Token, err = readNewToken(e); err != nil {
		return err
	}
	if c.prober != nil {
		if err := probeNew(ctx, e, c.prober, opts); err != nil {
			return err
		}
	}
	res, err := c.target.Write(ctx, opts)
	for _, w := range resWarnings(res) {
		fmt.Fprintf(e.stderr, "WARNING: %s\n", w)
	}
	if err != nil {
		return writeError(res, err)
	}
	writeRotateReport(e.stdout, res, c.spec.Kind, c.dryRun, e.now())
	if c.dryRun || res.Unchanged {
		return nil
	}
	logRotated(ctx, e, res)
	if len(c.hook) > 0 {
		if err := runHook(ctx, e, c.hook, c.spec.Kind, res); err != nil {
			return &exitError{code: 1, err: fmt.Errorf("the token was rotated, but --exec failed: %w", err)}
		}
	}
	return nil
}

// readNewToken reads the new token from stdin, asking for it on a
// terminal.
func readNewToken(e *env) (string, error) {
	if f, ok := e.stdin.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&iofs.ModeCharDevice != 0 {
			fmt.Fprintln(e.stderr, "Paste the new token, then press Enter and Ctrl-D:")
		}
	}
	raw, err := io.ReadAll(io.LimitReader(e.stdin, maxInput))
	if err != nil {
		return "", fmt.Errorf("read stdin: %w", err)
	}
	return string(raw), nil
}

// writeError is a failed write's exit: 2 when the new token or the
// target was refused (nothing was written), 1 when the write failed.
func writeError(res *credential.RotateResult, err error) error {
	code := 1
	if res != nil && res.New == nil || refused(err) {
		code = exitInvalid
	}
	return &exitError{code: code, err: err}
}

// logRotated logs CREDENTIAL_ROTATED: where, the fingerprints, the new
// expiry and the backup.
func logRotated(ctx context.Context, e *env, res *credential.RotateResult) {
	attrs := []slog.Attr{
		slog.String("event", "CREDENTIAL_ROTATED"), slog.String("path", res.Path),
		slog.String("old_fingerprint", fpOf(res.Old)), slog.String("fingerprint", res.New.Fingerprint()),
		slog.Time("expires_at", res.New.ExpiresAt()), slog.String("backup", res.Backup),
	}
	if res.Version > 0 {
		attrs = append(attrs, slog.Int("version", res.Version))
	}
	slog.New(slog.NewJSONHandler(e.stderr, nil)).LogAttrs(ctx, slog.LevelInfo, "credential rotated", attrs...)
}

// probeNew checks the new token's shape and times, then asks the
// upstream whether it accepts it (--probe). A refusal writes nothing and
// exits 2, like any other refused token.
func probeNew(ctx context.Context, e *env, p *probe.Prober, opts credential.RotateOptions) error {
	c, err := opts.Policy.Check(opts.Token, opts.Now())
	if err != nil {
		return &exitError{code: exitInvalid, err: fmt.Errorf("new token: %w", err)}
	}
	res, err := p.Probe(ctx, c.Token())
	if err != nil {
		return &exitError{code: exitInvalid, err: fmt.Errorf("new token %s: %w; nothing was written", c.Fingerprint(), err)}
	}
	fmt.Fprintf(e.stderr, "probe: the upstream accepted %s (%d in %s)\n", c.Fingerprint(), res.Status, res.Elapsed.Round(time.Millisecond))
	return nil
}

// refused tells a target rotate would not write (exit 2) from a write
// that failed (exit 1).
func refused(err error) bool {
	for _, target := range []error{credential.ErrUnsafePath, credential.ErrPlantedLink, credential.ErrNotToken, credential.ErrOwner, vault.ErrVersion1} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

func resWarnings(res *credential.RotateResult) []string {
	if res == nil {
		return nil
	}
	return res.Warnings
}

func fpOf(c *credential.Credential) string {
	if c == nil {
		return ""
	}
	return c.Fingerprint()
}

// writeRotateReport prints the old and new fingerprints and expiries.
func writeRotateReport(w io.Writer, res *credential.RotateResult, kind credential.Kind, dry bool, now time.Time) {
	path := res.Path
	if res.Link != "" {
		path += " (through the link " + res.Link + ")"
	}
	if res.Version > 0 {
		path += fmt.Sprintf(" (version %d)", res.Version)
	}
	switch {
	case res.Unchanged:
		fmt.Fprintf(w, "unchanged %s: it already holds this token\n", path)
	case dry:
		fmt.Fprintf(w, "dry run: would rotate %s\n", path)
	default:
		fmt.Fprintf(w, "rotated %s\n", path)
	}
	switch {
	case res.Old != nil:
		fmt.Fprintf(w, "  old  %s  %s\n", res.Old.Fingerprint(), describeExpiry(res.Old, now))
	case errors.Is(res.OldErr, vault.ErrField):
		fmt.Fprintf(w, "  old  (none: %v)\n", res.OldErr)
	case res.OldErr != nil:
		fmt.Fprintf(w, "  old  (not a valid JWT: %v)\n", res.OldErr)
	case kind == credential.KindVault:
		fmt.Fprintf(w, "  old  (none: the secret did not exist)\n")
	default:
		fmt.Fprintf(w, "  old  (none: the file did not exist)\n")
	}
	fmt.Fprintf(w, "  new  %s  %s\n", res.New.Fingerprint(), describeExpiry(res.New, now))
	if res.Backup != "" {
		fmt.Fprintf(w, "  backup %s\n", res.Backup)
	}
	for _, p := range res.Pruned {
		fmt.Fprintf(w, "  removed old backup %s\n", p)
	}
}

func describeExpiry(c *credential.Credential, now time.Time) string {
	exp := c.ExpiresAt()
	if exp.IsZero() {
		return "no expiry"
	}
	left := exp.Sub(now)
	if left <= 0 {
		return fmt.Sprintf("expired %s (%s ago)", exp.UTC().Format(time.RFC3339), token.HumanDuration(-left))
	}
	return fmt.Sprintf("expires %s (in %s)", exp.UTC().Format(time.RFC3339), token.HumanDuration(left))
}

// runHook runs --exec without a shell. It gets the fingerprints and
// where the token lives in its environment, never the token:
// VOICETOKEN_TOKEN_FILE for a file, VOICETOKEN_TOKEN_SOURCE (file:PATH or
// vault:MOUNT/PATH#FIELD) for both.
func runHook(ctx context.Context, e *env, argv []string, kind credential.Kind, res *credential.RotateResult) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = e.stdout, e.stderr
	source := res.Path
	cmd.Env = os.Environ()
	if kind == credential.KindFile {
		source = "file:" + res.Path
		cmd.Env = append(cmd.Env, "VOICETOKEN_TOKEN_FILE="+res.Path)
	}
	cmd.Env = append(cmd.Env,
		"VOICETOKEN_TOKEN_SOURCE="+source,
		"VOICETOKEN_OLD_FINGERPRINT="+fpOf(res.Old),
		"VOICETOKEN_NEW_FINGERPRINT="+res.New.Fingerprint(),
	)
	fmt.Fprintf(e.stderr, "running --exec %s (%d args)\n", argv[0], len(argv)-1)
	return cmd.Run()
}
