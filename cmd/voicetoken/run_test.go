package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunCommand: run's wiring: the token reaches the child (its file's
// path, or the value in --env), the child's exit code is run's, and
// mistakes are usage errors. The restart behaviour is tested with a real
// agent in internal/supervise.
func TestRunCommand(t *testing.T) {
	good := upstreamToken(t, time.Hour, "run")
	expired := upstreamToken(t, -time.Hour, "run-expired")
	dir := t.TempDir()
	file := filepath.Join(dir, "podium_token")
	if err := os.WriteFile(file, []byte(good+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "old_token")
	if err := os.WriteFile(old, []byte(expired+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		code   int
		stderr string
	}{
		{name: "the file's path in PODIUM_TOKEN_FILE, the child's exit code",
			args: []string{"--credential", "file:" + file, "--", "sh", "-c", `test "$PODIUM_TOKEN_FILE" = "` + file + `" || exit 9; exit 5`}, code: 5, stderr: `"event":"AGENT_STARTED"`},
		{name: "the token in --env",
			args: []string{"--credential", file, "--env", "PODIUM_TOKEN", "--", "sh", "-c", `test "$PODIUM_TOKEN" = "` + good + `" || exit 9; exit 4`}, code: 4},
		{name: "PODIUM_TOKEN_FILE is the default credential", env: map[string]string{"PODIUM_TOKEN_FILE": file},
			args: []string{"--", "sh", "-c", "exit 0"}, code: 0, stderr: `"event":"AGENT_EXITED"`},
		{name: "no valid token to start with", args: []string{"--credential", "file:" + old, "--", "true"}, code: 1, stderr: "load the credential"},
		{name: "no command", args: []string{"--credential", "file:" + file}, code: 3, stderr: "no command to run"},
		{name: "vault: needs --env", args: []string{"--credential", "vault:secret/podium#token", "--", "true"}, code: 3, stderr: "--env NAME is required"},
		{name: "bad --on-change", args: []string{"--credential", file, "--on-change", "reload", "--", "true"}, code: 3, stderr: "want restart or signal:NAME"},
		{name: "bad signal", args: []string{"--credential", file, "--on-change", "signal:KILL", "--", "true"}, code: 3, stderr: "want HUP"},
		{name: "bad --probe", args: []string{"--credential", file, "--probe", "ftp://x", "--", "true"}, code: 3, stderr: "--probe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.env, "", append([]string{"run"}, tt.args...)...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("exit %d, want %d; stderr %q lacks %q", r.code, tt.code, r.stderr, tt.stderr)
			}
			if strings.Contains(r.stdout+r.stderr, good) {
				t.Error("output shows the token")
			}
		})
	}
}

func FuzzParseOnChange(f *testing.F) {
	for _, s := range []string{"restart", "signal:HUP", "signal:SIGUSR1", "signal:", "signal:KILL", "reload", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sig, err := parseOnChange(s)
		switch {
		case err != nil && sig != 0:
			t.Fatalf("parseOnChange(%q) = %v with error %v", s, sig, err)
		case err == nil && sig == 0 && s != "restart":
			t.Fatalf("parseOnChange(%q) means restart", s)
		case err == nil && sig == syscall.SIGKILL:
			t.Fatalf("parseOnChange(%q) = SIGKILL", s)
		}
	})
}
