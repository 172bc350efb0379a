package main

import (
	"reflect"
	"testing"
	"time"

	"voicetoken/internal/credential"
)

func TestRotateConfig(t *testing.T) {
	const (
		stdinOnly = "the new token is read from stdin, never from arguments (ps shows them): voicetoken rotate --to file:PATH < token"
		noTarget  = "--to file:PATH is required (or set PODIUM_TOKEN_FILE)"
		negative  = "--backups and --min-ttl must not be negative"
	)
	tests := []configCase[rotateConfig]{
		{name: "PODIUM_TOKEN_FILE is the default target", environ: map[string]string{"PODIUM_TOKEN_FILE": "/run/secrets/podium_token"},
			check: func(t *testing.T, c rotateConfig) {
				if c.spec.Kind != credential.KindFile || c.spec.Path != "/run/secrets/podium_token" || c.opts.Path != c.spec.Path {
					t.Errorf("spec %+v, path %q", c.spec, c.opts.Path)
				}
				if c.opts.Backups != 1 || c.dryRun || c.prober != nil || c.hook != nil {
					t.Errorf("defaults: %+v", c)
				}
			}},
		{name: "flags", args: []string{"--to", "file:/tmp/tok", "--dry-run", "--backups", "3", "--min-ttl", "1h", "--iss", "podium", "--aud", "agents",
			"--exec", "systemctl restart 'podium agent'", "--probe", "https://api.example.com/me"},
			check: func(t *testing.T, c rotateConfig) {
				if !c.dryRun || !c.opts.DryRun || c.opts.Backups != 3 || c.prober == nil {
					t.Errorf("got %+v", c)
				}
				if want := (credential.Policy{Issuer: "podium", Audience: "agents", MinRemaining: time.Hour}); c.opts.Policy != want {
					t.Errorf("policy %+v, want %+v", c.opts.Policy, want)
				}
				if want := []string{"systemctl", "restart", "podium agent"}; !reflect.DeepEqual(c.hook, want) {
					t.Errorf("hook %q, want %q", c.hook, want)
				}
			}},
		{name: "stray argument", args: []string{"--to", "file:/tmp/tok", "eyJ..."}, want: []string{stdinOnly}},
		{name: "no target", want: []string{noTarget}},
		{name: "unknown kind", args: []string{"--to", "ftp:x"},
			want: []string{`--to: invalid credential spec: unknown kind "ftp"; want file:PATH, env:NAME, exec:COMMAND or vault:MOUNT/PATH#FIELD`}},
		{name: "not writable", args: []string{"--to", "env:PODIUM_TOKEN"},
			want: []string{"--to: credential spec is not a file: rotate writes files and Vault secrets; for env update the variable or the secret store itself"}},
		{name: "bad probe", args: []string{"--to", "file:/tmp/tok", "--probe", "ftp://x"},
			want: []string{`--probe: invalid probe URL: "ftp://x": want http(s):// or ws(s)://`}},
		{name: "negative backups", args: []string{"--to", "file:/tmp/tok", "--backups", "-1"}, want: []string{negative}},
		{name: "negative min ttl", args: []string{"--to", "file:/tmp/tok", "--min-ttl", "-1h"}, want: []string{negative}},
		{name: "bad exec", args: []string{"--to", "file:/tmp/tok", "--exec", "restart 'agent"}, want: []string{"--exec: unterminated single quote at byte 8"}},
		{name: "every problem at once", args: []string{"--probe", "ftp://x", "--backups", "-1", "--exec", "restart 'agent", "eyJ..."},
			want: []string{stdinOnly, noTarget, `--probe: invalid probe URL: "ftp://x": want http(s):// or ws(s)://`, negative, "--exec: unterminated single quote at byte 8"}},
	}
	runConfigCases(t, parseRotateFlags, tests)
}
