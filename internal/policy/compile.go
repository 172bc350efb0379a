package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"path"
	"regexp"
	"strings"
	"time"
)

// Compile checks f and builds the request-path form. Every problem is
// returned, joined, wrapped in ErrInvalidPolicy.
func Compile(f *File) (*Rules, error) {
	c := &compiler{}
	r := &Rules{defaultRoom: f.DefaultRoom}
	c.rooms(r, f)
	maxTTL := c.ttls(r, f)
	c.identity(r, f.Identity)
	c.network(r, f)
	addrRate, keyRate := c.rates(f.RateLimit)
	r.v6bits = c.ipv6Prefix(f.RateLimit.IPv6Prefix)
	r.browser = c.browser(r, f, maxTTL, addrRate)
	c.apiKeys(r, f.APIKeys, maxTTL, keyRate)
	c.reserved(r, f)
	c.users(r, f, maxTTL, addrRate)
	if len(c.errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPolicy, errors.Join(c.errs...))
	}
	return r, nil
}

// compiler collects every problem of a file.
type compiler struct{ errs []error }

func (c *compiler) add(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

const roomRule = "want 1-128 of A-Z a-z 0-9 _ . - starting with a letter or digit"

// rooms reads the listed rooms and the default room.
func (c *compiler) rooms(r *Rules, f *File) {
	r.rooms = map[string]Room{}
	r.roomConfigs = map[string]json.RawMessage{}
	for i, room := range f.Rooms {
		switch {
		case !SafeName(room.Name):
			c.add("rooms[%d]: name %q: %s", i, room.Name, roomRule)
			continue
		case r.rooms[room.Name].Name != "":
			c.add("rooms[%d]: %q is listed twice", i, room.Name)
			continue
		case room.Agent != "" && !SafeName(room.Agent):
			c.add("rooms[%d]: agent %q is not a valid agent name", i, room.Agent)
		case len(room.Description) > 1024:
			c.add("rooms[%d]: description longer than 1024 bytes", i)
		}
		r.rooms[room.Name] = room
		r.roomList = append(r.roomList, room)
		if room.Agent != "" {
			r.roomConfigs[room.Name] = append(appendAgent([]byte(`{"agents":[`), Dispatch{AgentName: room.Agent}), "]}"...)
		}
	}
	if f.DefaultRoom != "" && !SafeName(f.DefaultRoom) {
		c.add("default_room %q: not a safe room name", f.DefaultRoom)
	}
}

// ttls reads max_ttl and default_ttl and returns the maximum.
func (c *compiler) ttls(r *Rules, f *File) time.Duration {
	maxTTL := time.Duration(f.MaxTTL)
	if maxTTL == 0 {
		maxTTL = DefaultMaxTTL
	}
	r.defaultTTL = time.Duration(f.DefaultTTL)
	if r.defaultTTL == 0 {
		r.defaultTTL = min(DefaultTTL, maxTTL)
	}
	if r.defaultTTL > maxTTL {
		c.add("default_ttl %s is longer than max_ttl %s", r.defaultTTL, maxTTL)
	}
	return maxTTL
}

func (c *compiler) identity(r *Rules, id IdentityPolicy) {
	if id.Pattern != "" {
		re, err := regexp.Compile(`^(?:` + id.Pattern + `)$`)
		if err != nil {
			c.add("identity.pattern: %w", err)
		}
		r.identity = re
	}
	r.genPrefix = id.GeneratedPrefix
	if r.genPrefix == "" {
		r.genPrefix = "user-"
	}
	if !SafeIdentity(r.genPrefix + "x") {
		c.add("identity.generated_prefix %q: not a safe identity", r.genPrefix)
	}
}

// reserved collects the identities browsers may not take: the file's,
// every agent name it mentions, and LiveKit's agent prefix.
func (c *compiler) reserved(r *Rules, f *File) {
	r.reserved = map[string]bool{}
	add := func(where, name string) {
		if !SafeIdentity(name) {
			c.add("%s: %q is not a valid identity", where, name)
			return
		}
		r.reserved[strings.ToLower(name)] = true
	}
	for _, n := range f.Identity.Reserved {
		add("identity.reserved", n)
	}
	r.reservedPrefixes = []string{AgentIdentityPrefix}
	for _, p := range f.Identity.ReservedPrefixes {
		if !SafeIdentity(p) {
			c.add("identity.reserved_prefixes: %q is not a valid identity prefix", p)
			continue
		}
		r.reservedPrefixes = append(r.reservedPrefixes, strings.ToLower(p))
	}
	for _, room := range f.Rooms {
		if room.Agent != "" && SafeName(room.Agent) {
			r.reserved[strings.ToLower(room.Agent)] = true
		}
	}
	agents := append([]string(nil), f.Browser.Agents...)
	for _, k := range f.APIKeys {
		agents = append(agents, k.Agents...)
	}
	for _, a := range agents {
		if a != "*" && SafeName(a) {
			r.reserved[strings.ToLower(a)] = true
		}
	}
}

// network checks what the HTTP layer enforces: origins, hosts, proxies.
func (c *compiler) network(r *Rules, f *File) {
	r.origins = map[string]bool{}
	for _, o := range f.Origins {
		if o == "*" {
			r.anyOrigin = true
			continue
		}
		n, err := NormalizeOrigin(o)
		if err != nil {
			c.errs = append(c.errs, err)
			continue
		}
		r.origins[n] = true
	}
	for _, h := range f.Hosts {
		if h != "*" && !ValidHost(h) {
			c.add("hosts: %q: want a host name such as voice.example.com (no scheme, no path)", h)
		}
	}
	r.hosts = f.Hosts
	for _, s := range f.TrustedProxies {
		p, err := parseProxy(s)
		if err != nil {
			c.errs = append(c.errs, err)
			continue
		}
		r.proxies = append(r.proxies, p)
	}
}

func parseProxy(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("trusted_proxies: %q: want an address (10.0.0.2) or a CIDR prefix (10.0.0.0/8)", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// rates reads the per-address and per-key buckets.
func (c *compiler) rates(rl RateLimits) (addr, key Rate) {
	addr = rateOr(rl.PerAddress, Rate{DefaultAddressRate, DefaultAddressBurst})
	key = rateOr(rl.PerKey, Rate{DefaultKeyRate, DefaultKeyBurst})
	c.rate("rate_limit.per_address", addr)
	c.rate("rate_limit.per_key", key)
	return addr, key
}

func (c *compiler) ipv6Prefix(bits int) int {
	switch {
	case bits == 0:
		return DefaultIPv6Prefix
	case bits < 8 || bits > 128:
		c.add("rate_limit.ipv6_prefix %d: want 8-128 leading bits (64: one subscriber's network)", bits)
	}
	return bits
}

func (c *compiler) rate(what string, r Rate) {
	if r.Rate < 0 || math.IsNaN(r.Rate) || math.IsInf(r.Rate, 0) {
		c.add("%s: rate must be 0 (off) or a positive number per second", what)
	}
	if r.Rate > 0 && r.Burst < 1 {
		c.add("%s: burst must be at least 1", what)
	}
}

func rateOr(r *Rate, def Rate) Rate {
	if r == nil {
		return def
	}
	return *r
}

func (c *compiler) browser(r *Rules, f *File, maxTTL time.Duration, rate Rate) class {
	b := f.Browser
	rm := c.roomMatcher("allow_rooms", f.AllowRooms, r.rooms)
	g := c.grants("browser.grants", b.Grants, false)
	c.agentNames("browser.agents", b.Agents)
	return class{
		name: "browser", kind: KindBrowser, disabled: b.Disabled, rooms: rm, maxTTL: maxTTL, grants: g,
		metadata: b.Metadata, serverID: b.ServerIdentity != nil && *b.ServerIdentity, rate: rate,
		roomAgents: roomAgents(r.roomList), video: g.video(), agents: b.Agents,
		honoursReserved: true, dispatchMeta: b.DispatchMetadata,
	}
}

func roomAgents(rooms []Room) map[string]string {
	m := map[string]string{}
	for _, r := range rooms {
		if r.Agent != "" {
			m[r.Name] = r.Agent
		}
	}
	return m
}

func (c *compiler) apiKeys(r *Rules, keys []APIKey, maxTTL time.Duration, rate Rate) {
	names := map[string]bool{}
	hashes := map[string]bool{}
	agents := roomAgents(r.roomList)
	for i, k := range keys {
		where := fmt.Sprintf("api_keys[%d]", i)
		if k.Name != "" {
			where += " (" + k.Name + ")"
		}
		if !SafeName(k.Name) {
			c.add("%s: name: want 1-%d of A-Z a-z 0-9 _ . -", where, MaxNameLen)
		} else if names[k.Name] {
			c.add("%s: name used twice", where)
		}
		names[k.Name] = true
		sum := c.keyHash(where, k.SHA256)
		if sum != nil && hashes[string(sum)] {
			c.add("%s: the same key hash is listed twice", where)
		}
		hashes[string(sum)] = true
		cl := c.apiKey(where, k, maxTTL, rate)
		cl.roomAgents = agents
		r.keys = append(r.keys, cl)
		r.keyHashes = append(r.keyHashes, sum)
	}
}

func (c *compiler) keyHash(where, hexSum string) []byte {
	sum, err := hex.DecodeString(strings.ToLower(hexSum))
	if err != nil || len(sum) != sha256.Size {
		c.add("%s: sha256: want 64 hex digits, the SHA-256 of the key (printf %%s \"$KEY\" | sha256sum)", where)
		return nil
	}
	return sum
}

func (c *compiler) apiKey(where string, k APIKey, maxTTL time.Duration, rate Rate) *class {
	if len(k.Rooms) == 0 {
		c.add("%s: rooms: list the rooms the key may mint for (\"*\" for any)", where)
	}
	rm := c.roomMatcher(where, k.Rooms, nil)
	g := c.grants(where, k.Grants, true)
	c.agentNames(where+": agents", k.Agents)
	kmax := time.Duration(k.MaxTTL)
	if kmax == 0 {
		kmax = maxTTL
	}
	kr := rateOr(k.RateLimit, rate)
	c.rate(where+": rate_limit", kr)
	return &class{
		name: k.Name, kind: KindAPIKey, rooms: rm, maxTTL: kmax, grants: g, agents: k.Agents,
		metadata: k.Metadata, rate: kr, limitKey: "key:" + k.Name, video: g.video(),
		dispatchMeta: k.DispatchMetadata == nil || *k.DispatchMetadata,
	}
}

func (c *compiler) agentNames(where string, agents []string) {
	for _, a := range agents {
		if a != "*" && !SafeName(a) {
			c.add("%s: %q is not a valid agent name", where, a)
		}
	}
}

func (c *compiler) roomMatcher(where string, patterns []string, listed map[string]Room) roomMatcher {
	m := roomMatcher{exact: map[string]bool{}}
	for name := range listed {
		m.exact[name] = true
	}
	for _, p := range patterns {
		switch {
		case p == "*":
			m.any = true
		case strings.ContainsAny(p, "*?["):
			if _, err := path.Match(p, ""); err != nil {
				c.add("%s: room pattern %q: %w", where, p, err)
				continue
			}
			m.globs = append(m.globs, p)
		case !SafeName(p):
			c.add("%s: room %q: %s", where, p, roomRule)
		default:
			m.exact[p] = true
		}
	}
	return m
}

// isAdminGrant reports LiveKit grants that administer rather than take
// part: never issued through the API.
func isAdminGrant(n string) bool {
	switch n {
	case "roomAdmin", "roomCreate", "roomList", "roomRecord", "ingressAdmin", "recorder",
		"agent", "canManageAgentSession", "destinationRoom",
		"sip", "sip.admin", "sip.call", "sipAdmin", "sipCall",
		"agent.admin", "agentAdmin", "dispatchAdmin", "simulationAdmin", "databaseAdmin":
		return true
	}
	return false
}

func (c *compiler) grants(where string, names []string, allowKeyOnly bool) grantSet {
	if names == nil {
		return grantSet{publish: true, subscribe: true, data: true}
	}
	var g grantSet
	for _, n := range names {
		keyOnly := false
		switch n {
		case "canPublish":
			g.publish = true
		case "canSubscribe":
			g.subscribe = true
		case "canPublishData":
			g.data = true
		case "canUpdateOwnMetadata":
			g.updateMeta, keyOnly = true, true
		case "canSubscribeMetrics":
			g.subMetrics, keyOnly = true, true
		case "hidden":
			g.hidden, keyOnly = true, true
		default:
			if isAdminGrant(n) {
				c.add("%s: grant %q: %w", where, n, ErrAdminGrant)
			} else {
				c.add("%s: grant %q: unknown (want canPublish, canSubscribe, canPublishData, canUpdateOwnMetadata, canSubscribeMetrics or hidden)", where, n)
			}
			continue
		}
		if keyOnly && !allowKeyOnly {
			c.add("%s: grant %q: only API-key callers may have it", where, n)
		}
	}
	return g
}
