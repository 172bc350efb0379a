package main

import (
	"context"
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

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "serve", serveUsage)
	var kf keyFlags
	kf.register(fs)
	envOr := func(name, def string) string {
		if v := e.getenv(name); v != "" {
			return v
		}
		return def
	}
	var (
		origins    listFlag
		allowRooms listFlag
		hosts      listFlag
		maxTTL     = ttlFlag{}
		addr       = fs.String("addr", envOr("VOICETOKEN_ADDR", server.DefaultAddr), "listen address host:port (env VOICETOKEN_ADDR); keep it on loopback behind a proxy")
		lkURL      = fs.String("livekit-url", "", "LiveKit server URL (env LIVEKIT_URL, or LIVEKIT_URL in --env-file; default "+server.DefaultLiveKitURL+")")
		pubURL     = fs.String("public-livekit-url", e.getenv("VOICETOKEN_PUBLIC_LIVEKIT_URL"), "LiveKit URL as browsers reach it (default: --livekit-url)")
		policyFile = fs.String("policy", e.getenv("VOICETOKEN_POLICY"), "policy file (YAML; see examples/policy.yaml)")
		defRoom    = fs.String("default-room", "", "room for GET /api/token without ?room= (overrides the policy's default_room)")
		rate       = fs.Float64("rate", 0, "token requests per second per client address (0 = no limit; default 5)")
		burst      = fs.Int("burst", 0, "burst per client address (default 50)")
		checkLK    = fs.Bool("check-livekit", false, "/readyz also checks that LiveKit answers HTTP (default: on unless LiveKit is the dev default "+server.DefaultLiveKitURL+")")
		pageIDTok  = fs.String("page-id-token", e.getenv("VOICETOKEN_PAGE_ID_TOKEN"), "where the app keeps a signed-in user's ID token for the page: sessionStorage:KEY or localStorage:KEY (default sessionStorage:voicetoken.id_token)")
		logLevel   = fs.String("log-level", "info", "debug, info, warn or error")
		redisURL   = fs.String("redis", "", "Redis shared by the replicas for rate limits, redis:// or rediss:// (env VOICETOKEN_REDIS_URL, REDIS_URL)")
		redisWait  = fs.Duration("redis-timeout", ratelimit.DefaultTimeout, "longest wait for Redis per request; slower, the local limits decide")
	)
	fs.Var(&origins, "origin", "browser origin allowed cross-origin, e.g. https://app.example.com (repeatable; env VOICETOKEN_ORIGINS)")
	fs.Var(&hosts, "allow-host", "Host name the server answers to besides localhost (repeatable; env VOICETOKEN_HOSTS, comma-separated); needed behind a proxy that forwards the public Host")
	fs.Var(&allowRooms, "allow-room", "room name or glob browsers may join (repeatable; replaces the policy's allow_rooms)")
	fs.Var(&maxTTL, "max-ttl", "longest token validity a browser may ask for (default 24h)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	var err error
	set := flagsSet(fs)
	if *lkURL, err = kf.livekitURL(e, *lkURL, server.DefaultLiveKitURL); err != nil {
		return usageErr("%v", err)
	}
	// A LiveKit other than the dev default is a deployment: /readyz should
	// say when browsers are handed a server_url where nothing answers.
	if !set["check-livekit"] {
		*checkLK = *lkURL != server.DefaultLiveKitURL
	}
	if set["rate"] && !(*rate >= 0 && !math.IsInf(*rate, 0)) { // also refuses NaN
		return usageErr("--rate %v: want token requests per second per client address, or 0 for no limit", *rate)
	}
	if set["burst"] && *burst < 1 {
		return usageErr("--burst %d: want at least 1", *burst)
	}
	if *redisURL == "" { // not a flag default: -h would show its password
		*redisURL = envOr("VOICETOKEN_REDIS_URL", e.getenv("REDIS_URL"))
	}
	if len(hosts) == 0 {
		hosts = splitList(e.getenv("VOICETOKEN_HOSTS"))
	}
	if len(origins) == 0 {
		origins = splitList(e.getenv("VOICETOKEN_ORIGINS"))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageErr("--log-level %q: want debug, info, warn or error", *logLevel)
	}
	// The access log is batched: one write per 100ms instead of one per
	// request (see server.LogBuffer); it is flushed on shutdown.
	logw := server.NewLogBuffer(e.stderr, 100*time.Millisecond)
	defer logw.Close()
	log := slog.New(slog.NewJSONHandler(logw, &slog.HandlerOptions{Level: level}))

	// load reads keys and policy; it runs at start-up and on SIGHUP, so a
	// reload applies the same flags over the new files.
	load := func() (*keys.Set, *policy.File, error) {
		ks, err := kf.load(e, true)
		if err != nil {
			return nil, nil, err
		}
		p := policy.Default()
		if *policyFile != "" {
			if p, err = policy.Load(*policyFile); err != nil {
				return nil, nil, err
			}
		}
		if *defRoom != "" {
			p.DefaultRoom = *defRoom
		}
		p.Hosts = append(p.Hosts, hosts...)
		if len(allowRooms) > 0 {
			p.AllowRooms = allowRooms
		}
		if maxTTL.d > 0 {
			p.MaxTTL = policy.Duration(maxTTL.d)
			if p.DefaultTTL > p.MaxTTL {
				p.DefaultTTL = p.MaxTTL
			}
		}
		p.Origins = append(p.Origins, origins...)
		if set["rate"] || set["burst"] {
			r := policy.Rate{Rate: policy.DefaultAddressRate, Burst: policy.DefaultAddressBurst}
			if p.RateLimit.PerAddress != nil {
				r = *p.RateLimit.PerAddress
			}
			if set["rate"] {
				r.Rate = *rate
			}
			if set["burst"] {
				r.Burst = *burst
			}
			p.RateLimit.PerAddress = &r
		}
		return ks, p, nil
	}
	ks, pol, err := load()
	logw.Flush() // key warnings and the log stay in order
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if *policyFile == "" && !ks.Dev {
		log.LogAttrs(ctx, slog.LevelWarn, "no --policy: browsers may join test-room or any safe room name; write a policy for production",
			slog.String("event", "DEFAULT_POLICY"))
	}
	opts := []server.Option{server.WithJSONLog(logw, level)}
	if *redisURL != "" {
		rl, err := ratelimit.New(ratelimit.Config{URL: *redisURL, Timeout: *redisWait, Local: server.NewMemoryLimiter(), Logger: log})
		if err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("--redis: %w", err)}
		}
		defer rl.Close()
		log.LogAttrs(ctx, slog.LevelInfo, "rate limits shared through Redis", slog.String("event", "RATE_LIMIT_REDIS"),
			slog.String("redis", ratelimit.Redact(*redisURL)), slog.Duration("timeout", *redisWait))
		_ = rl.Warm(ctx) // a failure is logged (RATE_LIMIT_DEGRADED); local limits decide meanwhile
		opts = append(opts, server.WithLimiter(rl))
	}
	srv, err := server.New(server.Config{
		Addr:             *addr,
		LiveKitURL:       *lkURL,
		PublicLiveKitURL: *pubURL,
		Keys:             ks,
		Policy:           pol,
		Reload:           load,
		Page:             servePage(),
		CheckLiveKit:     *checkLK,
		PageIDToken:      *pageIDTok,
		Version:          version(),
	}, opts...)
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
	if err := srv.WatchFiles(ctx, *policyFile, kf.keyFile, kf.envFile, e.getenv("VOICETOKEN_KEY_FILE")); err != nil {
		return err
	}
	return srv.Serve(ctx, ln)
}

// servePage is the voice page served at "/": the bundle built from web/src
// and embedded in the binary.
func servePage() fs.FS { return web.Assets() }

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
