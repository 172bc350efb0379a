package server

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"voicetoken/internal/keys"
	"voicetoken/internal/policy"
)

// ErrInvalidConfig wraps every problem Config.Validate finds.
var ErrInvalidConfig = errors.New("invalid server config")

// Defaults for Config's zero fields.
const (
	DefaultAddr       = "127.0.0.1:9000"      // the seed's port, loopback only
	DefaultLiveKitURL = "ws://127.0.0.1:7880" // `livekit-server --dev`
	// DefaultMaxBody bounds a POST body: the standardized request is a few
	// hundred bytes; 16 KiB leaves room for metadata and attributes.
	DefaultMaxBody = 16 << 10
	// DefaultMaxQuery bounds the query string of GET /api/token.
	DefaultMaxQuery = 2 << 10
	// DefaultMaxHeader bounds request headers (net/http allows 1 MiB).
	DefaultMaxHeader = 16 << 10
	// ReadHeaderTimeout and friends keep a slow client from holding a
	// connection (slowloris). Serve sets them on its http.Server (net/http
	// enforces them with deadlines on the connection): ReadHeaderTimeout
	// bounds a request's header, WriteTimeout the time from the header to
	// the end of the answer, IdleTimeout a kept-alive connection between
	// requests, and ReadTimeout a POST body.
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 5 * time.Second
	DefaultWriteTimeout      = 10 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	// DefaultPageIDToken is where the page looks for the user's ID token
	// unless told otherwise (Config.PageIDToken).
	DefaultPageIDToken = "sessionStorage:voicetoken.id_token"
	// DefaultShutdownTimeout bounds how long in-flight requests may finish
	// after SIGTERM.
	DefaultShutdownTimeout = 10 * time.Second
)

// Config is everything the server needs. Zero fields take the defaults
// above; New calls Validate.
type Config struct {
	// Addr is host:port to listen on (ListenAndServe). Default
	// 127.0.0.1:9000.
	Addr string
	// LiveKitURL is the LiveKit server (ws, wss, http or https). Default
	// ws://127.0.0.1:7880, the dev server's.
	LiveKitURL string
	// PublicLiveKitURL is the LiveKit URL as browsers must use it (behind
	// a proxy it may differ from LiveKitURL). Default: LiveKitURL.
	PublicLiveKitURL string
	// Keys mint tokens (Keys.Primary()). Required.
	Keys *keys.Set
	// Policy is who may get what. Nil means policy.Default().
	Policy *policy.File
	// Reload, when set, is called by Server.Reload (on SIGHUP) to read
	// the keys and policy afresh. A nil *policy.File means
	// policy.Default().
	Reload func() (*keys.Set, *policy.File, error)
	// Page is the voice page: an fs.FS with index.html at its root, served
	// at "/". Nil serves a built-in placeholder.
	Page fs.FS
	// PageIDToken tells the page where the app that signed the user in
	// keeps their OpenID Connect ID token: "sessionStorage:KEY" or
	// "localStorage:KEY" (/api/config's id_token, with an oidc policy).
	// Default DefaultPageIDToken.
	PageIDToken string
	// CheckLiveKit makes /readyz probe LiveKitURL over HTTP.
	CheckLiveKit bool
	// Version is reported by voicetoken_build_info.
	Version string
	// Limits; zero means the default.
	MaxBodyBytes      int64
	MaxQueryBytes     int
	MaxHeaderBytes    int
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	ShutdownTimeout   time.Duration
}

// Validate reports every problem with c at once (errors.Join, each wrapped
// in ErrInvalidConfig). It has no side effects and does no I/O.
func (c *Config) Validate() error {
	_, err := c.check()
	return err
}

// check is Validate, also returning the compiled policy (nil when
// Policy is nil) so New need not compile it twice.
func (c *Config) check() (*policy.Rules, error) {
	var p problems
	c.checkAddresses(&p)
	if c.Keys == nil || c.Keys.Primary() == nil {
		p.add("no API key: set LIVEKIT_API_KEY and LIVEKIT_API_SECRET, --env-file or --key-file")
	}
	var compiled *policy.Rules
	if c.Policy != nil {
		var err error
		if compiled, err = policy.Compile(c.Policy.ForListener(c.loopback())); err != nil {
			p = append(p, fmt.Errorf("%w: %w", ErrInvalidConfig, err))
		}
	}
	if c.PageIDToken != "" && !validStorageRef(c.PageIDToken) {
		p.add("page ID token %q: want sessionStorage:KEY or localStorage:KEY", c.PageIDToken)
	}
	if c.MaxBodyBytes < 0 || c.MaxQueryBytes < 0 || c.MaxHeaderBytes < 0 {
		p.add("limits must not be negative")
	}
	if min(c.ReadHeaderTimeout, c.ReadTimeout, c.WriteTimeout, c.IdleTimeout, c.ShutdownTimeout) < 0 {
		p.add("timeouts must not be negative")
	}
	return compiled, errors.Join(p...)
}

// problems collects a Config's problems, each wrapped in ErrInvalidConfig.
type problems []error

func (p *problems) add(format string, args ...any) {
	*p = append(*p, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
}

// checkAddresses checks the listen address and the LiveKit URLs.
func (c *Config) checkAddresses(p *problems) {
	if c.Addr != "" {
		if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
			p.add("addr %q: want host:port, e.g. 127.0.0.1:9000", c.Addr)
		}
	}
	for _, u := range []struct{ name, val string }{{"LiveKit URL", c.LiveKitURL}, {"public LiveKit URL", c.PublicLiveKitURL}} {
		if u.val == "" {
			continue
		}
		if _, err := parseLiveKitURL(u.val); err != nil {
			p.add("%s: %v", u.name, err)
		}
	}
}

// loopback reports whether the server listens on loopback only.
func (c *Config) loopback() bool {
	if c.Addr == "" {
		return IsLoopbackAddr(DefaultAddr)
	}
	return IsLoopbackAddr(c.Addr)
}

func (c *Config) setDefaults() {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&c.Addr, DefaultAddr)
	def(&c.LiveKitURL, DefaultLiveKitURL)
	def(&c.PublicLiveKitURL, c.LiveKitURL)
	def(&c.Version, "(devel)")
	def(&c.PageIDToken, DefaultPageIDToken)
	setDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	setDur(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDur(&c.ReadTimeout, DefaultReadTimeout)
	setDur(&c.WriteTimeout, DefaultWriteTimeout)
	setDur(&c.IdleTimeout, DefaultIdleTimeout)
	setDur(&c.ShutdownTimeout, DefaultShutdownTimeout)
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBody
	}
	if c.MaxQueryBytes == 0 {
		c.MaxQueryBytes = DefaultMaxQuery
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeader
	}
}

// parseLiveKitURL accepts ws, wss, http and https URLs with a host.
func parseLiveKitURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL", s)
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
	default:
		return nil, fmt.Errorf("%q: want a ws://, wss://, http:// or https:// URL", s)
	}
	if u.Host == "" || u.User != nil || strings.ContainsAny(u.Host, " ;'\"") {
		return nil, fmt.Errorf("%q: want scheme://host[:port]", s)
	}
	return u, nil
}

// Option sets a dependency of the Server: the clock, randomness, logger.
type Option func(*deps)

type deps struct {
	limiter  Limiter
	now      func() time.Time
	rand     io.Reader
	logger   *slog.Logger
	logW     io.Writer
	logLevel slog.Leveler
}

// WithClock sets the time source (tests).
func WithClock(now func() time.Time) Option {
	return func(d *deps) { d.now = now }
}

// WithLimiter replaces the in-memory rate limiter (e.g. with one that
// several servers share).
func WithLimiter(l Limiter) Option { return func(d *deps) { d.limiter = l } }

// WithRand sets the randomness for generated identities (tests).
func WithRand(r io.Reader) Option { return func(d *deps) { d.rand = r } }

// WithLogger sets the structured logger (JSON in production). Default:
// discard.
func WithLogger(l *slog.Logger) Option { return func(d *deps) { d.logger, d.logW = l, nil } }

// WithJSONLog logs as JSON (slog.JSONHandler) to w at level, the
// production set-up. The TOKEN_ISSUED line then skips slog's generic
// machinery (see issuedLog) and is written to w directly, so w must take
// concurrent Write calls whole (LogBuffer and *os.File do).
func WithJSONLog(w io.Writer, level slog.Leveler) Option {
	return func(d *deps) {
		d.logger = slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
		d.logW, d.logLevel = w, level
	}
}

func newDeps(opts []Option) deps {
	d := deps{now: time.Now, rand: rand.Reader, logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&d)
	}
	if d.limiter == nil {
		d.limiter = newLimiter()
	}
	return d
}
