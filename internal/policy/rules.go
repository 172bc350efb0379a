package policy

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/netip"
	"path"
	"regexp"
	"time"

	"voicetoken/internal/token"
)

// Rules is a File compiled for the request path: lookups are maps and
// precompiled matchers, grants are ready-made. It is immutable and safe
// for concurrent use; a reload compiles a new one.
type Rules struct {
	defaultRoom string
	rooms       map[string]Room
	roomList    []Room
	browser     class
	keys        []*class // API-key callers
	keyHashes   [][]byte // parallel to keys
	identity    *regexp.Regexp
	genPrefix   string
	// reserved identities (lower case) and prefixes: never a browser's.
	reserved         map[string]bool
	reservedPrefixes []string
	defaultTTL       time.Duration
	// roomConfigs are the pre-encoded roomConfig claims of rooms that
	// have an agent.
	roomConfigs map[string]json.RawMessage

	// What the HTTP layer enforces, checked here so a file is judged
	// whole.
	origins   map[string]bool
	anyOrigin bool
	hosts     []string
	proxies   []netip.Prefix
	v6bits    int

	// Signed-in users (users.go).
	users       userClass
	oidc        []OIDCIssuer
	forwardAuth *ForwardAuth
}

// class is the rules for one class of caller (the browser, one API key).
type class struct {
	name     string // "browser" or the API key's name
	kind     Kind
	disabled bool
	rooms    roomMatcher
	maxTTL   time.Duration
	grants   grantSet
	agents   []string // allowed agent names; "*" any; room agents always
	metadata bool
	serverID bool // identity chosen by the server only
	// honoursReserved: the reserved identities are refused to this
	// caller (browsers: they cannot prove who they are).
	honoursReserved bool
	dispatchMeta    bool // may set an agent's job metadata and deployment
	rate            Rate
	roomAgents      map[string]string
	limitKey        string           // "key:<name>" for API keys; browsers use their address
	video           token.VideoGrant // template; Room is set per request
}

// Browser is the caller that presents no credential. It is refused with
// CodeBrowserDisabled when the policy serves API-key callers only.
func (r *Rules) Browser() (Caller, *Denial) {
	c := Caller{Kind: KindBrowser, class: &r.browser}
	if r.browser.disabled {
		return c, r.browserDisabled()
	}
	return c, nil
}

// APIKey finds the caller for a bearer key. Every configured hash is
// compared, in constant time, so the time taken says nothing about which
// entry (if any) matched.
func (r *Rules) APIKey(bearer string) (Caller, bool) {
	sum := sha256.Sum256([]byte(bearer))
	var found *class
	for i, h := range r.keyHashes {
		if subtle.ConstantTimeCompare(sum[:], h) == 1 {
			found = r.keys[i]
		}
	}
	if found == nil {
		return Caller{}, false
	}
	return Caller{Kind: KindAPIKey, ID: found.name, class: found}, true
}

// Limit is the token bucket that c's requests spend from, and its key:
// "key:<name>" for an API key; "" for a browser, which the server keys
// by its address.
func (r *Rules) Limit(c Caller) (rate Rate, key string) {
	if c.class == nil {
		return r.browser.rate, ""
	}
	if c.Kind.IsUser() {
		return c.class.rate, "user:" + c.Identity
	}
	return c.class.rate, c.class.limitKey
}

// IPv6Prefix is how many leading bits of an IPv6 address key one client.
func (r *Rules) IPv6Prefix() int { return r.v6bits }

// AuthFailureRate is the bucket a failed authentication spends from, by
// client address: the per-address rate, or its default when the policy
// turned that off, so that a key cannot be guessed online either way.
func (r *Rules) AuthFailureRate() Rate {
	if r.browser.rate.Rate <= 0 {
		return Rate{Rate: DefaultAddressRate, Burst: DefaultAddressBurst}
	}
	return r.browser.rate
}

// DefaultRoom is the room a request that names none gets ("" none).
func (r *Rules) DefaultRoom() string { return r.defaultRoom }

// Rooms are the listed rooms, in the file's order. Do not modify.
func (r *Rules) Rooms() []Room { return r.roomList }

// APIKeys is the number of API-key callers.
func (r *Rules) APIKeys() int { return len(r.keys) }

// IdentityPrefix starts the identities the server generates.
func (r *Rules) IdentityPrefix() string { return r.genPrefix }

// Origins are the normalised origins allowed cross-origin (see
// NormalizeOrigin), and whether any origin is. Do not modify.
func (r *Rules) Origins() (allowed map[string]bool, any bool) { return r.origins, r.anyOrigin }

// Hosts are the Host names the policy lists (checked by ValidHost).
func (r *Rules) Hosts() []string { return r.hosts }

// TrustedProxies are the compiled trusted_proxies, masked, IPv4 unmapped.
func (r *Rules) TrustedProxies() []netip.Prefix { return r.proxies }

type roomMatcher struct {
	exact map[string]bool
	globs []string
	any   bool
}

func (m *roomMatcher) match(room string) bool {
	if m.any || m.exact[room] {
		return true
	}
	for _, g := range m.globs {
		if ok, _ := path.Match(g, room); ok {
			return true
		}
	}
	return false
}

// grantSet is the permissions a caller's tokens carry besides roomJoin.
type grantSet struct {
	publish, subscribe, data, updateMeta, subMetrics, hidden bool
}

// video is the grant template. Every publish/subscribe permission is
// written explicitly, true or false: LiveKit treats an absent one as
// granted.
func (g grantSet) video() token.VideoGrant {
	v := token.VideoGrant{
		RoomJoin:       true,
		CanPublish:     token.Bool(g.publish),
		CanSubscribe:   token.Bool(g.subscribe),
		CanPublishData: token.Bool(g.data),
		Hidden:         g.hidden,
	}
	if g.updateMeta {
		v.CanUpdateOwnMetadata = token.Bool(true)
	}
	if g.subMetrics {
		v.CanSubscribeMetrics = token.Bool(true)
	}
	return v
}
