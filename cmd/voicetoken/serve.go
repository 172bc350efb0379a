package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"time"

	"voicetoken/internal/keys"
	"voicetoken/internal/policy"
	"voicetoken/internal/ratelimit"
	"voicetoken/internal/server"
	"voicetoken/web"
)

const serveUsage = `Usage: voicetoken serve [flags]

Runs the token API, the voice page, /healthz, /readyz and /metrics on
127.0.0.1:9000. With nothing configured it uses LiveKit's dev key pair
(devkey/secret, with a warning), LiveKit at ws://127.0.0.1:7880, and the
built-in policy: room test-room (the default room) or any other safe room
name, browser grants only, at most 24h, same-origin browsers only.

Endpoints:
  GET  /api/token?room=&identity=&ttl=&name=   {"token","ttl_hours","room","identity","expires_at","server_url"}
  POST /api/token   LiveKit's TokenSource.endpoint() contract -> 201 {"server_url","participant_token"}
  GET  /api/rooms   GET /api/config   GET /healthz   GET /readyz   GET /metrics   GET /

Flags override the policy file; the environment fills flags left unset:
  --addr VOICETOKEN_ADDR   --livekit-url LIVEKIT_URL   --public-livekit-url VOICETOKEN_PUBLIC_LIVEKIT_URL
  --policy VOICETOKEN_POLICY   --origin VOICETOKEN_ORIGINS   --allow-host VOICETOKEN_HOSTS (comma-separated)
  --redis VOICETOKEN_REDIS_URL, then REDIS_URL

With --redis redis://[user:password@]host:6379/0 (rediss:// for TLS) the
rate limits are shared by every replica using that Redis; when Redis is
down or slower than --redis-timeout each replica limits on its own
(RATE_LIMIT_DEGRADED) until it answers again.

With a LiveKit URL other than the dev default, /readyz also checks that
LiveKit answers (--check-livekit=false turns that off).

On a loopback address the server answers only to Host localhost, 127.0.0.1
and ::1 (and the policy's hosts:), against DNS rebinding. Beyond loopback,
browsers get server-chosen identities unless the policy sets
browser.server_identity: false. Browsers never get a reserved identity (an
agent's, agent-*, the policy's identity.reserved) nor dispatch an agent
with their own job metadata. Rate limits key IPv6 clients by /64; a wrong
API key spends from its address's bucket. A request with
Transfer-Encoding gets 400 and its connection is closed.

Signed-in users (policy oidc:, forward_auth:, users:): a user's OpenID Connect
ID token as "Authorization: Bearer", or the header of a forward-auth proxy
(believed from trusted_proxies only), gives the LiveKit identity; the caller
never names it. The page reads the ID token from --page-id-token
(VOICETOKEN_PAGE_ID_TOKEN, default sessionStorage:voicetoken.id_token) or a
<meta name="voicetoken-id-token">.

Signals: SIGTERM/SIGINT shut down gracefully; SIGHUP reloads the key file and
the policy (a bad new file is refused and the running one stays). They are
also reloaded when they change on disk (a rename over them, or Kubernetes'
ConfigMap/Secret ..data swap).

Examples:
  voicetoken serve
  curl 'http://127.0.0.1:9000/api/token?room=test-room&identity=u1'
  voicetoken serve --policy examples/policy.yaml --key-file /etc/voicetoken/keys.yaml
  LIVEKIT_URL=wss://example.livekit.cloud voicetoken serve --env-file .env --origin https://app.example.com`

// serveGCPercent is serve's GOGC unless the environment sets one.
const serveGCPercent = 200

// serveFlags are the parsed flags of `serve`.
type serveFlags struct {
	keys                                                  keyFlags
	addr, lkURL, pubURL, policyFile, defRoom, pageIDToken string
	logLevel, redisURL                                    string
	rate                                                  float64
	burst                                                 int
	checkLK                                               bool
	redisTimeout                                          time.Duration
	origins, allowRooms, hosts                            listFlag
	maxTTL                                                ttlFlag
}

// register defines serve's flags; the environment gives the defaults
// -h shows (never a Redis URL's: it may hold a password).
func (f *serveFlags) register(fs *flag.FlagSet, e *env) {
	f.keys.register(fs)
	fs.StringVar(&f.addr, "addr", envOr(e, "VOICETOKEN_ADDR", server.DefaultAddr), "listen address host:port (env VOICETOKEN_ADDR); keep it on loopback behind a proxy")
	fs.StringVar(&f.lkURL, "livekit-url", "", "LiveKit server URL (env LIVEKIT_URL, or LIVEKIT_URL in --env-file; default "+server.DefaultLiveKitURL+")")
	fs.StringVar(&f.pubURL, "public-livekit-url", e.getenv("VOICETOKEN_PUBLIC_LIVEKIT_URL"), "LiveKit URL as browsers reach it (default: --livekit-url)")
	fs.StringVar(&f.policyFile, "policy", e.getenv("VOICETOKEN_POLICY"), "policy file (YAML; see examples/policy.yaml)")
	fs.StringVar(&f.defRoom, "default-room", "", "room for GET /api/token without ?room= (overrides the policy's default_room)")
	fs.Float64Var(&f.rate, "rate", 0, "token requests per second per client address (0 = no limit; default 5)")
	fs.IntVar(&f.burst, "burst", 0, "burst per client address (default 50)")
	fs.BoolVar(&f.checkLK, "check-livekit", false, "/readyz also checks that LiveKit answers HTTP (default: on unless LiveKit is the dev default "+server.DefaultLiveKitURL+")")
	fs.StringVar(&f.pageIDToken, "page-id-token", e.getenv("VOICETOKEN_PAGE_ID_TOKEN"), "where the app keeps a signed-in user's ID token for the page: sessionStorage:KEY or localStorage:KEY (default sessionStorage:voicetoken.id_token)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.redisURL, "redis", "", "Redis shared by the replicas for rate limits, redis:// or rediss:// (env VOICETOKEN_REDIS_URL, REDIS_URL)")
	fs.DurationVar(&f.redisTimeout, "redis-timeout", ratelimit.DefaultTimeout, "longest wait for Redis per request; slower, the local limits decide")
	fs.Var(&f.origins, "origin", "browser origin allowed cross-origin, e.g. https://app.example.com (repeatable; env VOICETOKEN_ORIGINS)")
	fs.Var(&f.hosts, "allow-host", "Host name the server answers to besides localhost (repeatable; env VOICETOKEN_HOSTS, comma-separated); needed behind a proxy that forwards the public Host")
	fs.Var(&f.allowRooms, "allow-room", "room name or glob browsers may join (repeatable; replaces the policy's allow_rooms)")
	fs.Var(&f.maxTTL, "max-ttl", "longest token validity a browser may ask for (default 24h)")
}

// serveConfig is what the flags of `serve` resolve to.
type serveConfig struct {
	keys keyFlags
	// server lacks Keys, Policy and Reload: load reads those, at start
	// and on every reload.
	server       server.Config
	policyFile   string
	overrides    policy.Overrides
	level        slog.Level
	redisURL     string
	redisTimeout time.Duration
}

// parseServeFlags turns serve's arguments and environment into its
// config.
func parseServeFlags(e *env, args []string) (serveConfig, error) {
	fs := newFlagSet(e, "serve", serveUsage)
	var f serveFlags
	f.register(fs, e)
	if err := parseFlags(fs, args); err != nil {
		return serveConfig{}, err
	}
	return f.config(e, flagsSet(fs), fs.Args())
}

// config resolves the flags (set names those given) and the environment
// (LIVEKIT_URL, VOICETOKEN_HOSTS, VOICETOKEN_ORIGINS, VOICETOKEN_REDIS_URL,
// REDIS_URL) and checks them, returning every problem at once as one
// usage error. The only file it reads is --env-file, for LIVEKIT_URL.
func (f *serveFlags) config(e *env, set map[string]bool, args []string) (serveConfig, error) {
	var problems []error
	if len(args) > 0 {
		problems = append(problems, fmt.Errorf("unexpected argument %q", args[0]))
	}
	lkURL, err := f.keys.livekitURL(e, f.lkURL, server.DefaultLiveKitURL)
	if err != nil {
		problems = append(problems, err)
	}
	// A LiveKit other than the dev default is a deployment: /readyz should
	// say when browsers are handed a server_url where nothing answers.
	checkLK := f.checkLK
	if !set["check-livekit"] {
		checkLK = lkURL != server.DefaultLiveKitURL
	}
	o := policy.Overrides{
		DefaultRoom: f.defRoom, AllowRooms: f.allowRooms, MaxTTL: f.maxTTL.d,
		Hosts: listOrEnv(e, f.hosts, "VOICETOKEN_HOSTS"), Origins: listOrEnv(e, f.origins, "VOICETOKEN_ORIGINS"),
	}
	if set["rate"] {
		o.AddressRate = &f.rate
		if !(f.rate >= 0 && !math.IsInf(f.rate, 0)) { // also refuses NaN
			problems = append(problems, fmt.Errorf("--rate %v: want token requests per second per client address, or 0 for no limit", f.rate))
		}
	}
	if set["burst"] {
		o.AddressBurst = &f.burst
		if f.burst < 1 {
			problems = append(problems, fmt.Errorf("--burst %d: want at least 1", f.burst))
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		problems = append(problems, fmt.Errorf("--log-level %q: want debug, info, warn or error", f.logLevel))
	}
	c := serveConfig{
		keys: f.keys,
		server: server.Config{
			Addr: f.addr, LiveKitURL: lkURL, PublicLiveKitURL: f.pubURL, Page: servePage(),
			CheckLiveKit: checkLK, PageIDToken: f.pageIDToken, Version: version(),
		},
		policyFile: f.policyFile, overrides: o, level: level,
		// Not a flag default: -h would show its password.
		redisURL:     cmp.Or(f.redisURL, e.getenv("VOICETOKEN_REDIS_URL"), e.getenv("REDIS_URL")),
		redisTimeout: f.redisTimeout,
	}
	if len(problems) > 0 {
		return c, &exitError{code: exitUsage, err: errors.Join(problems...)}
	}
	return c, nil
}

// load reads the keys and the policy and lays the flags over the policy.
// It runs at start-up and on every reload, so a reload applies the same
// flags to the new files.
func (c *serveConfig) load(e *env) (*keys.Set, *policy.File, error) {
	ks, err := c.keys.load(e, true)
	if err != nil {
		return nil, nil, err
	}
	p := policy.Default()
	if c.policyFile != "" {
		if p, err = policy.Load(c.policyFile); err != nil {
			return nil, nil, err
		}
	}
	c.overrides.Apply(p)
	return ks, p, nil
}

// watched are the files whose change reloads the keys and the policy.
func (c *serveConfig) watched(e *env) []string {
	return []string{c.policyFile, c.keys.keyFile, c.keys.envFile, e.getenv("VOICETOKEN_KEY_FILE")}
}

// limiter is the rate limiter --redis shares between replicas; nil
// without --redis. It does not wait for Redis: until Redis answers, the
// local limits decide.
func (c *serveConfig) limiter(ctx context.Context, log *slog.Logger) (*ratelimit.Redis, error) {
	if c.redisURL == "" {
		return nil, nil
	}
	rl, err := ratelimit.New(ratelimit.Config{URL: c.redisURL, Timeout: c.redisTimeout, Local: server.NewMemoryLimiter(), Logger: log})
	if err != nil {
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("--redis: %w", err)}
	}
	log.LogAttrs(ctx, slog.LevelInfo, "rate limits shared through Redis", slog.String("event", "RATE_LIMIT_REDIS"),
		slog.String("redis", ratelimit.Redact(c.redisURL)), slog.Duration("timeout", c.redisTimeout))
	_ = rl.Warm(ctx) // a failure is logged (RATE_LIMIT_DEGRADED); local limits decide meanwhile
	return rl, nil
}

func runServe(ctx context.Context, e *env, args []string) error {
	c, err := parseServeFlags(e, args)
	if err != nil {
		return err
	}
	// The access log is batched: one write per 100ms instead of one per
	// request (see server.LogBuffer); it is flushed on shutdown.
	logw := server.NewLogBuffer(e.stderr, 100*time.Millisecond)
	defer logw.Close()
	log := slog.New(slog.NewJSONHandler(logw, &slog.HandlerOptions{Level: c.level}))

	load := func() (*keys.Set, *policy.File, error) { return c.load(e) }
	ks, pol, err := load()
	logw.Flush() // key warnings and the log stay in order
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if c.policyFile == "" && !ks.Dev {
		log.LogAttrs(ctx, slog.LevelWarn, "no --policy: browsers may join test-room or any safe room name; write a policy for production",
			slog.String("event", "DEFAULT_POLICY"))
	}
	opts := []server.Option{server.WithJSONLog(logw, c.level)}
	rl, err := c.limiter(ctx, log)
	if err != nil {
		return err
	}
	if rl != nil {
		defer rl.Close()
		opts = append(opts, server.WithLimiter(rl))
	}
	cfg := c.server
	cfg.Keys, cfg.Policy, cfg.Reload = ks, pol, load
	srv, err := server.New(cfg, opts...)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	ln, err := srv.Listen()
	if err != nil {
		return err
	}
	srv.LogListening(ln.Addr())
	logw.Flush()
	if ks.Dev {
		fmt.Fprintf(e.stderr, "voicetoken serve: try  curl 'http://%s/api/token?room=test-room&identity=u1'\n", ln.Addr())
	}

	// The live heap is about 1 MB, so with GOGC=100 the collector runs at
	// its 4 MB floor: 45 times a second at 30k tokens/s, 6% of the CPU.
	// 200 halves that for about 4 MB of RSS (bench/README.md). GOGC in
	// the environment wins.
	if e.getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
	// A reload is logged by the server; the old config stays on error.
	defer onSIGHUP(ctx, func() { _ = srv.Reload() })()
	// The files are reloaded on change too (Kubernetes' ConfigMap and
	// Secret updates), without a signal.
	if err := srv.WatchFiles(ctx, c.watched(e)...); err != nil {
		return err
	}
	return srv.Serve(ctx, ln)
}

// servePage is the voice page served at "/": the bundle built from web/src
// and embedded in the binary.
func servePage() fs.FS { return web.Assets() }

// envOr is the environment variable name, or def when it is empty.
func envOr(e *env, name, def string) string {
	return cmp.Or(e.getenv(name), def)
}

// listOrEnv is a repeatable flag's values, or the comma-separated list in
// the environment variable name when the flag was not given.
func listOrEnv(e *env, l listFlag, name string) []string {
	if len(l) > 0 {
		return l
	}
	return splitList(e.getenv(name))
}

// splitList splits a comma-separated environment value, dropping blanks.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
