package userauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"voicetoken/internal/policy"
)

// Options are the Registry's dependencies; zero fields take defaults.
type Options struct {
	// Client fetches discovery documents and key sets. Default: a client
	// with a 10s timeout.
	Client *http.Client
	// Logger gets OIDC_DISCOVERY*, OIDC_KEYS* lines. Default: discard.
	Logger *slog.Logger
	// Now is the clock for token validity and key caching (tests).
	Now func() time.Time
	// MinRefresh is the least time between two fetches of a key set
	// (default DefaultMinRefresh).
	MinRefresh time.Duration
	// RetryMin and RetryMax bound the backoff between attempts to fetch
	// an issuer's discovery document and keys at start (default 1s, 1m).
	RetryMin, RetryMax time.Duration
}

// Registry holds each issuer's discovery result and key set, fetched in
// the background and shared by every Verifier it builds, so that a
// policy reload reuses them. Close stops the background fetches.
type Registry struct {
	opts   Options
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	sources map[string]*source // by issuer URL + " " + configured JWKS URL
	wg      sync.WaitGroup
}

// NewRegistry returns an empty Registry.
func NewRegistry(opts Options) *Registry {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MinRefresh == 0 {
		opts.MinRefresh = DefaultMinRefresh
	}
	if opts.RetryMin == 0 {
		opts.RetryMin = time.Second
	}
	if opts.RetryMax == 0 {
		opts.RetryMax = time.Minute
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Registry{opts: opts, ctx: ctx, cancel: cancel, sources: map[string]*source{}}
}

// Close stops the background fetches and waits for them to end.
func (r *Registry) Close() {
	r.cancel()
	r.wg.Wait()
}

// source returns the shared state of an issuer, starting its fetches on
// first use.
func (r *Registry) source(name, issuer, jwksURL string) *source {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := issuer + " " + jwksURL
	if s := r.sources[id]; s != nil {
		return s
	}
	s := &source{issuer: issuer, jwksURL: jwksURL, name: name, log: r.opts.Logger,
		err: errors.New("not fetched yet")}
	r.sources[id] = s
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		s.run(r.ctx, &r.opts)
	}()
	return s
}

// source is one issuer's discovery result and keys.
type source struct {
	issuer, jwksURL, name string
	log                   *slog.Logger

	mu   sync.Mutex
	keys *keySet  // set once discovery is done
	algs []string // from discovery (nil without)
	err  error    // why the issuer is not usable yet
}

// run discovers the issuer and fetches its keys, retrying with backoff
// until both worked or ctx ends. Later refreshes happen on demand
// (keySet).
func (s *source) run(ctx context.Context, o *Options) {
	wait := o.RetryMin
	for attempt := 1; ; attempt++ {
		err := s.attempt(ctx, o)
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		if err == nil {
			return
		}
		s.log.LogAttrs(ctx, slog.LevelWarn, "identity provider not reachable; retrying",
			slog.String("event", "OIDC_DISCOVERY_FAILED"), slog.String("issuer", s.name),
			slog.Int("attempt", attempt), slog.Duration("retry_in", wait), slog.String("error", err.Error()))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(wait*2, o.RetryMax)
	}
}

func (s *source) attempt(ctx context.Context, o *Options) error {
	s.mu.Lock()
	ks := s.keys
	s.mu.Unlock()
	if ks == nil {
		jwks, algs, err := s.discover(ctx, o.Client)
		if err != nil {
			return err
		}
		ks = &keySet{name: s.name, log: s.log, url: jwks, client: o.Client, now: o.Now, minRefresh: o.MinRefresh}
		s.mu.Lock()
		s.keys, s.algs = ks, algs
		s.mu.Unlock()
	}
	if err := ks.fetch(ctx); err != nil {
		return err
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "identity provider ready",
		slog.String("event", "OIDC_READY"), slog.String("issuer", s.name), slog.String("url", s.issuer))
	return nil
}

// discover reads the issuer's discovery document with go-oidc (which
// checks that it names the same issuer) for its jwks_uri and algorithms.
// With a configured JWKS URL there is nothing to discover.
func (s *source) discover(ctx context.Context, client *http.Client) (string, []string, error) {
	if s.jwksURL != "" {
		return s.jwksURL, nil, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, client), s.issuer)
	if err != nil {
		return "", nil, fmt.Errorf("discovery at %s/.well-known/openid-configuration: %w", s.issuer, err)
	}
	var doc struct {
		JWKSURI string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := p.Claims(&doc); err != nil {
		return "", nil, fmt.Errorf("discovery at %s: %w", s.issuer, err)
	}
	if err := policy.CheckURL(doc.JWKSURI); err != nil {
		return "", nil, fmt.Errorf("discovery at %s: jwks_uri %w", s.issuer, err)
	}
	return doc.JWKSURI, doc.Algs, nil
}

// ready returns the key set and the discovered algorithms, or why the
// issuer cannot verify tokens yet.
func (s *source) ready() (*keySet, []string, error) {
	s.mu.Lock()
	ks, algs, err := s.keys, s.algs, s.err
	s.mu.Unlock()
	if ks != nil {
		if have, _ := ks.status(); have {
			return ks, algs, nil
		}
	}
	return nil, nil, err
}
