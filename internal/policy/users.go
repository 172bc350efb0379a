package policy

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Signed-in users: callers whose identity comes from a verified login, an
// OpenID Connect ID token (KindOIDCUser) or an authenticating proxy
// (KindForwardAuthUser). The server verifies the login (package
// userauth); the policy says which logins are accepted (OIDC,
// ForwardAuth), how a login becomes an identity, and what users may do
// (Users), with rules on their claims.

// OIDCIssuer is one OpenID Provider whose ID tokens are accepted (the
// file's "oidc:" entries).
type OIDCIssuer struct {
	// Name identifies the issuer in logs and errors, and is the default
	// identity prefix. Required: 1-32 of a-z 0-9 _ -.
	Name string `yaml:"name"`
	// Issuer is the provider's issuer URL, exactly as its tokens' "iss"
	// claim and its discovery document say. https, or http on a loopback
	// address.
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
	// so two issuers cannot produce the same identity, and no caller may
	// choose an identity that starts with it. "" only with a single user
	// source.
	IdentityPrefix *string `yaml:"identity_prefix"`
	// NameClaim becomes the participant's display name (default "name").
	NameClaim string `yaml:"name_claim"`
	// RequireClaims must all hold: a string claim equal to the value, a
	// list claim containing it, a boolean claim equal to "true"/"false".
	RequireClaims map[string]string `yaml:"require_claims"`
	// JWKSURL skips discovery and reads the keys here.
	JWKSURL string `yaml:"jwks_url"`
}

// Aud is the audience the tokens must carry.
func (c OIDCIssuer) Aud() string { return cmp(c.Audience, c.ClientID) }

// Prefix is the identity prefix, default Name + ":".
func (c OIDCIssuer) Prefix() string { return prefixOr(c.IdentityPrefix, c.Name+":") }

// IDClaim is the identity claim, default "sub".
func (c OIDCIssuer) IDClaim() string { return cmp(c.IdentityClaim, "sub") }

// DisplayClaim is the display-name claim, default "name".
func (c OIDCIssuer) DisplayClaim() string { return cmp(c.NameClaim, "name") }

// ForwardAuth is an authenticating reverse proxy in front of serve (the
// file's "forward_auth:"). Its headers are believed only from the
// trusted_proxies.
type ForwardAuth struct {
	// Header carries the signed-in user: X-Auth-Request-User or
	// X-Auth-Request-Email (oauth2-proxy), X-Forwarded-Email,
	// X-Pomerium-Claim-Email, Remote-User (Authelia),
	// Cf-Access-Authenticated-User-Email. Optional with CloudflareAccess.
	Header string `yaml:"header"`
	// NameHeader carries the display name. Optional.
	NameHeader string `yaml:"name_header"`
	// GroupsHeader carries the groups, comma-separated: the claim
	// "groups" for Users.Rules. Optional.
	GroupsHeader string `yaml:"groups_header"`
	// IdentityPrefix goes before the user (default "proxy:").
	IdentityPrefix *string `yaml:"identity_prefix"`
	// CloudflareAccess verifies Cloudflare Access's signed
	// Cf-Access-Jwt-Assertion instead of reading a plain header.
	CloudflareAccess *CloudflareAccess `yaml:"cloudflare_access"`
}

// Prefix is the identity prefix, default "proxy:".
func (f *ForwardAuth) Prefix() string { return prefixOr(f.IdentityPrefix, "proxy:") }

// CloudflareAccess is a Cloudflare Access application.
type CloudflareAccess struct {
	// TeamDomain is https://<team>.cloudflareaccess.com, the tokens'
	// issuer. Required.
	TeamDomain string `yaml:"team_domain"`
	// Audience is the application's AUD tag. Required.
	Audience string `yaml:"audience"`
	// JWKSURL defaults to TeamDomain + "/cdn-cgi/access/certs".
	JWKSURL string `yaml:"jwks_url"`
	// IdentityPrefix goes before the user's email (default "cf:").
	IdentityPrefix *string `yaml:"identity_prefix"`
}

// AsIssuer is the team domain as an OIDCIssuer: email is the identity,
// RS256 the algorithm, keys at the certs URL without discovery.
func (c *CloudflareAccess) AsIssuer() OIDCIssuer {
	jwks := c.JWKSURL
	if jwks == "" {
		jwks = strings.TrimSuffix(c.TeamDomain, "/") + "/cdn-cgi/access/certs"
	}
	p := prefixOr(c.IdentityPrefix, "cf:")
	return OIDCIssuer{Name: "cloudflare", Issuer: c.TeamDomain, Audience: c.Audience, JWKSURL: jwks,
		Algorithms: []string{"RS256"}, IdentityClaim: "email", IdentityPrefix: &p}
}

// UsersPolicy is what signed-in users may do.
type UsersPolicy struct {
	// Rooms users may join: names or globs, exactly (the listed rooms
	// are not implied). Default: where browsers may go, the listed rooms
	// and allow_rooms.
	Rooms []string `yaml:"rooms"`
	// Grants from canPublish, canSubscribe, canPublishData (default all
	// three).
	Grants []string `yaml:"grants"`
	// Agents users may dispatch besides the rooms' own: names or "*".
	Agents []string `yaml:"agents"`
	// MaxTTL for users (default: the policy's max_ttl).
	MaxTTL Duration `yaml:"max_ttl"`
	// Metadata allows participant_metadata and participant_attributes.
	Metadata bool `yaml:"metadata"`
	// RateLimit per user (default: the per-address rate).
	RateLimit *Rate `yaml:"rate_limit"`
	// Rules give users whose login carries a claim other grants: the
	// first rule that holds wins; none: the grants above.
	Rules []ClaimRule `yaml:"rules"`
}

// ClaimRule applies to users whose claim Claim holds Value (a string
// equal to it, a list containing it, a boolean "true"/"false").
type ClaimRule struct {
	Claim string `yaml:"claim"`
	Value string `yaml:"value"`
	// Rooms where the rule applies, and which such users may join
	// besides Users.Rooms. Default: Users.Rooms.
	Rooms []string `yaml:"rooms"`
	// Grants and Agents as in UsersPolicy (default: the users').
	Grants []string `yaml:"grants"`
	Agents []string `yaml:"agents"`
}

// HasClaim reports whether claim holds value in claims: a string claim
// equal to it, a list claim containing it, a boolean whose "true" or
// "false" it is.
func HasClaim(claims map[string]any, claim, value string) bool {
	switch v := claims[claim].(type) {
	case string:
		return v == value
	case bool:
		return (v && value == "true") || (!v && value == "false")
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok && s == value {
				return true
			}
		}
	case []string:
		return slices.Contains(v, value)
	}
	return false
}

func cmp(s, def string) string {
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

// Asymmetric are the algorithms an issuer may sign ID tokens with: the
// public-key ones. HS* (a secret the issuer would have to share) and
// "none" are absent on purpose.
var Asymmetric = []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"}

// userClass is the compiled Users: the base class and one per rule.
type userClass struct {
	base     class
	rules    []userRule
	prefixes []string // identity prefixes of every user source, non-empty ones
}

type userRule struct {
	claim, value string
	cl           class
}

// pick is the class for a user's request for room: the first rule whose
// claim holds and whose rooms (or the users') match, else the base.
func (u *userClass) pick(claims map[string]any, room string) *class {
	for i := range u.rules {
		ru := &u.rules[i]
		if HasClaim(claims, ru.claim, ru.value) && ru.cl.rooms.match(room) {
			return &ru.cl
		}
	}
	return &u.base
}

// users compiles the user sources and Users.
func (c *compiler) users(r *Rules, f *File, maxTTL time.Duration, addrRate Rate) {
	r.oidc = f.OIDC
	r.forwardAuth = f.ForwardAuth
	c.userSources(r, f)
	u := f.Users
	where := "users"
	rm := r.browser.rooms // default: where browsers may go (checked there)
	if u.Rooms != nil {
		rm = c.roomMatcher(where+".rooms", u.Rooms, nil) // exactly these, as for API keys
	}
	g := c.grants(where+".grants", u.Grants, false)
	c.agentNames(where+".agents", u.Agents)
	ttl := time.Duration(u.MaxTTL)
	if ttl == 0 {
		ttl = maxTTL
	}
	rate := addrRate
	if u.RateLimit != nil {
		rate = *u.RateLimit
		c.rate(where+".rate_limit", rate)
	}
	agents := roomAgents(r.roomList)
	r.users.base = class{name: "users", kind: KindOIDCUser, rooms: rm, maxTTL: ttl, grants: g, agents: u.Agents,
		metadata: u.Metadata, rate: rate, roomAgents: agents, video: g.video()}
	for i, ru := range u.Rules {
		w := fmt.Sprintf("users.rules[%d]", i)
		if ru.Claim == "" || ru.Value == "" {
			c.add("%s: claim and value are required (claim: groups, value: hosts)", w)
		}
		cl := r.users.base
		if ru.Rooms != nil {
			cl.rooms = c.roomMatcher(w+".rooms", ru.Rooms, nil)
		}
		if ru.Grants != nil {
			cl.grants = c.grants(w+".grants", ru.Grants, false)
			cl.video = cl.grants.video()
		}
		if ru.Agents != nil {
			c.agentNames(w+".agents", ru.Agents)
			cl.agents = ru.Agents
		}
		r.users.rules = append(r.users.rules, userRule{claim: ru.Claim, value: ru.Value, cl: cl})
	}
}

// userSource is one source of signed-in users and the identity prefix
// it gives them.
type userSource struct{ where, prefix string }

// userSources checks the oidc and forward_auth sections: every problem,
// and prefixes that would let two sources produce the same identity.
func (c *compiler) userSources(r *Rules, f *File) {
	var sources []userSource
	seen := issuersSeen{names: map[string]bool{}, urls: map[string]bool{}}
	for i, o := range f.OIDC {
		where := fmt.Sprintf("oidc[%d]", i)
		if o.Name != "" {
			where += " (" + o.Name + ")"
		}
		c.issuer(where, o, seen)
		sources = append(sources, userSource{where, o.Prefix()})
	}
	sources = append(sources, c.forwardAuth(f.ForwardAuth)...)
	r.users.prefixes = c.prefixes(sources)
}

// forwardAuth checks the forward_auth section and returns the user
// sources it configures: the header, Cloudflare Access, or both.
func (c *compiler) forwardAuth(fa *ForwardAuth) []userSource {
	if fa == nil {
		return nil
	}
	if fa.Header == "" && fa.CloudflareAccess == nil {
		c.add("forward_auth: header: name the header that carries the user (X-Auth-Request-User...), or configure cloudflare_access")
	}
	for _, h := range []struct{ field, val string }{{"header", fa.Header}, {"name_header", fa.NameHeader}, {"groups_header", fa.GroupsHeader}} {
		if h.val != "" && !validHeader(h.val) {
			c.add("forward_auth: %s: %q is not a header name", h.field, h.val)
		}
	}
	var sources []userSource
	if fa.Header != "" {
		sources = append(sources, userSource{"forward_auth", fa.Prefix()})
	}
	if cf := fa.CloudflareAccess; cf != nil {
		c.cloudflareAccess(cf)
		sources = append(sources, userSource{"forward_auth.cloudflare_access", cf.AsIssuer().Prefix()})
	}
	return sources
}

// cloudflareAccess checks the forward_auth.cloudflare_access section.
func (c *compiler) cloudflareAccess(cf *CloudflareAccess) {
	const where = "forward_auth.cloudflare_access"
	if cf.Audience == "" {
		c.add("%s: audience: the application's AUD tag is required", where)
	}
	if err := checkURL(cf.TeamDomain); err != nil {
		c.add("%s: team_domain: %v", where, err)
	}
	c.optionalURL(where+": jwks_url", cf.JWKSURL)
}

// prefixes reports every pair of sources whose identity prefixes overlap
// and returns the non-empty prefixes.
func (c *compiler) prefixes(sources []userSource) []string {
	var out []string
	for i, a := range sources {
		for _, b := range sources[i+1:] {
			if strings.HasPrefix(a.prefix, b.prefix) || strings.HasPrefix(b.prefix, a.prefix) {
				c.add("%s and %s: identity prefixes %q and %q overlap, so their users could get the same identity; give each its own", a.where, b.where, a.prefix, b.prefix)
			}
		}
		if a.prefix != "" {
			out = append(out, a.prefix)
		}
	}
	return out
}

// issuersSeen holds the names and issuer URLs of the oidc entries
// checked so far, so that each may appear once.
type issuersSeen struct{ names, urls map[string]bool }

// issuer checks one oidc entry.
func (c *compiler) issuer(where string, o OIDCIssuer, seen issuersSeen) {
	c.issuerIDs(where, o, seen)
	if o.Aud() == "" {
		c.add("%s: audience: the client ID its tokens are issued to is required", where)
	} else if o.Audience != "" && o.ClientID != "" && o.Audience != o.ClientID {
		c.add("%s: audience and client_id differ; set one", where)
	}
	for _, a := range o.Algorithms {
		if !slices.Contains(Asymmetric, a) {
			c.add("%s: algorithms: %q is not accepted (want %s; none and HS* never)", where, a, strings.Join(Asymmetric, ", "))
		}
	}
	c.optionalURL(where+": jwks_url", o.JWKSURL)
	if _, ok := o.RequireClaims[""]; ok {
		c.add("%s: require_claims: empty claim name", where)
	}
}

// issuerIDs checks an oidc entry's name and issuer URL: valid, and
// neither used by an earlier entry.
func (c *compiler) issuerIDs(where string, o OIDCIssuer, seen issuersSeen) {
	if !validSourceName(o.Name) {
		c.add("%s: name: want 1-32 of a-z 0-9 _ -", where)
	} else if seen.names[o.Name] {
		c.add("%s: name used twice", where)
	}
	seen.names[o.Name] = true
	if err := checkURL(o.Issuer); err != nil {
		c.add("%s: issuer: %v", where, err)
	} else if seen.urls[o.Issuer] {
		c.add("%s: issuer %s listed twice", where, o.Issuer)
	}
	seen.urls[o.Issuer] = true
}

// optionalURL checks s with checkURL unless it is empty; where names
// the field.
func (c *compiler) optionalURL(where, s string) {
	if s == "" {
		return
	}
	if err := checkURL(s); err != nil {
		c.add("%s: %v", where, err)
	}
}

func validSourceName(s string) bool {
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

// checkURL accepts https URLs, and http ones on a loopback address: keys
// fetched over plain http from elsewhere could be anyone's.
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

// CheckURL is the rule for issuer and key-set URLs (for discovered ones).
func CheckURL(s string) error { return checkURL(s) }

// User is the caller for a verified login: kind KindOIDCUser or
// KindForwardAuthUser, source the issuer's name ("forward_auth",
// "cloudflare"), the identity and name the login gives, and its claims
// for the rules.
func (r *Rules) User(kind Kind, source, identity, name string, claims map[string]any) Caller {
	return Caller{Kind: kind, ID: source, Identity: identity, UserName: name, Claims: claims, class: &r.users.base}
}

// OIDC are the accepted issuers, as the file lists them. Do not modify.
func (r *Rules) OIDC() []OIDCIssuer { return r.oidc }

// ForwardAuth is the forward-auth section, or nil. Do not modify.
func (r *Rules) ForwardAuth() *ForwardAuth { return r.forwardAuth }

// Login says how users sign in: "oidc", "forward_auth", or "" when the
// policy names no user source (the page then offers a name field).
func (r *Rules) Login() string {
	switch {
	case len(r.oidc) > 0:
		return "oidc"
	case r.forwardAuth != nil:
		return "forward_auth"
	}
	return ""
}

// reservedPrefix is the user-source prefix id starts with, or "".
func (r *Rules) reservedPrefix(id string) string {
	for _, p := range r.users.prefixes {
		if strings.HasPrefix(id, p) {
			return p
		}
	}
	return ""
}

// IsUser reports whether k is a signed-in user's kind.
func (k Kind) IsUser() bool { return k == KindOIDCUser || k == KindForwardAuthUser }

// browserDisabled is the refusal of a caller that presents nothing when
// browsers are disabled: it names what would be accepted.
func (r *Rules) browserDisabled() *Denial {
	switch r.Login() {
	case "oidc":
		return deny(CodeBrowserDisabled, "this server issues tokens to signed-in users: sign in (the page sends your ID token as Authorization: Bearer)")
	case "forward_auth":
		return deny(CodeBrowserDisabled, "this server issues tokens to users signed in through its proxy: open the page through it")
	}
	return deny(CodeBrowserDisabled, "this server issues tokens to API-key callers only: send Authorization: Bearer <key>")
}
