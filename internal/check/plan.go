package check

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"voicetoken/internal/credential"
	"voicetoken/internal/keys"
	"voicetoken/internal/token"
)

// Names of the checks other checks depend on. A plan refers to them by
// these constants, never by a string typed twice.
const (
	NameKeys        = "keys"
	NameLiveKit     = "livekit"
	NameServeHealth = "serve health"
)

// PlanOptions say what one run of `voicetoken check` is to check. The
// caller resolves flags and environment into it; the plan decides which
// checks follow and what each one needs.
type PlanOptions struct {
	// LoadKeys reads the API keys; it is called by every Checks, so a
	// long-running watch sees rotated keys. Nil means no key source.
	LoadKeys func() (*keys.Set, error)
	// KeysConfigured says a key source was named (a flag or the
	// environment): tokens are then checked against those keys only, and
	// the keys are loaded even when nothing else needs them.
	KeysConfigured bool
	// KeyFile and EnvFile are checked to be private when set.
	KeyFile, EnvFile string

	Tokens      []string          // literal LiveKit tokens
	Files       []string          // files holding one token each
	Pages       []string          // HTML pages holding a token
	Credentials []credential.Spec // agents' upstream tokens

	LiveKitURL string // http(s) form; "" skips the LiveKit rows
	ServeURL   string // http(s) base of a `voicetoken serve`; "" skips
	Room       string // room and identity asked of ServeURL's /api/token
	Identity   string

	Warn time.Duration // warn when a token expires within this
	Fix  bool          // re-mint expiring tokens in Pages
	TTL  time.Duration // with Fix: lifetime of the new token (0: the old one's)
	// Force lets Fix write a symlinked page in a directory others can write.
	Force bool

	Client *http.Client
	Getenv func(string) string
	Now    func() time.Time
}

// Plan lists the checks a PlanOptions asks for, in table order, with their
// dependencies: checks that sign or verify need NameKeys, so a key
// problem shows once; "livekit api" needs NameLiveKit; every serve row
// needs NameServeHealth.
type Plan struct {
	o PlanOptions
}

// NewPlan returns the plan for o.
func NewPlan(o PlanOptions) *Plan { return &Plan{o: o} }

// needsKeys reports whether any check of the plan signs or verifies with
// the configured keys.
func (p *Plan) needsKeys() bool {
	o := p.o
	return o.LoadKeys != nil && (o.KeysConfigured || o.LiveKitURL != "" || o.ServeURL != "" || o.Fix)
}

// planned is the checks of one Checks call as they are added.
type planned struct {
	out   []Check
	names map[string]int
}

// add appends c, numbering a repeated name ("token #2").
func (l *planned) add(c Check) string {
	if n := l.names[c.Name]; n > 0 {
		c.Name = fmt.Sprintf("%s #%d", c.Name, n+1)
	}
	l.names[c.Name]++
	l.out = append(l.out, c)
	return c.Name
}

// Checks builds the checks, loading the keys if any check needs them.
func (p *Plan) Checks() []Check {
	o := p.o
	l := &planned{names: map[string]int{}}
	var set *keys.Set
	var keyErr error
	var needs []string
	if p.needsKeys() {
		set, keyErr = o.LoadKeys()
		l.add(KeysLoaded(NameKeys, set, keyErr))
		needs = []string{NameKeys}
	}
	// Without configured keys, tokens issued by LiveKit's dev key are
	// checked with the dev secret (as `verify` does); others unsigned.
	var tokenKeys token.Keyring
	if set != nil {
		tokenKeys = set
	} else if keyErr == nil {
		tokenKeys, _ = keys.NewSet(keys.Pair{Key: keys.DevKey, Secret: keys.DevSecret})
	}
	if o.KeyFile != "" {
		l.add(FileMode("key file", o.KeyFile, Fail))
	}
	if o.EnvFile != "" {
		l.add(FileMode("env file", o.EnvFile, Warn))
	}
	p.addTokens(l, tokenKeys, needs)
	p.addCredentials(l)
	p.addLiveKit(l, set, needs)
	p.addServe(l, set, needs)
	return l.out
}

func (p *Plan) addTokens(l *planned, tokenKeys token.Keyring, needs []string) {
	o := p.o
	topts := TokenOptions{Keys: tokenKeys, OnlyKnownKeys: !o.KeysConfigured, Warn: o.Warn, Now: o.Now}
	for _, t := range o.Tokens {
		c := LiveKitToken("token", Literal(t), topts)
		c.Needs = needs
		l.add(c)
	}
	for _, f := range o.Files {
		c := LiveKitToken("token file:"+f, TokenFile(f), topts)
		c.Needs = needs
		l.add(c)
	}
	for _, pg := range o.Pages {
		var after []string
		if o.Fix {
			fc := Fix("fix html:"+pg, pg, FixOptions{Keys: tokenKeys, Warn: o.Warn, TTL: o.TTL, Now: o.Now, Force: o.Force})
			fc.Needs = needs
			after = []string{l.add(fc)} // the page is read after it is fixed
		}
		c := LiveKitToken("token html:"+pg, PageTokens(pg), topts)
		c.Needs, c.After = needs, after
		l.add(c)
	}
}

func (p *Plan) addCredentials(l *planned) {
	o := p.o
	vaultRow := false
	for _, spec := range o.Credentials {
		l.add(Credential("credential "+spec.String(), spec, o.Getenv, o.Warn, o.Now))
		if spec.Kind == credential.KindVault && !vaultRow { // one token reads them all
			vaultRow = true
			l.add(VaultToken("vault token", o.Getenv, o.Warn))
		}
	}
}

func (p *Plan) addLiveKit(l *planned, set *keys.Set, needs []string) {
	o := p.o
	if o.LiveKitURL == "" {
		return
	}
	var primary *token.Key
	if set != nil {
		primary = set.Primary()
	}
	l.add(LiveKitReachable(NameLiveKit, o.LiveKitURL, o.Client))
	api := LiveKitAPI("livekit api", o.LiveKitURL, o.Client, primary, o.Now)
	api.Needs = append([]string{NameLiveKit}, needs...)
	l.add(api)
}

func (p *Plan) addServe(l *planned, set *keys.Set, needs []string) {
	o := p.o
	if o.ServeURL == "" {
		return
	}
	var verify token.Keyring // avoids a typed nil in the interface
	if set != nil {
		verify = set
	}
	health := []string{NameServeHealth}
	withKeys := append(health[:1:1], needs...)
	l.add(ServeEndpoint(NameServeHealth, o.ServeURL, "/healthz", o.Client))
	for _, row := range []struct {
		c     Check
		needs []string
	}{
		{ServeEndpoint("serve ready", o.ServeURL, "/readyz", o.Client), withKeys},
		{ServeToken("serve token", o.ServeURL, o.Room, o.Identity, o.Client, verify, o.Now), withKeys},
		// The page is HTML whatever the keys: it needs only a live server.
		{ServePage("serve page", o.ServeURL, o.Client), health},
		// The LiveKit serve hands browsers must answer, and be the one
		// checked above: a healthy token API with a dead server_url
		// breaks every join.
		{ServeLiveKitURL("serve livekit url", o.ServeURL, o.LiveKitURL, o.Client), health},
	} {
		row.c.Needs = row.needs
		l.add(row.c)
	}
}

// KeysLoaded reports how the API keys loaded: an error fails, LiveKit's
// dev pair and secrets too short for LiveKit's server warn.
func KeysLoaded(name string, set *keys.Set, err error) Check {
	return Check{Name: name, Run: func(context.Context) Result {
		if err != nil {
			return Failf("%v", err)
		}
		if set.Dev {
			return Warnf("no API key configured: using LiveKit's dev pair %s, NOT SAFE FOR PRODUCTION", set.Primary())
		}
		names := make([]string, 0, len(set.Keys()))
		for _, k := range set.Keys() {
			names = append(names, k.String())
		}
		if len(set.ShortSecrets) > 0 {
			return Warnf("%d key(s), primary %s: %s; secret under %d characters for %s (LiveKit's server logs an error for it)",
				len(names), set.Primary().ID, strings.Join(names, ", "), keys.MinSecretLen, strings.Join(set.ShortSecrets, ", "))
		}
		return Okf("%d key(s), primary %s: %s", len(names), set.Primary().ID, strings.Join(names, ", "))
	}}
}
