package main

import (
	"log/slog"
	"reflect"
	"testing"

	"voicetoken/internal/policy"
	"voicetoken/internal/server"
)

func TestServeConfig(t *testing.T) {
	tests := []configCase[serveConfig]{
		{name: "defaults", check: func(t *testing.T, c serveConfig) {
			s := c.server
			if s.Addr != server.DefaultAddr || s.LiveKitURL != server.DefaultLiveKitURL || s.CheckLiveKit || c.level != slog.LevelInfo || c.redisURL != "" {
				t.Errorf("got %+v", c)
			}
			if !reflect.DeepEqual(c.overrides, policy.Overrides{}) {
				t.Errorf("overrides %+v, want none", c.overrides)
			}
		}},
		{name: "a deployed LiveKit is checked by /readyz", environ: map[string]string{"LIVEKIT_URL": "wss://lk.example.com"},
			check: func(t *testing.T, c serveConfig) {
				if c.server.LiveKitURL != "wss://lk.example.com" || !c.server.CheckLiveKit {
					t.Errorf("LiveKitURL %q CheckLiveKit %v", c.server.LiveKitURL, c.server.CheckLiveKit)
				}
			}},
		{name: "--check-livekit=false wins", args: []string{"--check-livekit=false"}, environ: map[string]string{"LIVEKIT_URL": "wss://lk.example.com"},
			check: func(t *testing.T, c serveConfig) {
				if c.server.CheckLiveKit {
					t.Error("CheckLiveKit on")
				}
			}},
		{name: "environment fills unset flags",
			environ: map[string]string{"VOICETOKEN_ADDR": "0.0.0.0:9100", "VOICETOKEN_HOSTS": "a.example.com, ,b.example.com", "VOICETOKEN_ORIGINS": "https://a.example.com",
				"VOICETOKEN_REDIS_URL": "redis://vt:6379", "REDIS_URL": "redis://other:6379", "VOICETOKEN_POLICY": "p.yaml"},
			check: func(t *testing.T, c serveConfig) {
				if c.server.Addr != "0.0.0.0:9100" || c.redisURL != "redis://vt:6379" || c.policyFile != "p.yaml" {
					t.Errorf("got %+v", c)
				}
				want := policy.Overrides{Hosts: []string{"a.example.com", "b.example.com"}, Origins: []string{"https://a.example.com"}}
				if !reflect.DeepEqual(c.overrides, want) {
					t.Errorf("overrides %+v, want %+v", c.overrides, want)
				}
			}},
		{name: "flags win over the environment",
			args:    []string{"--allow-host", "c.example.com", "--redis", "redis://flag:6379", "--rate", "2", "--max-ttl", "1h", "--log-level", "debug"},
			environ: map[string]string{"VOICETOKEN_HOSTS": "a.example.com", "REDIS_URL": "redis://other:6379"},
			check: func(t *testing.T, c serveConfig) {
				o := c.overrides
				if !reflect.DeepEqual(o.Hosts, []string{"c.example.com"}) || c.redisURL != "redis://flag:6379" || c.level != slog.LevelDebug {
					t.Errorf("got %+v", c)
				}
				if o.AddressRate == nil || *o.AddressRate != 2 || o.AddressBurst != nil || o.MaxTTL.Hours() != 1 {
					t.Errorf("overrides %+v: want rate 2, no burst, max ttl 1h", o)
				}
			}},
		{name: "REDIS_URL when VOICETOKEN_REDIS_URL is unset", environ: map[string]string{"REDIS_URL": "redis://other:6379"},
			check: func(t *testing.T, c serveConfig) {
				if c.redisURL != "redis://other:6379" {
					t.Errorf("redis %q", c.redisURL)
				}
			}},
		{name: "stray argument", args: []string{"extra"}, want: []string{`unexpected argument "extra"`}},
		{name: "rate NaN", args: []string{"--rate", "NaN"},
			want: []string{"--rate NaN: want token requests per second per client address, or 0 for no limit"}},
		{name: "rate negative", args: []string{"--rate", "-3"},
			want: []string{"--rate -3: want token requests per second per client address, or 0 for no limit"}},
		{name: "rate infinite", args: []string{"--rate", "Inf"},
			want: []string{"--rate +Inf: want token requests per second per client address, or 0 for no limit"}},
		{name: "burst zero", args: []string{"--burst", "0"}, want: []string{"--burst 0: want at least 1"}},
		{name: "log level", args: []string{"--log-level", "loud"}, want: []string{`--log-level "loud": want debug, info, warn or error`}},
		{name: "env file missing", args: []string{"--env-file", "testdata/none.env"},
			want: []string{"read env file: open testdata/none.env: no such file or directory"}},
		{name: "every problem at once", args: []string{"--rate", "-1", "--burst", "-5", "--log-level", "loud", "--env-file", "testdata/none.env", "extra"},
			want: []string{
				`unexpected argument "extra"`,
				"read env file: open testdata/none.env: no such file or directory",
				"--rate -1: want token requests per second per client address, or 0 for no limit",
				"--burst -5: want at least 1",
				`--log-level "loud": want debug, info, warn or error`,
			}},
	}
	runConfigCases(t, parseServeFlags, tests)
}
