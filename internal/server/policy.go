package server

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"voicetoken/internal/token"
)

// ErrInvalidPolicy wraps every problem found in a policy file.
var ErrInvalidPolicy = errors.New("invalid policy")

// ErrAdminGrant means a policy asked for an admin grant (roomAdmin,
// roomCreate, ...). Those are never issued through the public API: mint
// them with `voicetoken mint` on a trusted machine.
var ErrAdminGrant = errors.New("admin grants are never issued through the token API")

// Defaults, each chosen to be safe for a server that anyone on the network
// can reach.
const (
	// DefaultMaxTTL caps token validity. A LiveKit token only gates the
	// initial connection (reconnects use a refreshed token), so a day is
	// plenty; longer requests are refused with 400, never silently cut.
	DefaultMaxTTL = 24 * time.Hour
	// DefaultTTL is LiveKit's own SDK default validity.
	DefaultTTL = 6 * time.Hour
	// DefaultRoom is LiveKit's and the seed's dev room.
	DefaultRoom = "test-room"
	// Browser callers share an address behind NAT, so the bucket is
	// generous in burst but slow to refill: a page needs a token a minute,
	// not a hundred a second.
	DefaultAddressRate  = 5.0
	DefaultAddressBurst = 50
	DefaultKeyRate      = 50.0
	DefaultKeyBurst     = 200
	// maxNameLen bounds room names, identities and display names.
	maxNameLen = 128
	// maxMetadataLen bounds participant and agent metadata (LiveKit's own
	// limit for participant metadata is 64 KiB; a token in a URL must stay
	// far smaller).
	maxMetadataLen = 4 << 10
	maxAttributes  = 32
	maxAgents      = 4
)

// Policy is the policy file: which rooms exist, who may join what, for
// how long, from which origins, how often. The zero value is not useful;
// start from DefaultPolicy or ParsePolicy. YAML names are in the tags;
// examples/policy.yaml documents every field.
type Policy struct {
	// DefaultRoom is the room GET /api/token uses when the request names
	// none. Empty: the room is required.
	DefaultRoom string `yaml:"default_room"`
	// Rooms are listed by GET /api/rooms and are always joinable. A room
	// with an Agent dispatches that agent to the room with every token.
	Rooms []Room `yaml:"rooms"`
	// AllowRooms are further room names browser callers may join: exact
	// names or path.Match globs ("demo-*", "*"). Names must also be safe:
	// 1-128 of A-Z a-z 0-9 _ . - starting with a letter or digit.
	AllowRooms []string `yaml:"allow_rooms"`
	// MaxTTL is the longest validity a browser caller may ask for
	// (default 24h); DefaultTTL is what it gets when it asks for none
	// (default 6h). YAML: a duration ("90m") or a number of hours.
	MaxTTL     Duration `yaml:"max_ttl"`
	DefaultTTL Duration `yaml:"default_ttl"`
	// Identity rules for every caller.
	Identity IdentityPolicy `yaml:"identity"`
	// Browser is what callers without an API key may do.
	Browser BrowserPolicy `yaml:"browser"`
	// Origins are the browser origins allowed to call the API cross-origin
	// ("https://app.example.com"). The server's own origin is always
	// allowed. "*" allows any origin (never with credentials: the API
	// does not use cookies).
	Origins []string `yaml:"origins"`
	// Hosts are the names the server answers to in the Host header
	// ("voice.example.com"; the port is ignored; "*" any). localhost,
	// 127.0.0.1 and ::1 are always allowed. Empty: on a loopback address
	// only those, so a page on another site cannot reach a local server by
	// pointing its own DNS name at 127.0.0.1 (DNS rebinding); elsewhere
	// any host. Behind a proxy that forwards the public Host, list it.
	Hosts []string `yaml:"hosts"`
	// TrustedProxies are the reverse proxies (addresses or CIDR prefixes,
	// "10.0.0.0/8") whose X-Forwarded-For is believed. A request from one
	// of them is rate-limited and logged by the first address in
	// X-Forwarded-For, read from the right, that is not a trusted proxy.
	// Empty: X-Forwarded-For is ignored (anyone can send one), and behind
	// a proxy every client shares the proxy's address and rate.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// RateLimit per client address and per API key.
	RateLimit RateLimits `yaml:"rate_limit"`
	// APIKeys are the non-browser callers, each with its own rules.
	APIKeys []APIKey `yaml:"api_keys"`
}

// Room is one room the page offers.
type Room struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Agent is the LiveKit agent (agent_name) dispatched to the room.
	Agent string `yaml:"agent"`
}

// IdentityPolicy says which participant identities are acceptable.
type IdentityPolicy struct {
	// Pattern is a regular expression an identity given by the caller
	// must match in full. Default: 1-128 of A-Z a-z 0-9 _ . - @ :
	Pattern string `yaml:"pattern"`
	// GeneratedPrefix starts identities the server generates when a
	// caller gives none (default "user-", then 16 random hex digits).
	GeneratedPrefix string `yaml:"generated_prefix"`
}

// BrowserPolicy limits callers that present no API key.
type BrowserPolicy struct {
	// Disabled refuses every caller without an API key.
	Disabled bool `yaml:"disabled"`
	// Grants browsers get, from canPublish, canSubscribe, canPublishData
	// (default all three; roomJoin is implied).
	Grants []string `yaml:"grants"`
	// ServerIdentity makes the server choose every browser identity; a
	// request that names one is refused.
	ServerIdentity bool `yaml:"server_identity"`
	// Metadata allows participant_metadata and participant_attributes.
	Metadata bool `yaml:"metadata"`
	// Agents browsers may dispatch with room_config besides each listed
	// room's own agent: names or "*". Default none: a dispatched agent
	// costs money, so which ones a stranger may start is explicit.
	Agents []string `yaml:"agents"`
}

// APIKey is a non-browser caller: "Authorization: Bearer <key>".
type APIKey struct {
	// Name identifies the caller in logs and metrics, never the key.
	Name string `yaml:"name"`
	// SHA256 is the hex SHA-256 of the bearer key: the file never holds
	// the key itself. `printf %s "$KEY" | sha256sum`.
	SHA256 string `yaml:"sha256"`
	// Rooms the key may mint for: exact names or globs. Required; the
	// policy's listed rooms are not implied.
	Rooms []string `yaml:"rooms"`
	// MaxTTL for this key (default: the policy's max_ttl).
	MaxTTL Duration `yaml:"max_ttl"`
	// Grants from canPublish, canSubscribe, canPublishData,
	// canUpdateOwnMetadata, canSubscribeMetrics, hidden. Default: the
	// browser's three.
	Grants []string `yaml:"grants"`
	// Agents the key may dispatch in room_config: names or "*".
	Agents []string `yaml:"agents"`
	// Metadata allows participant_metadata and participant_attributes.
	Metadata bool `yaml:"metadata"`
	// RateLimit overrides the policy's per-key limit.
	RateLimit *Rate `yaml:"rate_limit"`
}

// RateLimits are the token buckets.
type RateLimits struct {
	PerAddress *Rate `yaml:"per_address"`
	PerKey     *Rate `yaml:"per_key"`
}

// Rate is a token bucket: Rate tokens per second, up to Burst. Rate 0
// disables the limit (say so explicitly; an absent rate is the default).
type Rate struct {
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
}

// Duration reads "90m", "24h" or a number of hours (the seed's ttl=48).
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 90m or 24h", n.Line)
	}
	v, err := token.ParseTTL(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// DefaultPolicy is what `voicetoken serve` uses without --policy: the dev
// room test-room (also the default room), any other safe room name,
// browser grants only, 24h max, same-origin only, default rate limits.
func DefaultPolicy() *Policy {
	return &Policy{
		DefaultRoom: DefaultRoom,
		Rooms:       []Room{{Name: DefaultRoom, Description: "LiveKit's development room"}},
		AllowRooms:  []string{"*"},
	}
}

// ParsePolicy reads a YAML policy and checks it completely: every problem
// is reported at once, wrapped in ErrInvalidPolicy. Unknown fields are
// errors, so a typo cannot silently loosen nothing.
func ParsePolicy(data []byte) (*Policy, error) {
	var p Policy
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("%w: %s", ErrInvalidPolicy, yamlProblems(te))
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	if _, err := compilePolicy(&p); err != nil {
		return nil, err
	}
	return &p, nil
}

// yamlErrorPatterns match yaml.v3's type errors. They are compiled on
// first use: only a broken policy needs them, and every start of the
// binary would otherwise pay for them.
var yamlErrorPatterns = sync.OnceValues(func() (unknownKey, wrongKind *regexp.Regexp) {
	return regexp.MustCompile(`^(line \d+): field (.+) not found in type \S+$`),
		regexp.MustCompile("^(line \\d+): cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)$")
})

// yamlProblems puts yaml.v3's list of type errors (one per line, in Go's
// words: "field foo not found in type server.Policy") on one line in the
// policy's words: "line 2: unknown key foo; line 3: want a list, got 5".
func yamlProblems(te *yaml.TypeError) string {
	yamlUnknownKey, yamlWrongKind := yamlErrorPatterns()
	out := make([]string, len(te.Errors))
	for i, e := range te.Errors {
		if m := yamlUnknownKey.FindStringSubmatch(e); m != nil {
			out[i] = m[1] + ": unknown key " + m[2]
		} else if m := yamlWrongKind.FindStringSubmatch(e); m != nil {
			got := m[3] // the value, for a scalar
			switch {
			case m[2] == "map":
				got = "a mapping"
			case m[2] == "seq":
				got = "a list"
			}
			out[i] = m[1] + ": want " + yamlKind(m[4]) + ", got " + got
		} else {
			out[i] = e
		}
	}
	return strings.Join(out, "; ")
}

// yamlKind names a Go type as a policy author knows it.
func yamlKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["), strings.Contains(goType, "."):
		return "a mapping"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "text"
	}
	return goType
}

// LoadPolicy reads and parses a policy file.
func LoadPolicy(file string) (*Policy, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	p, err := ParsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", file, err)
	}
	return p, nil
}

// policy is a Policy compiled for the request path: lookups are maps and
// precompiled matchers, grants are ready-made.
type policy struct {
	defaultRoom string
	rooms       map[string]Room
	roomList    []Room
	browser     caller
	keys        []*caller // API-key callers
	keyHashes   [][]byte  // parallel to keys
	identity    *regexp.Regexp
	genPrefix   string
	origins     map[string]bool
	anyOrigin   bool
	hosts       hostList
	proxies     proxyList
	defaultTTL  time.Duration
	// roomConfigs are the pre-encoded roomConfig claims of rooms that
	// have an agent.
	roomConfigs map[string]json.RawMessage
}

// caller is the rules for one class of caller.
type caller struct {
	name       string // "browser" or the API key's name
	disabled   bool
	rooms      roomMatcher
	maxTTL     time.Duration
	grants     grantSet
	agents     []string // allowed agent names; "*" any; room agents always
	metadata   bool
	serverID   bool // identity chosen by the server only
	rate       Rate
	roomAgents map[string]string
	limitKey   string           // "key:<name>" for API keys; browsers use their address
	video      token.VideoGrant // template; Room is set per request
}

// defaultTTL is the policy's default, capped by the caller's maximum.
func (c *caller) defaultTTL(p *policy) time.Duration { return min(p.defaultTTL, c.maxTTL) }

func (c *caller) agentAllowed(room, agent string) bool {
	if agent != "" && c.roomAgents[room] == agent {
		return true
	}
	for _, a := range c.agents {
		if a == "*" || a == agent {
			return true
		}
	}
	return false
}

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

func compileRooms(patterns []string, listed map[string]Room) (roomMatcher, []error) {
	m := roomMatcher{exact: map[string]bool{}}
	for name := range listed {
		m.exact[name] = true
	}
	var errs []error
	for _, p := range patterns {
		switch {
		case p == "*":
			m.any = true
		case strings.ContainsAny(p, "*?["):
			if _, err := path.Match(p, ""); err != nil {
				errs = append(errs, fmt.Errorf("room pattern %q: %w", p, err))
				continue
			}
			m.globs = append(m.globs, p)
		case !safeName(p, false):
			errs = append(errs, fmt.Errorf("room %q: want 1-%d of A-Z a-z 0-9 _ . - starting with a letter or digit", p, maxNameLen))
		default:
			m.exact[p] = true
		}
	}
	return m, errs
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

func compileGrants(names []string, allowKeyOnly bool) (grantSet, []error) {
	if names == nil {
		return grantSet{publish: true, subscribe: true, data: true}, nil
	}
	var g grantSet
	var errs []error
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
				errs = append(errs, fmt.Errorf("grant %q: %w", n, ErrAdminGrant))
			} else {
				errs = append(errs, fmt.Errorf("grant %q: unknown (want canPublish, canSubscribe, canPublishData, canUpdateOwnMetadata, canSubscribeMetrics or hidden)", n))
			}
			continue
		}
		if keyOnly && !allowKeyOnly {
			errs = append(errs, fmt.Errorf("grant %q: only API-key callers may have it", n))
		}
	}
	return g, errs
}

func (r Rate) check(what string) error {
	if r.Rate < 0 || math.IsNaN(r.Rate) || math.IsInf(r.Rate, 0) {
		return fmt.Errorf("%s: rate must be 0 (off) or a positive number per second", what)
	}
	if r.Rate > 0 && r.Burst < 1 {
		return fmt.Errorf("%s: burst must be at least 1", what)
	}
	return nil
}

func rateOr(r *Rate, def Rate) Rate {
	if r == nil {
		return def
	}
	return *r
}

// compilePolicy checks p and builds the request-path form. Every problem
// is returned, joined, wrapped in ErrInvalidPolicy.
func compilePolicy(p *Policy) (*policy, error) {
	var errs []error
	c := &policy{
		defaultRoom: p.DefaultRoom,
		rooms:       map[string]Room{},
		genPrefix:   p.Identity.GeneratedPrefix,
		origins:     map[string]bool{},
		defaultTTL:  time.Duration(p.DefaultTTL),
		roomConfigs: map[string]json.RawMessage{},
	}
	if c.genPrefix == "" {
		c.genPrefix = "user-"
	}
	roomAgents := map[string]string{}
	for i, r := range p.Rooms {
		switch {
		case !safeName(r.Name, false):
			errs = append(errs, fmt.Errorf("rooms[%d]: name %q: want 1-%d of A-Z a-z 0-9 _ . - starting with a letter or digit", i, r.Name, maxNameLen))
			continue
		case c.rooms[r.Name].Name != "":
			errs = append(errs, fmt.Errorf("rooms[%d]: %q is listed twice", i, r.Name))
			continue
		case r.Agent != "" && !safeName(r.Agent, false):
			errs = append(errs, fmt.Errorf("rooms[%d]: agent %q is not a valid agent name", i, r.Agent))
		case len(r.Description) > 1024:
			errs = append(errs, fmt.Errorf("rooms[%d]: description longer than 1024 bytes", i))
		}
		c.rooms[r.Name] = r
		c.roomList = append(c.roomList, r)
		if r.Agent != "" {
			roomAgents[r.Name] = r.Agent
			c.roomConfigs[r.Name] = append(appendAgent([]byte(`{"agents":[`), agentDispatch{AgentName: r.Agent}), "]}"...)
		}
	}
	if p.DefaultRoom != "" && !safeName(p.DefaultRoom, false) {
		errs = append(errs, fmt.Errorf("default_room %q: not a safe room name", p.DefaultRoom))
	}
	maxTTL := time.Duration(p.MaxTTL)
	if maxTTL == 0 {
		maxTTL = DefaultMaxTTL
	}
	if c.defaultTTL == 0 {
		c.defaultTTL = min(DefaultTTL, maxTTL)
	}
	if c.defaultTTL > maxTTL {
		errs = append(errs, fmt.Errorf("default_ttl %s is longer than max_ttl %s", c.defaultTTL, maxTTL))
	}
	pat := p.Identity.Pattern
	if pat != "" {
		re, err := regexp.Compile(`^(?:` + pat + `)$`)
		if err != nil {
			errs = append(errs, fmt.Errorf("identity.pattern: %w", err))
		}
		c.identity = re
	}
	if !safeName(c.genPrefix+"x", true) {
		errs = append(errs, fmt.Errorf("identity.generated_prefix %q: not a safe identity", c.genPrefix))
	}
	for _, o := range p.Origins {
		if o == "*" {
			c.anyOrigin = true
			continue
		}
		n, err := normalizeOrigin(o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.origins[n] = true
	}
	hosts, err := compileHosts(p.Hosts)
	if err != nil {
		errs = append(errs, err)
	}
	c.hosts = hosts
	proxies, err := compileProxies(p.TrustedProxies)
	if err != nil {
		errs = append(errs, err)
	}
	c.proxies = proxies
	addrRate := rateOr(p.RateLimit.PerAddress, Rate{DefaultAddressRate, DefaultAddressBurst})
	keyRate := rateOr(p.RateLimit.PerKey, Rate{DefaultKeyRate, DefaultKeyBurst})
	for what, r := range map[string]Rate{"rate_limit.per_address": addrRate, "rate_limit.per_key": keyRate} {
		if err := r.check(what); err != nil {
			errs = append(errs, err)
		}
	}

	// Browser callers.
	rm, rerrs := compileRooms(p.AllowRooms, c.rooms)
	errs = append(errs, rerrs...)
	g, gerrs := compileGrants(p.Browser.Grants, false)
	for _, e := range gerrs {
		errs = append(errs, fmt.Errorf("browser.grants: %w", e))
	}
	c.browser = caller{
		name: "browser", disabled: p.Browser.Disabled, rooms: rm, maxTTL: maxTTL, grants: g,
		metadata: p.Browser.Metadata, serverID: p.Browser.ServerIdentity, rate: addrRate,
		roomAgents: roomAgents, video: g.video(), agents: p.Browser.Agents,
	}
	for _, a := range p.Browser.Agents {
		if a != "*" && !safeName(a, false) {
			errs = append(errs, fmt.Errorf("browser.agents: %q is not a valid agent name", a))
		}
	}

	// API-key callers.
	names := map[string]bool{}
	hashes := map[string]bool{}
	for i, k := range p.APIKeys {
		where := fmt.Sprintf("api_keys[%d]", i)
		if k.Name != "" {
			where += " (" + k.Name + ")"
		}
		if !safeName(k.Name, false) {
			errs = append(errs, fmt.Errorf("%s: name: want 1-%d of A-Z a-z 0-9 _ . -", where, maxNameLen))
		} else if names[k.Name] {
			errs = append(errs, fmt.Errorf("%s: name used twice", where))
		}
		names[k.Name] = true
		sum, err := hex.DecodeString(strings.ToLower(k.SHA256))
		if err != nil || len(sum) != sha256.Size {
			errs = append(errs, fmt.Errorf("%s: sha256: want 64 hex digits, the SHA-256 of the key (printf %%s \"$KEY\" | sha256sum)", where))
		} else if hashes[string(sum)] {
			errs = append(errs, fmt.Errorf("%s: the same key hash is listed twice", where))
		}
		hashes[string(sum)] = true
		if len(k.Rooms) == 0 {
			errs = append(errs, fmt.Errorf("%s: rooms: list the rooms the key may mint for (\"*\" for any)", where))
		}
		krm, rerrs := compileRooms(k.Rooms, nil)
		for _, e := range rerrs {
			errs = append(errs, fmt.Errorf("%s: %w", where, e))
		}
		kg, gerrs := compileGrants(k.Grants, true)
		for _, e := range gerrs {
			errs = append(errs, fmt.Errorf("%s: %w", where, e))
		}
		for _, a := range k.Agents {
			if a != "*" && !safeName(a, false) {
				errs = append(errs, fmt.Errorf("%s: agent %q is not a valid agent name", where, a))
			}
		}
		kmax := time.Duration(k.MaxTTL)
		if kmax == 0 {
			kmax = maxTTL
		}
		kr := rateOr(k.RateLimit, keyRate)
		if err := kr.check(where + ": rate_limit"); err != nil {
			errs = append(errs, err)
		}
		c.keys = append(c.keys, &caller{
			name: k.Name, rooms: krm, maxTTL: kmax, grants: kg, agents: k.Agents,
			metadata: k.Metadata, rate: kr, roomAgents: roomAgents,
			limitKey: "key:" + k.Name, video: kg.video(),
		})
		c.keyHashes = append(c.keyHashes, sum)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPolicy, errors.Join(errs...))
	}
	return c, nil
}

// lookupKey finds the caller for a bearer key. Every configured hash is
// compared, in constant time, so the time taken says nothing about which
// entry (if any) matched.
func (p *policy) lookupKey(bearer string) *caller {
	sum := sha256.Sum256([]byte(bearer))
	var found *caller
	for i, h := range p.keyHashes {
		if subtle.ConstantTimeCompare(sum[:], h) == 1 {
			found = p.keys[i]
		}
	}
	return found
}

// validIdentity applies the policy's identity rule.
func (p *policy) validIdentity(id string) bool {
	if p.identity != nil {
		return len(id) <= maxNameLen && p.identity.MatchString(id)
	}
	return safeName(id, true)
}

// safeName reports whether s is 1-128 bytes of A-Z a-z 0-9 _ . - (and
// @ : for identities), starting with a letter or digit. Such names need no
// escaping in URLs, logs, JSON or LiveKit's room and identity fields.
func safeName(s string, identity bool) bool {
	if len(s) == 0 || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i == 0:
			return false
		case c == '_' || c == '.' || c == '-':
		case identity && (c == '@' || c == ':'):
		default:
			return false
		}
	}
	return true
}

// normalizeOrigin turns "https://App.Example.com:443/" into
// "https://app.example.com": scheme://host[:port], default ports dropped.
func normalizeOrigin(o string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(o))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", fmt.Errorf("origin %q: want scheme://host[:port], e.g. https://app.example.com", o)
	}
	host := strings.ToLower(u.Host)
	if (u.Scheme == "http" && strings.HasSuffix(host, ":80")) || (u.Scheme == "https" && strings.HasSuffix(host, ":443")) {
		host = host[:strings.LastIndexByte(host, ':')]
	}
	return u.Scheme + "://" + host, nil
}
