package userauth

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// IssuerConfig is one OpenID Provider whose ID tokens are accepted
// (policy "oidc:" entries). YAML names are in the tags.
type IssuerConfig struct {
	// Name identifies the issuer in logs, metrics and errors, and is the
	// default identity prefix. Required: 1-32 of a-z 0-9 _ -.
	Name string `yaml:"name"`
	// Issuer is the provider's issuer URL, exactly as its tokens' "iss"
	// claim and its discovery document say. https, or http on a loopback
	// address (tests, a provider on the same host).
	Issuer string `yaml:"issuer"`
	// Audience is the client ID the tokens must be issued to ("aud").
	// ClientID is the same, by the name providers use; set one.
	Audience string `yaml:"audience"`
	ClientID string `yaml:"client_id"`
	// Algorithms the tokens may be signed with. Default: those the
	// discovery document lists (id_token_signing_alg_values_supported)
	// that are asymmetric; RS256, ES256 and EdDSA without discovery.
	// "none" and HS* are refused: an HMAC "signature" made with the
	// issuer's public key would otherwise pass.
	Algorithms []string `yaml:"algorithms"`
	// IdentityClaim is the claim that becomes the LiveKit identity:
	// "sub" (default, stable), "email" or "preferred_username".
	IdentityClaim string `yaml:"identity_claim"`
	// IdentityPrefix goes before the claim's value: default Name + ":",
	// so two issuers cannot produce the same identity. Set "" only with a
	// single user source and no caller-chosen identities.
	IdentityPrefix *string `yaml:"identity_prefix"`
	// NameClaim is the claim that becomes the participant's display name
	// (default "name"; a token without it gets none).
	NameClaim string `yaml:"name_claim"`
	// RequireClaims must all hold: a string claim equal to the value, a
	// list claim containing it, a boolean claim equal to "true"/"false"
	// (email_verified: "true").
	RequireClaims map[string]string `yaml:"require_claims"`
	// JWKSURL skips discovery and reads the keys here (providers without
	// a discovery document, such as Cloudflare Access).
	JWKSURL string `yaml:"jwks_url"`
}

// ForwardAuthConfig is an authenticating reverse proxy in front of serve
// (policy "forward_auth:"). Its headers are believed only from the
// policy's trusted_proxies.
type ForwardAuthConfig struct {
	// Header carries the signed-in user as the proxy saw them:
	// X-Auth-Request-User or X-Auth-Request-Email (oauth2-proxy),
	// X-Forwarded-Email, X-Pomerium-Claim-Email, Remote-User (Authelia),
	// Cf-Access-Authenticated-User-Email. Optional with CloudflareAccess.
	Header string `yaml:"header"`
	// NameHeader carries the display name (Remote-Name,
	// X-Auth-Request-Preferred-Username). Optional.
	NameHeader string `yaml:"name_header"`
	// GroupsHeader carries the user's groups, comma-separated
	// (X-Auth-Request-Groups, Remote-Groups): the claim "groups" for the
	// policy's rules. Optional.
	GroupsHeader string `yaml:"groups_header"`
	// IdentityPrefix goes before the user (default "proxy:").
	IdentityPrefix *string `yaml:"identity_prefix"`
	// CloudflareAccess verifies Cloudflare Access's signed
	// Cf-Access-Jwt-Assertion instead of reading a plain header.
	CloudflareAccess *CloudflareAccessConfig `yaml:"cloudflare_access"`
}

// CloudflareAccessConfig is a Cloudflare Access application.
type CloudflareAccessConfig struct {
	// TeamDomain is https://<team>.cloudflareaccess.com: the tokens'
	// issuer. Required.
	TeamDomain string `yaml:"team_domain"`
	// Audience is the application's AUD tag. Required.
	Audience string `yaml:"audience"`
	// JWKSURL defaults to TeamDomain + "/cdn-cgi/access/certs".
	JWKSURL string `yaml:"jwks_url"`
	// IdentityPrefix goes before the user's email (default "cf:").
	IdentityPrefix *string `yaml:"identity_prefix"`
}

// CloudflareHeader is the header Cloudflare Access signs the user into.
const CloudflareHeader = "Cf-Access-Jwt-Assertion"

// asymmetric are the algorithms an issuer may use: go-jose's public-key
// signatures. HS* (a shared secret the issuer would have to give us) and
// "none" are absent on purpose.
var asymmetric = []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"}

// defaultAlgorithms are accepted from an issuer without discovery.
var defaultAlgorithms = []string{"RS256", "ES256", "EdDSA"}

func (c IssuerConfig) audience() string {
	if c.Audience != "" {
		return c.Audience
	}
	return c.ClientID
}

func (c IssuerConfig) identityClaim() string { return or(c.IdentityClaim, "sub") }
func (c IssuerConfig) nameClaim() string     { return or(c.NameClaim, "name") }
func (c IssuerConfig) prefix() string        { return prefixOr(c.IdentityPrefix, c.Name+":") }

func (c *ForwardAuthConfig) prefix() string { return prefixOr(c.IdentityPrefix, "proxy:") }

// issuer is the Cloudflare team domain as an IssuerConfig: email is the
// identity, RS256 the algorithm, no discovery.
func (c *CloudflareAccessConfig) issuer() IssuerConfig {
	jwks := c.JWKSURL
	if jwks == "" {
		jwks = strings.TrimSuffix(c.TeamDomain, "/") + "/cdn-cgi/access/certs"
	}
	return IssuerConfig{
		Name: "cloudflare", Issuer: c.TeamDomain, Audience: c.Audience, JWKSURL: jwks,
		Algorithms: []string{"RS256"}, IdentityClaim: "email", IdentityPrefix: ptr(prefixOr(c.IdentityPrefix, "cf:")),
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func prefixOr(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

func ptr[T any](v T) *T { return &v }

// CheckConfig reports every problem in the user sources at once, each
// wrapped in ErrInvalidConfig. It does no I/O.
func CheckConfig(issuers []IssuerConfig, fa *ForwardAuthConfig) error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	type source struct{ where, prefix string }
	var sources []source
	names := map[string]bool{}
	urls := map[string]bool{}
	for i, c := range issuers {
		where := fmt.Sprintf("oidc[%d]", i)
		if c.Name != "" {
			where += " (" + c.Name + ")"
		}
		if !validName(c.Name) {
			add("%s: name: want 1-32 of a-z 0-9 _ -", where)
		} else if names[c.Name] {
			add("%s: name used twice", where)
		}
		names[c.Name] = true
		if err := checkURL(c.Issuer); err != nil {
			add("%s: issuer: %v", where, err)
		} else if urls[c.Issuer] {
			add("%s: issuer %s listed twice", where, c.Issuer)
		}
		urls[c.Issuer] = true
		switch {
		case c.Audience == "" && c.ClientID == "":
			add("%s: audience: the client ID its tokens are issued to is required", where)
		case c.Audience != "" && c.ClientID != "" && c.Audience != c.ClientID:
			add("%s: audience and client_id differ; set one", where)
		}
		for _, a := range c.Algorithms {
			if !slices.Contains(asymmetric, a) {
				add("%s: algorithms: %q is not accepted (want %s; none and HS* never)", where, a, strings.Join(asymmetric, ", "))
			}
		}
		if c.JWKSURL != "" {
			if err := checkURL(c.JWKSURL); err != nil {
				add("%s: jwks_url: %v", where, err)
			}
		}
		for k := range c.RequireClaims {
			if k == "" {
				add("%s: require_claims: empty claim name", where)
			}
		}
		sources = append(sources, source{where, c.prefix()})
	}
	if fa != nil {
		if fa.Header == "" && fa.CloudflareAccess == nil {
			add("forward_auth: header: name the header that carries the user (X-Auth-Request-User...), or configure cloudflare_access")
		}
		for _, h := range []struct{ field, val string }{{"header", fa.Header}, {"name_header", fa.NameHeader}, {"groups_header", fa.GroupsHeader}} {
			if h.val != "" && !validHeader(h.val) {
				add("forward_auth: %s: %q is not a header name", h.field, h.val)
			}
		}
		if fa.Header != "" {
			sources = append(sources, source{"forward_auth", fa.prefix()})
		}
		if cf := fa.CloudflareAccess; cf != nil {
			if err := checkURL(cf.TeamDomain); err != nil {
				add("forward_auth.cloudflare_access: team_domain: %v", err)
			}
			if cf.Audience == "" {
				add("forward_auth.cloudflare_access: audience: the application's AUD tag is required")
			}
			if cf.JWKSURL != "" {
				if err := checkURL(cf.JWKSURL); err != nil {
					add("forward_auth.cloudflare_access: jwks_url: %v", err)
				}
			}
			sources = append(sources, source{"forward_auth.cloudflare_access", cf.issuer().prefix()})
		}
	}
	// Two sources must not be able to produce the same identity: with
	// more than one, every prefix is non-empty and none starts another.
	for i, a := range sources {
		for _, b := range sources[i+1:] {
			if strings.HasPrefix(a.prefix, b.prefix) || strings.HasPrefix(b.prefix, a.prefix) {
				add("%s and %s: identity prefixes %q and %q overlap, so their users could get the same identity; give each its own", a.where, b.where, a.prefix, b.prefix)
			}
		}
	}
	return errors.Join(errs...)
}

// Prefixes returns the identity prefixes of every user source, so the
// policy can refuse a caller-chosen identity that starts with one.
func Prefixes(issuers []IssuerConfig, fa *ForwardAuthConfig) []string {
	var out []string
	for i := range issuers {
		out = append(out, issuers[i].prefix())
	}
	if fa != nil {
		if fa.Header != "" {
			out = append(out, fa.prefix())
		}
		if fa.CloudflareAccess != nil {
			out = append(out, fa.CloudflareAccess.issuer().prefix())
		}
	}
	return out
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validHeader accepts 1-128 of A-Z a-z 0-9 - _: every header a proxy
// sets a user in is one.
func validHeader(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// checkURL accepts https URLs, and http ones on a loopback address: an
// issuer's keys fetched over plain http from elsewhere could be anyone's.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: want an https:// URL", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if ip := net.ParseIP(h); (ip != nil && ip.IsLoopback()) || h == "localhost" {
			return nil
		}
		return fmt.Errorf("%q: http only on a loopback address; use https", s)
	}
	return fmt.Errorf("%q: want an https:// URL", s)
}
