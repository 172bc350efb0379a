package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"voicetoken/internal/keys"
	"voicetoken/internal/policy"
	"voicetoken/internal/token"
	"voicetoken/internal/userauth"
)

// Server is the token API. Create it with New; it is safe for concurrent
// use, and Reload may run while requests are served.
type Server struct {
	cfg      Config
	now      func() time.Time
	rand     io.Reader
	randMu   sync.Mutex
	log      *slog.Logger
	issued   *issuedLog // the TOKEN_ISSUED access log
	metrics  *metrics
	limits   Limiter
	page     http.Handler
	csp      string
	handler  http.Handler
	loopback bool // listening on loopback: Host is checked (hostList)

	respPool sync.Pool // *[]byte response buffers

	state atomic.Pointer[state]
	// users fetches and caches the identity providers' keys across
	// reloads (userauth).
	users *userauth.Registry

	reloadMu sync.Mutex // serialises Reload

	probeMu   sync.Mutex
	probeAt   time.Time
	probeErr  error
	probeHTTP *http.Client
	probeURL  string
}

// state is everything that Reload replaces, as one immutable value.
type state struct {
	keys      *keys.Set
	key       *token.Key // the primary: mints
	rules     *policy.Rules
	hosts     hostList
	proxies   proxyList
	roomsJSON []byte
	// Signed-in users: nil when the policy names no such source.
	oidc    *userauth.Verifier
	forward *userauth.ForwardAuth
	// configJSON is the pre-encoded /api/config answer.
	configJSON []byte
}

// New checks cfg (every problem at once, see Config.Validate), compiles the
// policy and builds the handler. It does not listen.
func New(cfg Config, opts ...Option) (*Server, error) {
	compiled, err := cfg.check()
	if err != nil {
		return nil, err
	}
	cfg.setDefaults()
	d := newDeps(opts)
	s := &Server{
		cfg:    cfg,
		now:    d.now,
		rand:   d.rand,
		log:    d.logger,
		limits: d.limiter,
	}
	var extra []prometheus.Collector
	if c, ok := d.limiter.(prometheus.Collector); ok {
		extra = append(extra, c) // a shared limiter's own metrics
	}
	s.metrics = newMetrics(cfg.Version, extra...)
	s.loopback = IsLoopbackAddr(cfg.Addr)
	s.issued = newIssuedLog(s.log, d.logW, d.logLevel)
	s.respPool.New = func() any { b := make([]byte, 0, 1024); return &b }
	if compiled == nil {
		if compiled, err = policy.Compile(policy.Default().ForListener(s.loopback)); err != nil {
			return nil, err
		}
	}
	s.users = userauth.NewRegistry(userauth.Options{Logger: s.log, Now: s.now})
	st := s.newStateCompiled(cfg.Keys, compiled)
	s.state.Store(st)
	s.metrics.setKeys(st)

	lk, _ := parseLiveKitURL(cfg.LiveKitURL)
	pub, _ := parseLiveKitURL(cfg.PublicLiveKitURL)
	s.csp = contentSecurityPolicy(pub)
	if cfg.CheckLiveKit {
		probe := *lk
		probe.Scheme = map[string]string{"ws": "http", "wss": "https"}[lk.Scheme]
		if probe.Scheme == "" {
			probe.Scheme = lk.Scheme
		}
		s.probeURL = probe.String()
		s.probeHTTP = &http.Client{Timeout: 2 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if s.page, err = newPageHandler(cfg.Page, s.csp); err != nil {
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

func (s *Server) newState(ks *keys.Set, p *policy.File, loopback bool) (*state, error) {
	if ks == nil || ks.Primary() == nil {
		return nil, fmt.Errorf("%w: no API key", ErrInvalidConfig)
	}
	if p == nil {
		p = policy.Default()
	}
	rules, err := policy.Compile(p.ForListener(loopback))
	if err != nil {
		return nil, err
	}
	return s.newStateCompiled(ks, rules), nil
}

func (s *Server) newStateCompiled(ks *keys.Set, rules *policy.Rules) *state {
	return &state{keys: ks, key: ks.Primary(), rules: rules, hosts: newHostList(rules.Hosts()),
		proxies: rules.TrustedProxies(), roomsJSON: encodeRooms(rules.Rooms()),
		oidc: s.users.Verifier(rules.OIDC()), forward: s.users.ForwardAuth(rules.ForwardAuth()),
		configJSON: s.encodeConfig(rules)}
}

func encodeRooms(rooms []policy.Room) []byte {
	type room struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		Agent       string `json:"agent"`
	}
	out := struct {
		Rooms []room `json:"rooms"`
	}{Rooms: []room{}}
	for _, r := range rooms {
		out.Rooms = append(out.Rooms, room{r.Name, r.Description, r.Agent})
	}
	return encodeJSON(out)
}

// Handler returns the server's routes. Wrap it to add middleware; the
// handler itself applies every limit and header the API needs.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/rooms", s.simpleGET(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.state.Load().roomsJSON)
	}))
	mux.HandleFunc("/api/config", s.simpleGET(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.state.Load().configJSON)
	}))
	mux.HandleFunc("/api/", s.simpleGET(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errf(http.StatusNotFound, CodeNotFound, "no such API endpoint: "+r.URL.Path))
	}))
	mux.HandleFunc("/healthz", s.simpleGET(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, []byte("{\"status\":\"ok\"}\n"))
	}))
	mux.HandleFunc("/readyz", s.simpleGET(s.handleReady))
	metricsHandler := promhttp.HandlerFor(s.metrics.gatherer, promhttp.HandlerOpts{})
	mux.HandleFunc("/metrics", s.simpleGET(metricsHandler.ServeHTTP))
	mux.Handle("/", s.page)
	// The token endpoint skips the mux's pattern matching: it is the one
	// route that sees real load. Everything else goes through the mux.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) > 0 {
			s.refuseFraming(w, r)
			return
		}
		st := s.state.Load() // one policy for the whole request, even mid-reload
		if !s.checkHost(w, r, st) {
			return
		}
		if r.URL.Path == "/api/token" {
			s.handleToken(w, r, st)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// refuseFraming answers a request with Transfer-Encoding 400 and closes
// the connection. RFC 9112 6.1: a request with both Transfer-Encoding and
// Content-Length may be an attempt at request smuggling (a proxy in front
// frames it by one header, we by the other, and a request hidden in its
// body is answered as if the proxy had sent it); the server must close
// the connection after answering. net/http drops Content-Length before
// the handler runs, so such a request cannot be told from a plain
// chunked one here: both are refused. The API needs no chunked bodies
// (they are a few hundred bytes; browsers and curl send Content-Length).
// Closing the connection also drops whatever the client pipelined.
func (s *Server) refuseFraming(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close")
	e := errf(http.StatusBadRequest, CodeTransferEncoding, "Transfer-Encoding is not accepted: send the body with Content-Length (RFC 9112 6.1: a request with both is refused and its connection closed)")
	writeError(w, e)
	s.metrics.deny(e.code)
	s.log.LogAttrs(r.Context(), slog.LevelWarn, "request with Transfer-Encoding refused; connection closed",
		slog.String("event", "FRAMING_REFUSED"), slog.String("addr", hostPart(r.RemoteAddr)),
		slog.String("path", quoteShort(r.URL.Path)))
}

// simpleGET allows GET and HEAD only and times the request.
func (s *Server) simpleGET(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, errf(http.StatusMethodNotAllowed, CodeMethod, r.Method+" is not allowed here; use GET"))
		} else {
			h(w, r)
		}
		s.metrics.other.Observe(time.Since(start).Seconds())
	}
}

// writeJSON writes a JSON answer. It serves every token, so its headers
// are assigned to the map directly: net/http would otherwise canonicalise
// each key and allocate each value on every request. net/http never
// modifies them.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = hdrJSON
	h["Cache-Control"] = hdrNoStore
	h["X-Content-Type-Options"] = hdrNosniff
	w.WriteHeader(status)
	w.Write(body)
}

// handleReady: keys loaded, LiveKit URL configured, and with CheckLiveKit
// the LiveKit server answers HTTP (any status: it is up). The probe result
// is cached for a few seconds so a probe storm cannot become a LiveKit
// request storm.
var (
	hdrJSON    = []string{"application/json"}
	hdrNoStore = []string{"no-store"}
	hdrNosniff = []string{"nosniff"}
)

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	switch {
	case st == nil || st.key == nil:
		writeError(w, errf(http.StatusServiceUnavailable, CodeNotReady, "no API key loaded"))
		return
	case s.cfg.LiveKitURL == "":
		writeError(w, errf(http.StatusServiceUnavailable, CodeNotReady, "no LiveKit URL configured"))
		return
	}
	if err := errors.Join(st.oidc.Ready(), st.forward.Ready()); err != nil {
		writeError(w, errf(http.StatusServiceUnavailable, CodeNotReady, strings.ReplaceAll(err.Error(), "\n", "; ")))
		return
	}
	if s.probeHTTP != nil {
		if err := s.probeLiveKit(r.Context()); err != nil {
			writeError(w, errf(http.StatusServiceUnavailable, CodeNotReady, "LiveKit at "+s.cfg.LiveKitURL+" is not reachable"))
			return
		}
	}
	writeJSON(w, http.StatusOK, []byte("{\"status\":\"ready\"}\n"))
}

func (s *Server) probeLiveKit(ctx context.Context) error {
	s.probeMu.Lock()
	defer s.probeMu.Unlock()
	now := s.now()
	if !s.probeAt.IsZero() && now.Sub(s.probeAt) < 5*time.Second {
		return s.probeErr
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.probeURL, nil)
	if err == nil {
		var resp *http.Response
		if resp, err = s.probeHTTP.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "LiveKit not reachable", slog.String("event", "LIVEKIT_UNREACHABLE"),
			slog.String("url", s.cfg.LiveKitURL), slog.String("error", err.Error()))
	}
	s.probeAt, s.probeErr = now, err
	return err
}

// Reload reads keys and policy again with Config.Reload and swaps them in
// atomically. On any error the running keys and policy stay, the error is
// logged (event RELOAD_FAILED) and returned.
func (s *Server) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if s.cfg.Reload == nil {
		return errors.New("reload: no reload source configured")
	}
	st, err := s.loadState()
	if err != nil {
		s.metrics.reloadError.Inc()
		s.log.LogAttrs(context.Background(), slog.LevelError, "reload refused; keeping the running keys and policy",
			slog.String("event", "RELOAD_FAILED"), slog.String("error", err.Error()))
		return fmt.Errorf("reload: %w", err)
	}
	s.state.Store(st)
	s.metrics.setKeys(st)
	s.metrics.reloadOK.Inc()
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "keys and policy reloaded",
		slog.String("event", "RELOADED"), slog.String("key", st.key.ID),
		slog.String("fingerprint", st.key.SecretFingerprint()), slog.Int("keys", len(st.keys.Keys())),
		slog.Int("rooms", len(st.rules.Rooms())), slog.Int("api_keys", st.rules.APIKeys()))
	return nil
}

func (s *Server) loadState() (st *state, err error) {
	defer func() {
		if p := recover(); p != nil { // a loader bug must not take the server down
			st, err = nil, fmt.Errorf("reload panicked: %v", p)
		}
	}()
	ks, p, err := s.cfg.Reload()
	if err != nil {
		return nil, err
	}
	return s.newState(ks, p, s.loopback)
}

// Serve answers requests on ln until ctx is done, then shuts down
// gracefully: new connections are refused, in-flight requests get up to
// Config.ShutdownTimeout to finish, then the rest are closed. It returns
// nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	// net/http's own timeouts (see timeouts.go for how they are counted):
	// ReadHeaderTimeout from the first byte of a request to the end of its
	// header, WriteTimeout from there to the end of the answer, IdleTimeout
	// between requests. ReadTimeout, from the first byte too, bounds every
	// read of a request (a body nobody reads that net/http discards) at
	// the header's and the answer's limits together; a POST body has its
	// own, shorter deadline (issue).
	tc := &timeoutCounter{counted: s.metrics.timeouts}
	hs := &http.Server{
		Handler:           s.handler,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadHeaderTimeout + s.cfg.WriteTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ConnState:         tc.connState,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	defer s.Close()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(tc.listener(ln)) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "shutting down", slog.String("event", "SHUTDOWN"))
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if err != nil {
		hs.Close()
		return fmt.Errorf("shutdown: in-flight requests did not finish within %s: %w", s.cfg.ShutdownTimeout, err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// Listen opens Config.Addr. Split from Serve so the caller can learn the
// bound address (":0") before serving.
func (s *Server) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return ln, nil
}

// ListenAndServe listens on Config.Addr, logs LISTENING with the bound
// address, and serves until ctx is done (see Serve).
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := s.Listen()
	if err != nil {
		return err
	}
	s.LogListening(ln.Addr())
	return s.Serve(ctx, ln)
}

// LogListening logs the start-up line: address, key fingerprint, LiveKit
// URL. Tests and scripts read the address from it.
func (s *Server) LogListening(addr net.Addr) {
	st := s.state.Load()
	u := url.URL{Scheme: "http", Host: addr.String(), Path: "/"}
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "listening",
		slog.String("event", "LISTENING"), slog.String("addr", addr.String()), slog.String("url", u.String()),
		slog.String("key", st.key.ID), slog.String("fingerprint", st.key.SecretFingerprint()),
		slog.Bool("dev_key", st.keys.Dev), slog.String("livekit_url", s.cfg.LiveKitURL))
}
