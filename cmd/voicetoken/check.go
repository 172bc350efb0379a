package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
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

// checkFlags are the parsed flags of `check`.
type checkFlags struct {
	kf          keyFlags
	tokens      repeated
	files       repeated
	pages       repeated
	creds       repeated
	livekitURL  string
	serveURL    string
	room        string
	identity    string
	warn        time.Duration
	ttl         time.Duration
	timeout     time.Duration
	watch       time.Duration
	metricsAddr string
	fix         bool
	force       bool
	strict      bool
	asJSON      bool
}

func (f *checkFlags) register(fs *flag.FlagSet) {
	f.kf.register(fs)
	fs.StringVar(&f.livekitURL, "livekit-url", "", "LiveKit server URL, ws(s):// or http(s):// (env LIVEKIT_URL)")
	fs.StringVar(&f.serveURL, "serve-url", "", "base URL of a 'voicetoken serve' to check, e.g. http://127.0.0.1:9000")
	fs.BoolVar(&f.strict, "strict", false, "exit 1 on a warning too")
	fs.BoolVar(&f.asJSON, "json", false, "print the results as JSON")
	fs.DurationVar(&f.watch, "watch", 0, "re-run every interval (e.g. 5m) and serve Prometheus metrics until interrupted")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "127.0.0.1:9101", "with --watch: where to serve /metrics")
	fs.Var(&f.tokens, "token", "a LiveKit token to check; '-' reads stdin (repeatable)")
	fs.Var(&f.files, "file", "a file holding a LiveKit token (repeatable)")
	fs.Var(&f.pages, "html", "an HTML page holding const TOKEN = '...' (repeatable)")
	fs.Var(&f.creds, "credential", "an agent's upstream token: "+credential.Syntax()+", as proxy reads it (repeatable; default file:$PODIUM_TOKEN_FILE)")
	fs.StringVar(&f.room, "room", "test-room", "room to ask --serve-url's /api/token for")
	fs.StringVar(&f.identity, "identity", "", "identity to ask --serve-url's /api/token for (default: none; any identity serve chooses is accepted, as a serve beyond loopback refuses browsers' own)")
	fs.DurationVar(&f.warn, "warn", 2*time.Hour, "warn when a token expires within this")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "timeout of each check")
	fs.BoolVar(&f.fix, "fix", false, "re-mint an expired or expiring token in each --html page, in place, with a backup")
	fs.DurationVar(&f.ttl, "ttl", 0, "with --fix: lifetime of the new token (default: the old token's, plus --warn when within it, at most 7d)")
	fs.BoolVar(&f.force, "force", false, "with --fix: write a symlinked page even in a directory others can write")
}

// validate checks the flags against each other, without I/O, returning
// every problem at once.
func (f *checkFlags) validate() error {
	var problems []error
	for _, c := range []struct {
		bad bool
		msg string
	}{
		{f.warn < 0, "--warn must not be negative"},
		{f.timeout <= 0, "--timeout must be positive"},
		{f.ttl < 0, "--ttl must not be negative"},
		{f.watch < 0, "--watch must be positive"},
		{f.fix && len(f.pages) == 0, "--fix needs --html PAGE: it rewrites the token hardcoded in a page"},
		{f.ttl > 0 && !f.fix, "--ttl is for --fix"},
		{f.force && !f.fix, "--force is for --fix"},
	} {
		if c.bad {
			problems = append(problems, errors.New(c.msg))
		}
	}
	if len(problems) > 0 {
		return &exitError{code: exitUsage, err: errors.Join(problems...)}
	}
	return nil
}

// plan resolves the flags and the environment into the check plan.
func (f *checkFlags) plan(e *env, client *http.Client) (*check.Plan, error) {
	o := check.PlanOptions{
		KeysConfigured: f.kf.configured(e),
		KeyFile:        cmp.Or(f.kf.keyFile, e.getenv(keys.EnvKeyFile)),
		EnvFile:        f.kf.envFile,
		Tokens:         f.tokens, Files: f.files, Pages: f.pages,
		Room: f.room, Identity: f.identity,
		Warn: f.warn, Fix: f.fix, TTL: f.ttl, Force: f.force,
		Client: client, Getenv: e.getenv, Now: e.now,
		LoadKeys: func() (*keys.Set, error) {
			return keys.Load(keys.Config{
				APIKey: f.kf.apiKey, APISecret: f.kf.apiSecret, EnvFile: f.kf.envFile, KeyFile: f.kf.keyFile,
				Primary: f.kf.primary, Getenv: e.getenv, AllowDev: true,
			})
		},
	}
	var err error
	if o.Credentials, err = f.credentials(e); err != nil {
		return nil, err
	}
	if o.LiveKitURL, o.ServeURL, err = f.urls(e); err != nil {
		return nil, err
	}
	if err := readStdinTokens(e, o.Tokens); err != nil {
		return nil, err
	}
	return check.NewPlan(o), nil
}

// credentials are the --credential specs, or PODIUM_TOKEN_FILE's file
// as proxy, run and rotate default.
func (f *checkFlags) credentials(e *env) ([]credential.Spec, error) {
	creds := f.creds
	if len(creds) == 0 && e.getenv("PODIUM_TOKEN_FILE") != "" {
		creds = repeated{"file:" + e.getenv("PODIUM_TOKEN_FILE")}
	}
	var specs []credential.Spec
	for _, c := range creds {
		spec, err := credential.ParseSpec(c)
		if err != nil {
			return nil, usageErr("--credential: %v", err)
		}
		specs = append(specs, spec)
	}
	return specs, nil
}

// urls are the LiveKit URL (--livekit-url, else LIVEKIT_URL from the
// environment or the --env-file) and --serve-url, both in their http(s)
// form; "" when not given.
func (f *checkFlags) urls(e *env) (livekit, serve string, err error) {
	lk, err := f.kf.livekitURL(e, f.livekitURL, "")
	if err != nil {
		return "", "", usageErr("%v", err)
	}
	if lk != "" {
		if livekit, err = check.HTTPURL(lk); err != nil {
			return "", "", usageErr("LiveKit URL: %v", err)
		}
	}
	if f.serveURL != "" {
		if serve, err = check.HTTPURL(f.serveURL); err != nil {
			return "", "", usageErr("--serve-url: %v", err)
		}
	}
	return livekit, serve, nil
}

// readStdinTokens replaces a --token - with the token read from stdin.
func readStdinTokens(e *env, tokens []string) error {
	for i, t := range tokens {
		if t != "-" {
			continue
		}
		data, err := readSource(e, "-")
		if err != nil {
			return err
		}
		tokens[i] = token.Clean(string(data))
	}
	return nil
}

func runCheck(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "check", checkUsage)
	var f checkFlags
	f.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q; give tokens with --token, --file or --html", fs.Arg(0))
	}
	if err := f.validate(); err != nil {
		return err
	}
	plan, err := f.plan(e, check.NewHTTPClient())
	if err != nil {
		return err
	}
	if len(plan.Checks()) == 0 {
		return usageErr("nothing to check: give --token, --file, --html, --credential, --livekit-url (or LIVEKIT_URL), --serve-url or --key-file")
	}
	runner := &check.Runner{Timeout: f.timeout, Now: e.now}
	round := func(ctx context.Context) []check.Result {
		// Checks are rebuilt each round so that --watch sees rotated keys.
		return runner.Run(ctx, plan.Checks())
	}
	if f.watch > 0 {
		return watchChecks(ctx, e, round, watchOpts{every: f.watch, addr: f.metricsAddr, warn: f.warn, asJSON: f.asJSON})
	}
	results := round(ctx)
	if err := writeResults(e, "CHECK", results, f.asJSON, f.strict, false); err != nil {
		return err
	}
	if code := check.ExitCode(results, f.strict); code != 0 {
		return &exitError{code: code}
	}
	return nil
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
