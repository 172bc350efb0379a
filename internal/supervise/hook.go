package supervise

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"voicetoken/internal/credential"
)

// Hook is a command run after each accepted change of the credential:
// `systemctl restart podium-voices-agent`, `kubectl rollout restart ...`
// for agents that are services of their own (`proxy --on-change`, `run
// --exec`). It is run without a shell; its environment holds the
// fingerprints and where the token lives, never the token:
// VOICETOKEN_OLD_FINGERPRINT, VOICETOKEN_NEW_FINGERPRINT,
// VOICETOKEN_TOKEN_SOURCE and, for a file, VOICETOKEN_TOKEN_FILE.
type Hook struct {
	Argv []string
	// Source is the spec, as logged; File the token file, if any.
	Source, File   string
	Stdout, Stderr io.Writer
	Logger         *slog.Logger
}

// Run runs the hook and logs ON_CHANGE_RAN or ON_CHANGE_FAILED. Its
// error is returned too.
func (h *Hook) Run(ctx context.Context, old, nc *credential.Credential) error {
	cmd := exec.CommandContext(ctx, h.Argv[0], h.Argv[1:]...)
	cmd.Stdout, cmd.Stderr = h.Stdout, h.Stderr
	oldFP := ""
	if old != nil {
		oldFP = old.Fingerprint()
	}
	cmd.Env = append(os.Environ(),
		"VOICETOKEN_TOKEN_SOURCE="+h.Source,
		"VOICETOKEN_OLD_FINGERPRINT="+oldFP,
		"VOICETOKEN_NEW_FINGERPRINT="+nc.Fingerprint(),
	)
	if h.File != "" {
		cmd.Env = append(cmd.Env, "VOICETOKEN_TOKEN_FILE="+h.File)
	}
	err := cmd.Run()
	log := h.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	attrs := []slog.Attr{slog.String("command", filepath.Base(h.Argv[0])), slog.Int("args", len(h.Argv)-1),
		slog.String("old_fingerprint", oldFP), slog.String("fingerprint", nc.Fingerprint())}
	if err != nil {
		log.LogAttrs(ctx, slog.LevelError, "the on-change command failed",
			append(attrs, slog.String("event", "ON_CHANGE_FAILED"), slog.String("error", err.Error()))...)
		return err
	}
	log.LogAttrs(ctx, slog.LevelInfo, "ran the on-change command", append(attrs, slog.String("event", "ON_CHANGE_RAN"))...)
	return nil
}
