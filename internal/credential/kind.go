package credential

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
)

// Reader reads one kind of credential source. Each kind (file, env,
// exec, vault) is one small type in its own file, made by [Open] from a
// [Spec]; the kinds are registered in one table, kinds below. It is the
// equivalent of Vault Agent's auth.AuthMethod: everything that differs
// between sources sits behind it, and [Source], check and rotate only
// ever talk to this interface and the optional ones that follow.
type Reader interface {
	// Read returns the raw value and, when the way it is stored is weak
	// (a file readable by others), a warning. Errors never hold the value.
	Read(ctx context.Context) (raw []byte, warning string, err error)
	// Schedule says how a Source re-reads it when it cannot be watched.
	Schedule() Schedule
	// String is the source in a form safe to log.
	String() string
}

// Schedule is how a Source re-reads a Reader besides Reload.
type Schedule int

const (
	// Once: the value cannot change while the process runs (env:).
	Once Schedule = iota
	// Poll: a cheap read every Config.PollInterval, skipped by hash when
	// unchanged; the safety net under a Watcher (file:).
	Poll
	// Refresh: an expensive read every Config.Refresh and RefreshBefore
	// the token expires (exec:, vault:).
	Refresh
)

// Watcher is a Reader whose source can say that it may have changed
// (file: through fsnotify). A Source debounces notify and re-reads.
type Watcher interface {
	// Watch calls notify, from another goroutine, whenever the value may
	// have changed, and failed on a watch error, until stop is called. It
	// returns an error at once when the source cannot be watched; the
	// Source then polls only.
	Watch(notify func(), failed func(error)) (stop func(), err error)
}

// Writer is a Reader that `voicetoken rotate` can write: validate, keep
// the old value as a backup, write the new one (file:, vault:). It is
// the equivalent of Vault Agent's sink.Sink.
type Writer interface {
	Write(ctx context.Context, opts RotateOptions) (*RotateResult, error)
}

// Keeper is a Reader with work of its own to do while the Source runs:
// a vault: source renews its Vault token.
type Keeper interface {
	Keep(ctx context.Context)
}

// kind is one registered kind of source: how its spec is written, parsed,
// shown and opened.
type kind struct {
	name   Kind
	syntax string
	parse  func(rest string) (Spec, error)
	string func(Spec) string
	open   func(Spec, Config) (Reader, error)
}

// kinds is the one place a kind of source is registered. A new kind
// (say AWS Secrets Manager) is a file with its Reader and one line here.
var kinds = [...]kind{
	{KindFile, "file:PATH", parseFile, func(s Spec) string { return "file:" + s.Path }, openFile},
	{KindEnv, "env:NAME", parseEnv, func(s Spec) string { return "env:" + s.Var }, openEnv},
	{KindExec, "exec:COMMAND", parseExec, execString, openExec},
	{KindVault, "vault:MOUNT/PATH#FIELD", parseVault, func(s Spec) string { return "vault:" + s.Vault.String() }, openVault},
}

func lookupKind(k Kind) (kind, bool) {
	for _, d := range kinds {
		if d.name == k {
			return d, true
		}
	}
	return kind{}, false
}

// Syntax lists the forms a spec can take, for help and error messages:
// "file:PATH, env:NAME, exec:COMMAND or vault:MOUNT/PATH#FIELD".
func Syntax() string {
	s := make([]string, len(kinds))
	for i, d := range kinds {
		s[i] = d.syntax
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// Open makes the Reader for cfg.Spec, filling cfg's zero values with the
// defaults New uses. It reads nothing yet (a vault: source builds its
// client from the environment).
func Open(cfg Config) (Reader, error) {
	d, ok := lookupKind(cfg.Spec.Kind)
	if !ok {
		return nil, fmt.Errorf("%w: no source kind", ErrSpec)
	}
	return d.open(cfg.Spec, cfg.withDefaults())
}

// withDefaults fills the zero values of c.
func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
	setDefault(&c.PollInterval, DefaultPollInterval)
	setDefault(&c.Refresh, DefaultRefresh)
	setDefault(&c.RefreshBefore, DefaultRefreshBefore)
	setDefault(&c.RetryInterval, DefaultRetryInterval)
	setDefault(&c.ExecTimeout, DefaultExecTimeout)
	setDefault(&c.ExpiringWithin, DefaultExpiringWithin)
	return c
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d == 0 {
		*d = v
	}
}
