package userauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"voicetoken/internal/policy"
)

// maxTokenBytes bounds an ID token (they are a few KiB; the server's
// header limit is 16 KiB).
const maxTokenBytes = 12 << 10

// Verifier checks ID tokens from a fixed set of issuers. It is immutable
// and safe for concurrent use; build a new one (from the same Registry)
// when the configuration changes.
type Verifier struct {
	byIssuer map[string]*issuerVerifier
	order    []*issuerVerifier
	now      func() time.Time
}

type issuerVerifier struct {
	cfg policy.OIDCIssuer
	src *source
}

// Verifier returns a Verifier for cfgs (checked by policy.Compile),
// starting the background fetches of issuers not seen before. No issuers
// give nil, which Ready accepts.
func (r *Registry) Verifier(cfgs []policy.OIDCIssuer) *Verifier {
	if len(cfgs) == 0 {
		return nil
	}
	v := &Verifier{byIssuer: map[string]*issuerVerifier{}, now: r.opts.Now}
	for _, c := range cfgs {
		iv := &issuerVerifier{cfg: c, src: r.source(c.Name, c.Issuer, c.JWKSURL)}
		v.byIssuer[c.Issuer] = iv
		v.order = append(v.order, iv)
	}
	return v
}

// Ready is nil when every issuer's keys are known, or says which are not
// and why (for /readyz).
func (v *Verifier) Ready() error {
	if v == nil {
		return nil
	}
	var errs []error
	for _, iv := range v.order {
		if _, _, err := iv.src.ready(); err != nil {
			errs = append(errs, fmt.Errorf("identity provider %s (%s): %w", iv.cfg.Name, iv.cfg.Issuer, err))
		}
	}
	return errors.Join(errs...)
}

// Verify checks an ID token and returns its user. Every refusal wraps
// ErrInvalidToken and a specific error (ErrExpired, ErrAudience...), or
// ErrUnavailable when the issuer's keys are not known yet. Messages name
// what is wrong, never the token.
func (v *Verifier) Verify(ctx context.Context, raw string) (*User, error) {
	if len(raw) > maxTokenBytes {
		return nil, invalid(ErrMalformed, "longer than %d bytes", maxTokenBytes)
	}
	p, err := peek(raw)
	if err != nil {
		return nil, invalid(ErrMalformed, "%v", err)
	}
	iv := v.byIssuer[p.Iss]
	if iv == nil {
		return nil, invalid(ErrUnknownIssuer, "issuer %q is not configured", short(p.Iss))
	}
	return iv.verify(ctx, raw, p, v.now)
}

func (iv *issuerVerifier) verify(ctx context.Context, raw string, p *peeked, now func() time.Time) (*User, error) {
	c := &iv.cfg
	ks, algs, err := iv.src.ready()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, c.Name, err)
	}
	if len(c.Algorithms) > 0 {
		algs = c.Algorithms
	} else if algs = slices.DeleteFunc(slices.Clone(algs), func(a string) bool { return !slices.Contains(policy.Asymmetric, a) }); len(algs) == 0 {
		algs = defaultAlgorithms
	}
	if !slices.Contains(algs, p.Alg) {
		return nil, invalid(ErrAlgorithm, "algorithm %q is not accepted from %s (want %s)", short(p.Alg), c.Name, strings.Join(algs, ", "))
	}
	note := &sigNote{}
	ctx = context.WithValue(ctx, sigNoteKey{}, note)
	verifier := oidc.NewVerifier(c.Issuer, ks, &oidc.Config{ClientID: c.Aud(), SupportedSigningAlgs: algs, Now: now})
	tok, err := verifier.Verify(ctx, raw)
	if err != nil {
		return nil, classify(err, note, p, c, now())
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, invalid(ErrMalformed, "claims are not a JSON object")
	}
	for k, want := range c.RequireClaims {
		if !policy.HasClaim(claims, k, want) {
			return nil, invalid(ErrClaims, "claim %s must be %q", k, want)
		}
	}
	u := &User{Kind: KindOIDC, Source: c.Name, Claims: claims}
	if u.Identity, err = identity(c.Prefix(), claims[c.IDClaim()], c.IDClaim()); err != nil {
		return nil, err
	}
	u.Name = displayName(claims[c.DisplayClaim()])
	return u, nil
}

// classify turns go-oidc's error into ours. go-oidc's errors are
// strings (but for expiry); the key set notes a bad signature, and once
// the signature is good the payload peeked at is the issuer's word, so
// the failed check can be named from it.
func classify(err error, note *sigNote, p *peeked, c *policy.OIDCIssuer, now time.Time) error {
	var exp *oidc.TokenExpiredError
	switch {
	case note.err != nil:
		return fmt.Errorf("%w: %w", ErrInvalidToken, note.err)
	case errors.As(err, &exp):
		return invalid(ErrExpired, "expired at %s", exp.Expiry.UTC().Format(time.RFC3339))
	case !slices.Contains(p.Aud, c.Aud()):
		return invalid(ErrAudience, "issued to %q, not to %q", short(strings.Join(p.Aud, ",")), c.Aud())
	case p.Nbf != nil && now.Add(5*time.Minute).Before(time.Unix(int64(*p.Nbf), 0)):
		return invalid(ErrNotYetValid, "not valid before %s", time.Unix(int64(*p.Nbf), 0).UTC().Format(time.RFC3339))
	}
	return invalid(ErrMalformed, "not a valid ID token of %s", c.Name)
}

func invalid(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: %w: "+format, append([]any{ErrInvalidToken, kind}, args...)...)
}

// sigNote is how the key set tells Verify that the signature, not a
// claim, was the problem.
type sigNote struct{ err error }

type sigNoteKey struct{}

func noteSignature(ctx context.Context, err error) {
	if n, ok := ctx.Value(sigNoteKey{}).(*sigNote); ok {
		n.err = err
	}
}

// peeked is what a token says before anything is verified: enough to pick
// the issuer and, once go-oidc has verified the signature, to say which
// claim check failed.
type peeked struct {
	Alg string
	Iss string   `json:"iss"`
	Aud audience `json:"aud"`
	Nbf *float64 `json:"nbf"`
}

// audience is "aud": one string or a list.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("[")) {
		return json.Unmarshal(b, (*[]string)(a))
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*a = audience{s}
	return nil
}

// peek decodes a compact JWS's header and payload without verifying.
func peek(raw string) (*peeked, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWT (want three dot-separated parts)")
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := decodeSegment(parts[0], &h); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	var p peeked
	if err := decodeSegment(parts[1], &p); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	p.Alg = h.Alg
	return &p, nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return errors.New("not base64url")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errors.New("not the expected JSON object")
	}
	return nil
}
