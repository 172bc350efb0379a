package main

import (
	"reflect"
	"syscall"
	"testing"
)

func TestRunConfig(t *testing.T) {
	const (
		noCommand = "no command to run: voicetoken run [flags] -- COMMAND [ARGS...]"
		noCred    = "--credential is required (or set PODIUM_TOKEN_FILE)"
	)
	tests := []configCase[*runConfig]{
		{name: "a file's path in PODIUM_TOKEN_FILE", environ: map[string]string{"PODIUM_TOKEN_FILE": "/run/secrets/t"}, args: []string{"--", "agent", "-v"},
			check: func(t *testing.T, c *runConfig) {
				if c.tokenFile != "/run/secrets/t" || c.sup.TokenFile != "/run/secrets/t" || c.sup.TokenEnv != "" || !reflect.DeepEqual(c.sup.Argv, []string{"agent", "-v"}) {
					t.Errorf("got %+v", c)
				}
			}},
		{name: "--env instead of the path", args: []string{"--credential", "file:/t", "--env", "TOK", "--on-change", "signal:HUP", "--poll", "0", "--", "agent"},
			check: func(t *testing.T, c *runConfig) {
				if c.tokenFile != "/t" || c.sup.TokenFile != "" || c.sup.TokenEnv != "TOK" || c.sup.Signal != syscall.SIGHUP || c.poll != -1 {
					t.Errorf("got %+v", c)
				}
			}},
		{name: "no command", args: []string{"--credential", "file:/t"}, want: []string{noCommand}},
		{name: "no credential", args: []string{"--", "agent"}, want: []string{noCred}},
		{name: "vault needs --env", args: []string{"--credential", "vault:secret/podium#token", "--", "agent"},
			want: []string{"--env NAME is required for vault:secret/podium#token: only a file: credential can be handed over as PODIUM_TOKEN_FILE"}},
		{name: "bad variable name", args: []string{"--credential", "file:/t", "--env", "1TOK", "--", "agent"}, want: []string{`--env: "1TOK" is not a variable name`}},
		{name: "every problem at once", args: []string{"--on-change", "reload", "--grace", "0s", "--exec", "x 'y", "--probe", "ftp://x"},
			want: []string{
				noCommand, noCred,
				`--on-change: "reload": want restart or signal:NAME (e.g. signal:HUP)`,
				"--grace must be positive",
				"--exec: unterminated single quote at byte 2",
				`--probe: invalid probe URL: "ftp://x": want http(s):// or ws(s)://`,
			}},
	}
	runConfigCases(t, parseRunFlags, tests)
}
