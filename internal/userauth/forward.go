package userauth

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"voicetoken/internal/policy"
)

// ForwardAuth reads the user an authenticating proxy vouches for. It is
// immutable; build it with Registry.ForwardAuth.
type ForwardAuth struct {
	header, nameHeader, groupsHeader string // canonical
	prefix                           string
	cf                               *Verifier // Cloudflare Access, or nil
}

// ForwardAuth returns the reader for cfg (checked by policy.Compile); a
// nil cfg gives nil, which every method accepts.
func (r *Registry) ForwardAuth(cfg *policy.ForwardAuth) *ForwardAuth {
	if cfg == nil {
		return nil
	}
	f := &ForwardAuth{
		header:       http.CanonicalHeaderKey(cfg.Header),
		nameHeader:   http.CanonicalHeaderKey(cfg.NameHeader),
		groupsHeader: http.CanonicalHeaderKey(cfg.GroupsHeader),
		prefix:       cfg.Prefix(),
	}
	if cfg.CloudflareAccess != nil {
		f.cf = r.Verifier([]policy.OIDCIssuer{cfg.CloudflareAccess.AsIssuer()})
	}
	return f
}

// Ready is nil unless Cloudflare Access's keys are not known yet.
func (f *ForwardAuth) Ready() error {
	if f == nil {
		return nil
	}
	return f.cf.Ready()
}

// Present reports whether h carries a forward-auth credential.
func (f *ForwardAuth) Present(h http.Header) bool {
	if f == nil {
		return false
	}
	return (f.cf != nil && len(h[CloudflareHeader]) > 0) || (f.header != "" && len(h[f.header]) > 0)
}

// Authenticate returns the user the request's headers name, or nil, nil
// when they name none. trusted says whether the request came straight
// from one of the policy's trusted proxies: the plain header is believed
// only then (anyone can send a header), and a request from elsewhere
// that carries it is refused with ErrUntrustedProxy. Cloudflare Access's
// assertion is verified as a signed token, so it is accepted from any
// address.
func (f *ForwardAuth) Authenticate(ctx context.Context, h http.Header, trusted bool) (*User, error) {
	if f == nil {
		return nil, nil
	}
	if vals := h[CloudflareHeader]; f.cf != nil && len(vals) > 0 {
		return f.cloudflare(ctx, vals)
	}
	if f.header == "" {
		return nil, nil
	}
	return f.fromHeader(h, trusted)
}

// cloudflare verifies Cloudflare Access's signed assertion, vals being
// the header's values.
func (f *ForwardAuth) cloudflare(ctx context.Context, vals []string) (*User, error) {
	if len(vals) > 1 {
		return nil, invalid(ErrMalformed, "%s given twice", CloudflareHeader)
	}
	u, err := f.cf.Verify(ctx, vals[0])
	if err != nil {
		return nil, err
	}
	u.Kind = KindForwardAuth
	return u, nil
}

// fromHeader reads the user the plain header names, with the name and
// groups headers when configured; believed only from a trusted proxy.
func (f *ForwardAuth) fromHeader(h http.Header, trusted bool) (*User, error) {
	vals := h[f.header]
	switch {
	case len(vals) == 0:
		return nil, nil
	case !trusted:
		return nil, fmt.Errorf("%w: %s is believed only from trusted_proxies", ErrUntrustedProxy, f.header)
	case len(vals) > 1:
		return nil, invalid(ErrMalformed, "%s given twice", f.header)
	}
	name := strings.TrimSpace(vals[0])
	claims := map[string]any{"sub": name}
	id, err := identity(f.prefix, name, f.header)
	if err != nil {
		return nil, err
	}
	u := &User{Kind: KindForwardAuth, Source: "forward_auth", Identity: id, Claims: claims}
	if f.nameHeader != "" {
		u.Name = displayName(strings.TrimSpace(h.Get(f.nameHeader)))
		if u.Name != "" {
			claims["name"] = u.Name
		}
	}
	if f.groupsHeader != "" {
		claims["groups"] = splitGroups(h[f.groupsHeader])
	}
	return u, nil
}

// splitGroups is the "groups" claim of comma-separated group header
// values: each group trimmed, empty ones dropped.
func splitGroups(vals []string) []any {
	var groups []any
	for _, v := range vals {
		for g := range strings.SplitSeq(v, ",") {
			if g = strings.TrimSpace(g); g != "" {
				groups = append(groups, g)
			}
		}
	}
	return groups
}
