package userauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	jose "github.com/go-jose/go-jose/v4"
	"voicetoken/internal/policy"
)

// Key-set cache bounds. The JWKS's own Cache-Control max-age is honoured
// within them; without one, keys are trusted for DefaultKeyTTL.
const (
	DefaultKeyTTL = time.Hour
	minKeyTTL     = time.Minute
	maxKeyTTL     = 24 * time.Hour
	// DefaultMinRefresh is the least time between two fetches of a key
	// set: an unknown key ID refreshes the keys at most this often.
	DefaultMinRefresh = 10 * time.Second
	// maxJWKSBytes bounds a key set (a few keys are a few KiB).
	maxJWKSBytes = 1 << 20
)

// keySet is go-oidc's KeySet over a remote JWKS: cached as its
// Cache-Control says, refreshed on an unknown key ID at most once per
// minRefresh, and kept when a refresh fails. The signature is checked by
// go-jose.
type keySet struct {
	name       string // the issuer's, for logs
	log        *slog.Logger
	url        string
	client     *http.Client
	now        func() time.Time
	minRefresh time.Duration

	fetchMu sync.Mutex // one fetch at a time; waiters then see its result

	mu      sync.RWMutex
	keys    []jose.JSONWebKey
	expires time.Time // keys are fresh until then
	tried   time.Time // the last fetch attempt
	err     error     // the last fetch's error, nil after a success
	fetches int
}

var _ oidc.KeySet = (*keySet)(nil)

// VerifySignature implements oidc.KeySet. go-oidc has already checked the
// algorithm against the issuer's allowlist; the keys tried are those
// whose kid matches (all, for a token without one), whose use is "sig" or
// unset, and whose alg, when the JWKS pins one, is the token's.
func (k *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(raw, asymmetricJOSE)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: not a JWS with one signature", ErrMalformed)
	}
	h := jws.Signatures[0].Header
	keys, fresh := k.current()
	if !fresh {
		k.refresh(ctx)
		keys, _ = k.current()
	}
	if p, ok := verifyWith(jws, keys, h.KeyID, h.Algorithm); ok {
		return p, nil
	}
	if h.KeyID != "" && !hasKeyID(keys, h.KeyID) && k.refresh(ctx) {
		keys, _ = k.current()
		if p, ok := verifyWith(jws, keys, h.KeyID, h.Algorithm); ok {
			return p, nil
		}
	}
	err = fmt.Errorf("%w: no key of the issuer verifies it", ErrSignature)
	if h.KeyID != "" && !hasKeyID(keys, h.KeyID) {
		err = fmt.Errorf("%w: no key with kid %q in the issuer's key set", ErrSignature, short(h.KeyID))
	}
	noteSignature(ctx, err)
	return nil, err
}

var asymmetricJOSE = func() []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(policy.Asymmetric))
	for i, a := range policy.Asymmetric {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}()

func verifyWith(jws *jose.JSONWebSignature, keys []jose.JSONWebKey, kid, alg string) ([]byte, bool) {
	for i := range keys {
		key := &keys[i]
		if (kid != "" && key.KeyID != kid) || (key.Use != "" && key.Use != "sig") ||
			(key.Algorithm != "" && key.Algorithm != alg) || !key.IsPublic() {
			continue
		}
		if p, err := jws.Verify(key); err == nil {
			return p, true
		}
	}
	return nil, false
}

func hasKeyID(keys []jose.JSONWebKey, kid string) bool {
	for i := range keys {
		if keys[i].KeyID == kid {
			return true
		}
	}
	return false
}

// current returns the cached keys and whether they are fresh.
func (k *keySet) current() ([]jose.JSONWebKey, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys, len(k.keys) > 0 && k.now().Before(k.expires)
}

// status is the last fetch's error (nil once keys are known and the
// last fetch worked) and whether any keys are known.
func (k *keySet) status() (bool, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return len(k.keys) > 0, k.err
}

// refresh fetches the key set unless a fetch was tried within
// minRefresh. It reports whether a fetch succeeded now (or just before,
// by a concurrent caller this one waited for).
func (k *keySet) refresh(ctx context.Context) bool {
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	k.mu.RLock()
	recent := !k.tried.IsZero() && k.now().Sub(k.tried) < k.minRefresh
	ok := k.err == nil && len(k.keys) > 0
	k.mu.RUnlock()
	if recent {
		return ok
	}
	return k.fetch(ctx) == nil
}

// fetch reads the key set now. A failure keeps the keys known.
func (k *keySet) fetch(ctx context.Context) error {
	now := k.now()
	keys, ttl, err := getJWKS(ctx, k.client, k.url)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.tried = now
	k.fetches++
	k.err = err
	if err != nil {
		k.log.LogAttrs(ctx, slog.LevelWarn, "identity provider keys not fetched; keeping the keys known",
			slog.String("event", "OIDC_KEYS_FAILED"), slog.String("issuer", k.name),
			slog.Int("keys", len(k.keys)), slog.String("error", err.Error()))
		return err
	}
	k.keys = keys
	k.expires = now.Add(ttl)
	k.log.LogAttrs(ctx, slog.LevelInfo, "identity provider keys fetched",
		slog.String("event", "OIDC_KEYS"), slog.String("issuer", k.name),
		slog.Int("keys", len(keys)), slog.String("kids", kids(keys)), slog.Duration("ttl", ttl))
	return nil
}

// getJWKS fetches and decodes a key set. Keys of a type go-jose does not
// know are skipped, as RFC 7517 section 5 says; a set with no usable key
// is an error.
func getJWKS(ctx context.Context, client *http.Client, url string) ([]jose.JSONWebKey, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("key set %s: %w", url, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("key set %s: %w", url, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("key set %s: reading: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("key set %s: %s", url, resp.Status)
	}
	if len(body) > maxJWKSBytes {
		return nil, 0, fmt.Errorf("key set %s: larger than %d bytes", url, maxJWKSBytes)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, 0, fmt.Errorf("key set %s: %w", url, err)
	}
	return keys, cacheTTL(resp.Header.Get("Cache-Control")), nil
}

// parseJWKS decodes {"keys":[...]}, skipping keys go-jose cannot use.
func parseJWKS(body []byte) ([]jose.JSONWebKey, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, errors.New("not a JSON Web Key Set")
	}
	var keys []jose.JSONWebKey
	for _, r := range raw.Keys {
		var key jose.JSONWebKey
		if err := key.UnmarshalJSON(r); err != nil || !key.IsPublic() || !key.Valid() {
			continue
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, errors.New("no usable public key in the set")
	}
	return keys, nil
}

// cacheTTL reads max-age from a Cache-Control header value, bounded to
// [minKeyTTL, maxKeyTTL]; no-store, no-cache and max-age=0 give the
// minimum, no max-age DefaultKeyTTL.
func cacheTTL(cc string) time.Duration {
	ttl := DefaultKeyTTL
	for _, d := range strings.Split(cc, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "no-store", d == "no-cache":
			return minKeyTTL
		case strings.HasPrefix(d, "max-age="):
			n, err := strconv.ParseInt(strings.Trim(d[len("max-age="):], `"`), 10, 64)
			if err != nil || n < 0 {
				continue
			}
			ttl = time.Duration(min(n, int64(maxKeyTTL/time.Second))) * time.Second
		}
	}
	return min(max(ttl, minKeyTTL), maxKeyTTL)
}

// short cuts an attacker-chosen string for an error message.
func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// kids lists the key IDs of a set, for the log.
func kids(keys []jose.JSONWebKey) string {
	ids := make([]string, len(keys))
	for i := range keys {
		ids[i] = short(keys[i].KeyID)
	}
	return strings.Join(ids, ",")
}
