package main

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"voicetoken/internal/credential"
)

// sourceFlags are the flags that `run` and `proxy` share for the token
// they keep: where it lives and what every new value must satisfy.
type sourceFlags struct {
	spec, iss, aud string
	poll, refresh  time.Duration
}

func (f *sourceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.spec, "credential", "", "token source: "+credential.Syntax()+" (default file:$PODIUM_TOKEN_FILE)")
	fs.StringVar(&f.iss, "iss", "", "require this issuer (iss) of every new token")
	fs.StringVar(&f.aud, "aud", "", "require this audience (aud) of every new token")
	fs.DurationVar(&f.poll, "poll", credential.DefaultPollInterval, "file: safety-net poll interval (0 disables)")
	fs.DurationVar(&f.refresh, "refresh", credential.DefaultRefresh, "exec: re-run and vault: re-read interval")
}

// source parses --credential; PODIUM_TOKEN_FILE, the seed's variable,
// stands in for a missing one as file:PATH.
func (f *sourceFlags) source(e *env) (credential.Spec, error) {
	spec := f.spec
	if spec == "" {
		p := e.getenv("PODIUM_TOKEN_FILE")
		if p == "" {
			return credential.Spec{}, errors.New("--credential is required (or set PODIUM_TOKEN_FILE)")
		}
		spec = "file:" + p
	}
	s, err := credential.ParseSpec(spec)
	if err != nil {
		return credential.Spec{}, fmt.Errorf("--credential: %w", err)
	}
	return s, nil
}

// policy is what --iss and --aud require of a new token.
func (f *sourceFlags) policy() credential.Policy {
	return credential.Policy{Issuer: f.iss, Audience: f.aud}
}

// pollEvery is --poll as credential.Config wants it: 0 there means the
// default, so a --poll 0 that disables polling becomes -1.
func (f *sourceFlags) pollEvery() time.Duration {
	if f.poll == 0 {
		return -1
	}
	return f.poll
}
