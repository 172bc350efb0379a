package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"voicetoken/internal/credential"
	"voicetoken/internal/hostlist"
	"voicetoken/internal/probe"
	"voicetoken/internal/server"
	"voicetoken/internal/supervise"
	"voicetoken/internal/upstream"
)

const proxyUsage = `Usage: voicetoken proxy --upstream URL --credential SPEC [flags]

A local reverse proxy for an agent that should not handle its upstream
token: the agent calls http://127.0.0.1:8787/... (REST and WebSocket)
and the proxy forwards to --upstream with "Authorization: Bearer <token>"
(or --header/--scheme, or --query). The token comes from --credential:

  file:/run/secrets/podium_token   reloaded on change (fsnotify, also
                                   Kubernetes Secret volumes), every
                                   --poll, and on SIGHUP
  vault:secret/podium#token        a Vault (or OpenBao) KV secret's
                                   field, read over Vault's HTTP API with
                                   VAULT_ADDR, VAULT_TOKEN (or
                                   ~/.vault-token), VAULT_NAMESPACE,
                                   VAULT_CACERT; re-read every --refresh,
                                   before expiry and on SIGHUP; a
                                   VAULT_TOKEN is renewed at 2/3 of its
                                   TTL (VAULT_TOKEN_RENEWED, or
                                   VAULT_TOKEN_EXPIRING when it cannot be)
  exec:vault kv get -field=token secret/podium
                                   any store's CLI: re-run every --refresh,
                                   before expiry and on SIGHUP
  env:PODIUM_TOKEN                 read once; the weakest option

A new value must be a JWT whose exp is in the future (and match --iss
and --aud, and with --probe be accepted by one request to the
platform); a bad one is refused (CREDENTIAL_REJECTED) and the old one
stays in use. --on-change runs a command after each accepted one (e.g.
'systemctl restart podium-voices-agent'), with VOICETOKEN_OLD_FINGERPRINT,
VOICETOKEN_NEW_FINGERPRINT and VOICETOKEN_TOKEN_SOURCE in its
environment, never the token.

With no valid token at start (missing, expired), the proxy starts anyway
(CREDENTIAL_MISSING): it answers every request 503 with a JSON reason
({"error":"no_token","reason":"no valid upstream token: ... expired 2h
ago ..."}, counted in voicetoken_proxy_no_token_total), /readyz on the
--metrics address answers 503, and it uses the token the moment a valid
one appears. --require-token exits 1 instead.

401/403 answers (--auth-failure-status narrows them) and
WebSocket closes the upstream sends first with an auth code (1008, 4001,
4003, 4401, 4403, --auth-close-codes) are logged as
{"event":"AUTH_FAILURE",...} with the token's fingerprint and
"current":false when a rotation has since replaced it; --metrics serves
Prometheus metrics on any address (it serves no token: :9788 lets
Prometheus scrape a pod). Logs are JSON lines on stderr; the token never
appears in them.

Who may call it: the proxy acts as the agent for whoever reaches it, and
browsers reach loopback. So by default it refuses (403, PROXY_REFUSED)
a Host other than localhost/127.0.0.1/[::1] (DNS rebinding) and any
request with an Origin or Sec-Fetch-Site/Sec-Fetch-Mode header (a web
page; --allow-origin re-allows one for a browser-based agent), never
forwards TRACE or CONNECT (405), and refuses a path that climbs above
the upstream's base (/../, %2e%2e, ..%2f). To share the proxy with an
agent container, listen on a Unix socket (mode 0660, --socket-group)
in a shared volume: no browser can reach it.

Examples:
  voicetoken proxy --upstream https://api.podium.example \
      --credential file:/run/secrets/podium_token
  voicetoken proxy --upstream wss://ws.podium.example --query token \
      --credential vault:secret/podium#token --metrics 127.0.0.1:9788
  voicetoken proxy --upstream https://api.podium.example \
      --credential file:/run/secrets/podium_token \
      --listen unix:/run/voicetoken/proxy.sock --socket-group agent`

// proxyFlags are the parsed flags of `proxy`.
type proxyFlags struct {
	sourceFlags
	upURL, listen, header, scheme, query    string
	closeCodes, metrics, onChange, probeURL string
	execTO, warn, upTimeout                 time.Duration
	force, requireTok                       bool
	guard                                   *proxyGuardFlags
}

func (f *proxyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.upURL, "upstream", "", "upstream base URL: https://host[/prefix] (ws/wss accepted)")
	f.sourceFlags.register(fs)
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8787", "loopback address to listen on, or unix:/run/voicetoken/proxy.sock (mode 0660; recommended to share with an agent container)")
	fs.StringVar(&f.header, "header", "Authorization", "header that carries the token")
	fs.StringVar(&f.scheme, "scheme", "Bearer", "prefix before the token in --header; '' for the bare token")
	fs.StringVar(&f.query, "query", "", "send the token as this query parameter instead of a header")
	fs.DurationVar(&f.execTO, "exec-timeout", credential.DefaultExecTimeout, "exec: timeout of one run (and of one Vault request)")
	fs.DurationVar(&f.warn, "warn", credential.DefaultExpiringWithin, "log CREDENTIAL_EXPIRING when the token expires within this")
	fs.StringVar(&f.closeCodes, "auth-close-codes", "", "extra WebSocket close codes that mean auth failure, comma-separated")
	fs.StringVar(&f.metrics, "metrics", "", "serve /metrics on this address, e.g. 127.0.0.1:9788 or :9788 for a pod's IP (it serves no token)")
	fs.DurationVar(&f.upTimeout, "upstream-timeout", upstream.DefaultResponseHeaderTimeout, "how long to wait for the upstream's response headers (504 upstream_timeout after)")
	fs.BoolVar(&f.force, "force", false, "allow a token file inside a git work tree or named like .env")
	fs.BoolVar(&f.requireTok, "require-token", false, "exit 1 at start when there is no valid token, instead of waiting for one (answering 503)")
	fs.StringVar(&f.onChange, "on-change", "", "command to run after each accepted new token, e.g. 'systemctl restart agent' (fingerprints in its environment, never the token)")
	fs.StringVar(&f.probeURL, "probe", "", "GET this upstream URL (or a ws(s):// handshake) with each new token before using it: 2xx/101 accepts, 401/403 rejects")
	f.guard = registerProxyGuardFlags(fs)
}

// proxyConfig is what the flags of `proxy` resolve to.
type proxyConfig struct {
	up        *url.URL
	spec      credential.Spec
	codes     []int
	pollEvery time.Duration
	ext       proxyExtras
}

// config resolves the flags (PODIUM_TOKEN_FILE defaults --credential) and
// checks them without I/O, returning every problem at once as one usage
// error.
func (f *proxyFlags) config(e *env) (proxyConfig, error) {
	var (
		c        proxyConfig
		problems []error
		err      error
	)
	switch {
	case f.upURL == "":
		problems = append(problems, errors.New("--upstream is required"))
	default:
		if c.up, err = upstream.ParseUpstream(f.upURL); err != nil {
			problems = append(problems, fmt.Errorf("--upstream: %v", err))
		}
	}
	if c.spec, err = f.source(e); err != nil {
		problems = append(problems, err)
	}
	if c.codes, err = parseCloseCodes(f.closeCodes); err != nil {
		problems = append(problems, err)
	}
	if err := f.guard.validate(f.listen); err != nil {
		problems = append(problems, err)
	}
	// The metrics listener may bind any address: it serves counts and
	// expiry seconds, never the token, and Prometheus in Kubernetes
	// scrapes the pod's IP, not its loopback.
	if f.metrics != "" {
		if _, _, err := net.SplitHostPort(f.metrics); err != nil {
			problems = append(problems, fmt.Errorf("--metrics: %v", err))
		}
	}
	c.pollEvery = f.pollEvery()
	if c.ext, err = parseProxyExtras(f.onChange, f.probeURL, f.header, f.scheme, f.query); err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		return c, &exitError{code: exitUsage, err: errors.Join(problems...)}
	}
	return c, nil
}

// parseCloseCodes adds --auth-close-codes to upstream's defaults.
func parseCloseCodes(list string) ([]int, error) {
	codes := upstream.DefaultAuthCloseCodes()
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1000 || n > 4999 {
			return nil, usageErr("--auth-close-codes: %q is not a close code (1000-4999)", s)
		}
		codes = append(codes, n)
	}
	return codes, nil
}

func runProxy(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "proxy", proxyUsage)
	var f proxyFlags
	f.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	c, err := f.config(e)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(e.stderr, nil))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	src, err := credential.New(ctx, credential.Config{
		Spec: c.spec, Policy: f.policy(), Logger: log, Now: e.now,
		Getenv: e.getenv, Force: f.force, PollInterval: c.pollEvery, Refresh: f.refresh, ExecTimeout: f.execTO,
		ExpiringWithin: f.warn, StartEmpty: !f.requireTok, Accept: acceptProbe(c.ext.prober),
		OnChange: c.ext.onChange(ctx, e, log, c.spec),
	})
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("load the credential: %w", err)}
	}
	runDone := make(chan struct{})
	go func() { src.Run(ctx); close(runDone) }()
	defer func() { cancel(); <-runDone }()

	return serveProxy(ctx, &f, c, src, log, e)
}

// serveProxy serves the proxy (and --metrics) until ctx ends.
func serveProxy(ctx context.Context, f *proxyFlags, c proxyConfig, src *credential.Source, log *slog.Logger, e *env) error {
	reg := prometheus.NewRegistry()
	m, err := upstream.NewMetrics(reg, src, e.now)
	if err != nil {
		return err
	}
	// SIGHUP re-reads the source, as operators expect of a daemon.
	defer onSIGHUP(ctx, func() { _, err := src.Reload(ctx); m.Reload(err) })() // the outcome is logged
	waiting, err := newNoTokenGate(reg, src)
	if err != nil {
		return err
	}
	// After an auth failure, re-read the source at most every 10s: the
	// file may have changed without an event reaching us.
	var lastReload atomic.Int64
	tr := &upstream.Transport{
		Source: src, Header: f.header, Scheme: f.scheme, NoScheme: f.scheme == "", Query: f.query,
		AuthCloseCodes: c.codes, AuthStatuses: f.guard.statuses, Logger: log, Metrics: m, Now: e.now,
		ResponseHeaderTimeout: f.upTimeout,
		OnAuthFailure: func(upstream.AuthFailure) {
			now := time.Now().UnixNano()
			if last := lastReload.Load(); now-last > int64(10*time.Second) && lastReload.CompareAndSwap(last, now) {
				go src.Reload(context.WithoutCancel(ctx))
			}
		},
	}
	ln, err := upstream.Listen(f.listen, f.guard.socketGroup)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("listen on %s: %w", f.listen, err)}
	}
	srv := &http.Server{
		Handler:           f.guard.guard(ln, waiting.wrap(upstream.NewProxy(c.up, tr)), log, m),
		ReadHeaderTimeout: 10 * time.Second, // no WriteTimeout: WebSockets and streams live long
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	servers := []*http.Server{srv}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	attrs := []slog.Attr{slog.String("event", "PROXY_LISTENING"), slog.String("addr", ln.Addr().String()),
		slog.String("upstream", c.up.Redacted()), slog.String("credential", c.spec.String()),
		slog.String("fingerprint", fpOf(src.Current()))}
	if f.metrics != "" {
		mln, err := net.Listen("tcp", f.metrics)
		if err != nil {
			srv.Close()
			return fmt.Errorf("listen for metrics: %w", err)
		}
		mux := http.NewServeMux()
		// The Go and process series come from client_golang's default registry.
		mux.Handle("GET /metrics", promhttp.HandlerFor(prometheus.Gatherers{reg, prometheus.DefaultGatherer}, promhttp.HandlerOpts{}))
		mux.HandleFunc("GET /readyz", waiting.readyz)
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, msrv)
		go func() { errc <- msrv.Serve(mln) }()
		attrs = append(attrs, slog.String("metrics", mln.Addr().String()))
	}
	log.LogAttrs(ctx, slog.LevelInfo, "proxy listening", attrs...)
	return waitProxy(ctx, log, errc, servers)
}

// waitProxy waits for ctx to end or a server to fail, then shuts down.
func waitProxy(ctx context.Context, log *slog.Logger, errc <-chan error, servers []*http.Server) error {
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
	}
	shutdownCtx, done := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer done()
	for _, s := range servers {
		s.Shutdown(shutdownCtx)
	}
	log.LogAttrs(shutdownCtx, slog.LevelInfo, "proxy stopped", slog.String("event", "PROXY_STOPPED"))
	return nil
}

// loopbackOnly refuses addresses other than loopback: the proxy hands out
// the agent's identity to whoever can connect.
func loopbackOnly(addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return err
	}
	if !server.IsLoopbackAddr(addr) {
		return fmt.Errorf("%q is not a loopback address: anyone who can reach the proxy acts as the agent (use 127.0.0.1)", addr)
	}
	return nil
}

// proxyGuardFlags are the flags of who may call the proxy and of what
// counts as an auth failure (issue 18), kept apart from the rest.
type proxyGuardFlags struct {
	allowOrigins listFlag
	socketGroup  string
	statusList   string
	statuses     []int
}

func registerProxyGuardFlags(fs *flag.FlagSet) *proxyGuardFlags {
	g := &proxyGuardFlags{}
	fs.Var(&g.allowOrigins, "allow-origin", "a browser origin (https://app.example) whose requests are forwarded, for a browser-based agent; repeatable. Default: none, every browser request is refused")
	fs.StringVar(&g.socketGroup, "socket-group", "", "group (name or ID) that owns the unix: socket, e.g. the agent container's")
	fs.StringVar(&g.statusList, "auth-failure-status", "401,403", "HTTP statuses logged as AUTH_FAILURE, comma-separated (401 alone when the platform's 403 means a forbidden resource)")
	return g
}

// validate checks the guard's flags against --listen and parses
// --auth-failure-status, returning every problem at once.
func (g *proxyGuardFlags) validate(listen string) error {
	var problems []error
	if !strings.HasPrefix(listen, "unix:") {
		if err := loopbackOnly(listen); err != nil {
			problems = append(problems, fmt.Errorf("--listen: %w", err))
		}
		if g.socketGroup != "" {
			problems = append(problems, errors.New("--socket-group: only with --listen unix:/path"))
		}
	}
	for _, o := range g.allowOrigins {
		if !isOrigin(o) {
			problems = append(problems, fmt.Errorf("--allow-origin: %q: want an origin such as https://app.example (scheme and host, no path)", o))
		}
	}
	var err error
	if g.statuses, err = parseAuthStatuses(g.statusList); err != nil {
		problems = append(problems, err)
	}
	return errors.Join(problems...)
}

// isOrigin reports whether o is a web origin: http(s), a host, at most
// the root path, nothing else.
func isOrigin(o string) bool {
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		(u.Path == "" || u.Path == "/") && u.RawQuery == "" && u.User == nil
}

// parseAuthStatuses reads --auth-failure-status: 4xx codes, at least one.
func parseAuthStatuses(list string) ([]int, error) {
	var statuses []int
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 400 || n > 499 {
			return nil, fmt.Errorf("--auth-failure-status: %q is not a 4xx status", s)
		}
		statuses = append(statuses, n)
	}
	if len(statuses) == 0 {
		return nil, errors.New("--auth-failure-status: no status given (default 401,403)")
	}
	return statuses, nil
}

// guard wraps the proxy in the browser and path refusals. On a TCP
// listener the Host must be a loopback name or the listen address; a
// Unix socket has no Host worth checking (no browser reaches it).
func (g *proxyGuardFlags) guard(ln net.Listener, next http.Handler, log *slog.Logger, m *upstream.Metrics) http.Handler {
	gd := &upstream.Guard{Next: next, Logger: log, Metrics: m}
	for _, o := range g.allowOrigins {
		gd.AllowOrigins = append(gd.AllowOrigins, strings.TrimSuffix(o, "/"))
	}
	if ln.Addr().Network() == "tcp" {
		hosts, _ := hostlist.New([]string{ln.Addr().String()}) // a loopback IP: always valid
		gd.Hosts = &hosts
	}
	return gd
}

// proxyExtras are the flags that act on a change of token: --probe and
// --on-change.
type proxyExtras struct {
	prober *probe.Prober
	hook   []string
}

func parseProxyExtras(onChange, probeURL, header, scheme, query string) (proxyExtras, error) {
	var x proxyExtras
	var err error
	if onChange != "" {
		if x.hook, err = credential.SplitCommand(onChange); err != nil {
			return x, usageErr("--on-change: %v", err)
		}
	}
	if probeURL != "" {
		if x.prober, err = probe.Parse(probeURL); err != nil {
			return x, usageErr("--probe: %v", err)
		}
		// The probe carries the token as the proxy does.
		x.prober.Header, x.prober.Scheme, x.prober.NoScheme, x.prober.Query = header, scheme, scheme == "", query
	}
	return x, nil
}

// onChange runs --on-change after each accepted token, one at a time, off
// the Source's goroutine (a `systemctl restart` takes seconds).
func (x proxyExtras) onChange(ctx context.Context, e *env, log *slog.Logger, spec credential.Spec) func(old, cur *credential.Credential) {
	if len(x.hook) == 0 {
		return nil
	}
	h := &supervise.Hook{Argv: x.hook, Source: spec.String(), Stdout: e.stderr, Stderr: e.stderr, Logger: log}
	h.File, _ = spec.File()
	type change struct{ old, cur *credential.Credential }
	changes := make(chan change, 16)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case c := <-changes:
				h.Run(ctx, c.old, c.cur) // logged
			}
		}
	}()
	return func(old, c *credential.Credential) {
		select {
		case changes <- change{old, c}:
		default:
			log.LogAttrs(ctx, slog.LevelWarn, "--on-change is behind; skipped one run",
				slog.String("event", "ON_CHANGE_FAILED"), slog.String("fingerprint", c.Fingerprint()))
		}
	}
}

// noTokenGate answers 503 while the proxy has no valid token, instead of
// forwarding a request that can only fail, and says why.
type noTokenGate struct {
	src     *credential.Source
	refused prometheus.Counter
}

func newNoTokenGate(reg prometheus.Registerer, src *credential.Source) (*noTokenGate, error) {
	g := &noTokenGate{src: src, refused: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "voicetoken_proxy_no_token_total",
		Help: "Requests answered 503 because the proxy had no valid upstream token yet.",
	})}
	if err := reg.Register(g.refused); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	return g, nil
}

func (g *noTokenGate) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.src.Current() != nil {
			next.ServeHTTP(w, r)
			return
		}
		g.refused.Inc()
		g.unavailable(w)
	})
}

// readyz is ready once there is a token.
func (g *noTokenGate) readyz(w http.ResponseWriter, _ *http.Request) {
	if g.src.Current() == nil {
		g.unavailable(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"status":"ready"}` + "\n"))
}

func (g *noTokenGate) unavailable(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", "5")
	w.WriteHeader(http.StatusServiceUnavailable)
	json.NewEncoder(w).Encode(map[string]string{"error": "no_token", "reason": "no valid upstream token: " + g.src.Missing()})
}
