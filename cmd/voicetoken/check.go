package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"voicetoken/internal/check"
	"voicetoken/internal/credential"
	"voicetoken/internal/keys"
	"voicetoken/internal/token"
)

const checkUsage = `Usage: voicetoken check [flags]

Runs the operator's runbook as checks, in parallel, each with its own
timeout, and prints one line per check: ok, warn, fail or skipped, with a
one-line reason and how long it took. Only what you name is checked:

  --token T, --file F, --html PAGE   a LiveKit token: signature (when the
                                     secret is known), exp and nbf; warn
                                     when it expires within --warn
  --credential file:PATH|env:NAME|exec:COMMAND|vault:MOUNT/PATH#FIELD
                                     an agent's upstream JWT (any alg): exp;
                                     read as proxy reads it (a bare path,
                                     file://localhost/..., exec: run);
                                     default file:$PODIUM_TOKEN_FILE;
                                     for vault:, a "vault token" row too:
                                     its TTL, renewable, not a root token
  --livekit-url URL (LIVEKIT_URL)    LiveKit answers HTTP, and accepts our
                                     API key (Twirp RoomService/ListRooms)
  --serve-url URL                    our own 'voicetoken serve': /healthz,
                                     /readyz, /api/token verifies, / is HTML,
                                     and the server_url it hands browsers
                                     answers and is the LiveKit checked
  --key-file F, --env-file F         the secret file is private (0600)

Exit: 0 all ok (warnings allowed), 1 any fail (or any warn with --strict),
3 usage. The table is coloured on a terminal (not with NO_COLOR), plain
when piped; --json prints one JSON object.

--fix re-mints a token hardcoded in an --html page when it is expired or
expires within --warn: same identity, room and grants, same lifetime (at
most 7 days, or --ttl; a lifetime within --warn is lengthened by --warn,
so the new token clears the window instead of staying EXPIRING), signed
by the same API key; the page is replaced atomically, every other byte
unchanged, owner, group and mode kept (also for PAGE.bak, the old page).
As for rotate, a symlinked page in a directory others can write, or a
page another user owns in a world-writable one, is refused unless
--force. A safe cron line:

  0 * * * * voicetoken check --html /srv/voice/voice-agent-selector.html --fix --env-file /etc/voicetoken/livekit.env

--watch 5m re-runs the checks every 5 minutes and serves them as
Prometheus gauges on --metrics-addr (/metrics; any address, e.g. :9101
in a pod: it serves no token): voicetoken_check_status{check} 1 ok,
0.5 warn, 0 fail, -1 skipped; voicetoken_check_token_expiry_seconds
{check} for every token and credential checked; voicetoken_check_warn_
seconds (--warn); voicetoken_check_duration_seconds. Alert rules:
deploy/prometheus/voicetoken-check-rules.yml.

Examples:
  voicetoken check --html voice-agent-selector.html
  LIVEKIT_URL=ws://127.0.0.1:7880 voicetoken check --serve-url http://127.0.0.1:9000 --strict
  voicetoken check --credential file:/run/secrets/podium_token --warn 6h --json
  voicetoken check --livekit-url ws://127.0.0.1:7880 --watch 5m --metrics-addr 127.0.0.1:9101`

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// checkOpts are the parsed flags of `check`.
type checkOpts struct {
	kf          keyFlags
	tokens      repeated
	files       repeated
	pages       repeated
	credentials []credential.Spec
	livekitURL  string // http(s) form
	serveURL    string
	room        string
	identity    string
	warn        time.Duration
	ttl         time.Duration
	timeout     time.Duration
	fix         bool
	force       bool
}

func runCheck(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "check", checkUsage)
	var (
		o           checkOpts
		creds       repeated
		livekitURL  = fs.String("livekit-url", "", "LiveKit server URL, ws(s):// or http(s):// (env LIVEKIT_URL)")
		serveURL    = fs.String("serve-url", "", "base URL of a 'voicetoken serve' to check, e.g. http://127.0.0.1:9000")
		strict      = fs.Bool("strict", false, "exit 1 on a warning too")
		asJSON      = fs.Bool("json", false, "print the results as JSON")
		watch       = fs.Duration("watch", 0, "re-run every interval (e.g. 5m) and serve Prometheus metrics until interrupted")
		metricsAddr = fs.String("metrics-addr", "127.0.0.1:9101", "with --watch: where to serve /metrics")
	)
	o.kf.register(fs)
	fs.Var(&o.tokens, "token", "a LiveKit token to check; '-' reads stdin (repeatable)")
	fs.Var(&o.files, "file", "a file holding a LiveKit token (repeatable)")
	fs.Var(&o.pages, "html", "an HTML page holding const TOKEN = '...' (repeatable)")
	fs.Var(&creds, "credential", "an agent's upstream token: "+credential.Syntax()+", as proxy reads it (repeatable; default file:$PODIUM_TOKEN_FILE)")
	fs.StringVar(&o.room, "room", "test-room", "room to ask --serve-url's /api/token for")
	fs.StringVar(&o.identity, "identity", "voicetoken-check", "identity to ask --serve-url's /api/token for")
	fs.DurationVar(&o.warn, "warn", 2*time.Hour, "warn when a token expires within this")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "timeout of each check")
	fs.BoolVar(&o.fix, "fix", false, "re-mint an expired or expiring token in each --html page, in place, with a backup")
	fs.DurationVar(&o.ttl, "ttl", 0, "with --fix: lifetime of the new token (default: the old token's, plus --warn when within it, at most 7d)")
	fs.BoolVar(&o.force, "force", false, "with --fix: write a symlinked page even in a directory others can write")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q; give tokens with --token, --file or --html", fs.Arg(0))
	}
	switch {
	case o.warn < 0:
		return usageErr("--warn must not be negative")
	case o.timeout <= 0:
		return usageErr("--timeout must be positive")
	case o.ttl < 0:
		return usageErr("--ttl must not be negative")
	case *watch < 0:
		return usageErr("--watch must be positive")
	case o.fix && len(o.pages) == 0:
		return usageErr("--fix needs --html PAGE: it rewrites the token hardcoded in a page")
	case o.ttl > 0 && !o.fix:
		return usageErr("--ttl is for --fix")
	case o.force && !o.fix:
		return usageErr("--force is for --fix")
	}
	if len(creds) == 0 && e.getenv("PODIUM_TOKEN_FILE") != "" {
		creds = append(creds, "file:"+e.getenv("PODIUM_TOKEN_FILE")) // as proxy, run and rotate default
	}
	for _, c := range creds {
		spec, err := credential.ParseSpec(c)
		if err != nil {
			return usageErr("--credential: %v", err)
		}
		o.credentials = append(o.credentials, spec)
	}
	lk, err := o.kf.livekitURL(e, *livekitURL, "")
	if err != nil {
		return usageErr("%v", err)
	}
	*livekitURL = lk
	if *livekitURL != "" {
		u, err := check.HTTPURL(*livekitURL)
		if err != nil {
			return usageErr("LiveKit URL: %v", err)
		}
		o.livekitURL = u
	}
	if *serveURL != "" {
		u, err := check.HTTPURL(*serveURL)
		if err != nil {
			return usageErr("--serve-url: %v", err)
		}
		o.serveURL = u
	}
	for i, t := range o.tokens {
		if t != "-" {
			continue
		}
		data, err := readSource(e, "-")
		if err != nil {
			return err
		}
		o.tokens[i] = token.Clean(string(data))
	}
	client := check.NewHTTPClient()
	if len(o.build(e, client)) == 0 {
		return usageErr("nothing to check: give --token, --file, --html, --credential, --livekit-url (or LIVEKIT_URL), --serve-url or --key-file")
	}
	runner := &check.Runner{Timeout: o.timeout, Now: e.now}
	round := func(ctx context.Context) []check.Result {
		// Checks are rebuilt each round so that --watch sees rotated keys.
		return runner.Run(ctx, o.build(e, client))
	}
	if *watch > 0 {
		return watchChecks(ctx, e, round, watchOpts{every: *watch, addr: *metricsAddr, warn: o.warn, asJSON: *asJSON})
	}
	results := round(ctx)
	if err := writeResults(e, "CHECK", results, *asJSON, *strict, false); err != nil {
		return err
	}
	if code := check.ExitCode(results, *strict); code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// build lists the checks the options ask for, in table order. Checks that
// need keys name the "keys" check, so a key problem shows once.
func (o *checkOpts) build(e *env, client *http.Client) []check.Check {
	var out []check.Check
	names := map[string]int{}
	add := func(c check.Check) {
		if n := names[c.Name]; n > 0 {
			c.Name = fmt.Sprintf("%s #%d", c.Name, n+1)
		}
		names[c.Name]++
		out = append(out, c)
	}
	configured := o.kf.configured(e)
	needKeys := configured || o.livekitURL != "" || o.serveURL != "" || o.fix
	var set *keys.Set
	var keyErr error
	var needs []string
	if needKeys {
		set, keyErr = keys.Load(keys.Config{
			APIKey: o.kf.apiKey, APISecret: o.kf.apiSecret, EnvFile: o.kf.envFile, KeyFile: o.kf.keyFile,
			Primary: o.kf.primary, Getenv: e.getenv, AllowDev: true,
		})
		add(keysCheck(set, keyErr))
		needs = []string{"keys"}
	}
	// Without configured keys, tokens issued by LiveKit's dev key are
	// checked with the dev secret (as `verify` does); others unsigned.
	var tokenKeys token.Keyring
	if set != nil {
		tokenKeys = set
	} else if keyErr == nil {
		tokenKeys, _ = keys.NewSet(keys.Pair{Key: keys.DevKey, Secret: keys.DevSecret})
	}
	if kf := firstNonEmpty(o.kf.keyFile, e.getenv(keys.EnvKeyFile)); kf != "" {
		add(check.FileMode("key file", kf, check.Fail))
	}
	if o.kf.envFile != "" {
		add(check.FileMode("env file", o.kf.envFile, check.Warn))
	}
	topts := check.TokenOptions{Keys: tokenKeys, OnlyKnownKeys: !configured, Warn: o.warn, Now: e.now}
	for _, t := range o.tokens {
		c := check.LiveKitToken("token", check.Literal(t), topts)
		c.Needs = needs
		add(c)
	}
	for _, f := range o.files {
		c := check.LiveKitToken("token file:"+f, check.TokenFile(f), topts)
		c.Needs = needs
		add(c)
	}
	for _, p := range o.pages {
		var after []string
		if o.fix {
			fc := check.Fix("fix html:"+p, p, check.FixOptions{Keys: tokenKeys, Warn: o.warn, TTL: o.ttl, Now: e.now, Force: o.force})
			fc.Needs = needs
			add(fc)
			after = []string{out[len(out)-1].Name}
		}
		c := check.LiveKitToken("token html:"+p, check.PageTokens(p), topts)
		c.Needs, c.After = needs, after
		add(c)
	}
	vaultRow := false
	for _, spec := range o.credentials {
		add(check.Credential("credential "+spec.String(), spec, e.getenv, o.warn, e.now))
		if spec.Kind == credential.KindVault && !vaultRow { // one token reads them all
			vaultRow = true
			add(check.VaultToken("vault token", e.getenv, o.warn))
		}
	}
	var primary *token.Key
	if set != nil {
		primary = set.Primary()
	}
	if o.livekitURL != "" {
		add(check.LiveKitReachable("livekit", o.livekitURL, client))
		api := check.LiveKitAPI("livekit api", o.livekitURL, client, primary, e.now)
		api.Needs = append([]string{"livekit"}, needs...)
		add(api)
	}
	if o.serveURL != "" {
		add(check.ServeEndpoint("serve health", o.serveURL, "/healthz", client))
		for _, c := range []check.Check{
			check.ServeEndpoint("serve ready", o.serveURL, "/readyz", client),
			check.ServeToken("serve token", o.serveURL, o.room, o.identity, client, setOrNil(set), e.now),
			check.ServePage("serve page", o.serveURL, client),
		} {
			c.Needs = append([]string{"serve health"}, needs...)
			if c.Name == "serve page" {
				c.Needs = []string{"serve health"}
			}
			add(c)
		}
		// The LiveKit serve hands browsers must answer, and be the one
		// checked above: a healthy token API with a dead server_url
		// breaks every join.
		lk := check.ServeLiveKitURL("serve livekit url", o.serveURL, o.livekitURL, client)
		lk.Needs = []string{"serve health"}
		add(lk)
	}
	return out
}

// setOrNil avoids a typed nil in an interface.
func setOrNil(s *keys.Set) token.Keyring {
	if s == nil {
		return nil
	}
	return s
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// keysCheck reports how the API keys loaded: the dev pair is a warning.
func keysCheck(set *keys.Set, err error) check.Check {
	return check.Check{Name: "keys", Run: func(context.Context) check.Result {
		if err != nil {
			return check.Failf("%v", err)
		}
		if set.Dev {
			return check.Warnf("no API key configured: using LiveKit's dev pair %s, NOT SAFE FOR PRODUCTION", set.Primary())
		}
		names := make([]string, 0, len(set.Keys()))
		for _, k := range set.Keys() {
			names = append(names, k.String())
		}
		if len(set.ShortSecrets) > 0 {
			return check.Warnf("%d key(s), primary %s: %s; secret under %d characters for %s (LiveKit's server logs an error for it)",
				len(names), set.Primary().ID, strings.Join(names, ", "), keys.MinSecretLen, strings.Join(set.ShortSecrets, ", "))
		}
		return check.Okf("%d key(s), primary %s: %s", len(names), set.Primary().ID, strings.Join(names, ", "))
	}}
}

// writeResults prints one round: a table (coloured on a terminal) or JSON.
// The table's first column is headed title ("CHECK", "STEP").
func writeResults(e *env, title string, results []check.Result, asJSON, strict, compact bool) error {
	if asJSON {
		return check.WriteJSON(e.stdout, check.NewReport(results, e.now(), strict), compact)
	}
	return check.WriteTableTitled(e.stdout, title, results, useColour(e))
}

// useColour reports whether stdout is a terminal and colour is wanted
// (https://no-color.org).
func useColour(e *env) bool {
	if e.getenv("NO_COLOR") != "" || e.getenv("TERM") == "dumb" {
		return false
	}
	f, ok := e.stdout.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// watchOpts are the flags of check --watch.
type watchOpts struct {
	every  time.Duration
	addr   string
	warn   time.Duration
	asJSON bool
}

// watchChecks runs a round every interval, prints it, and serves the
// results as Prometheus metrics until ctx ends (SIGINT, SIGTERM).
func watchChecks(ctx context.Context, e *env, round func(context.Context) []check.Result, w watchOpts) error {
	every, addr, asJSON := w.every, w.addr, w.asJSON
	log := slog.New(slog.NewJSONHandler(e.stderr, nil))
	reg := prometheus.NewRegistry()
	m, err := check.NewMetrics(reg, check.MetricsOptions{Warn: w.warn, Now: e.now})
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	log.Info("serving check metrics", slog.String("event", "check_watch_started"),
		slog.String("url", "http://"+ln.Addr().String()+"/metrics"), slog.String("interval", every.String()))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() {
		// The Go and process series come from client_golang's default registry.
		served <- check.ServeMetrics(ctx, ln, prometheus.Gatherers{reg, prometheus.DefaultGatherer}, log)
		cancel() // a metrics server that died ends the watch
	}()
	// SIGHUP (systemctl reload) runs a round now, as a daemon's reload
	// is expected to; without this handler it would end the process.
	kick := make(chan struct{}, 1)
	defer onSIGHUP(ctx, func() {
		select {
		case kick <- struct{}{}:
		default: // a round is already due
		}
	})()
	werr := check.Watch(ctx, every, kick, round, func(results []check.Result) {
		at := e.now()
		m.Observe(results, at)
		s := check.Summarize(results)
		log.Info("check round", slog.String("event", "check_round"), slog.String("status", check.Overall(results).String()),
			slog.Int("ok", s.OK), slog.Int("warn", s.Warn), slog.Int("fail", s.Fail), slog.Int("skipped", s.Skipped))
		if !asJSON {
			fmt.Fprintf(e.stdout, "== %s\n", at.UTC().Format("2006-01-02 15:04:05 UTC"))
		}
		if err := writeResults(e, "CHECK", results, asJSON, false, true); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			log.Warn("cannot write results", slog.String("event", "check_output_failed"), slog.String("error", err.Error()))
		}
	})
	cancel()
	if err := <-served; err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if errors.Is(werr, context.Canceled) {
		return nil
	}
	return werr
}
