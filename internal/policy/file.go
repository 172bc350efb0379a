package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
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
	// DefaultIPv6Prefix is how many leading bits of an IPv6 address make
	// one rate-limited client: a /64 is what one subscriber (one LAN) is
	// given, and it holds 2^64 addresses, so keying by full address would
	// give one client as many buckets as it likes.
	DefaultIPv6Prefix = 64
	// MaxNameLen bounds room names, identities and display names.
	MaxNameLen = 128
	// MaxMetadataLen bounds participant and agent metadata (LiveKit's own
	// limit for participant metadata is 64 KiB; a token in a URL must stay
	// far smaller).
	MaxMetadataLen = 4 << 10
	maxAttributes  = 32
	// MaxAgents bounds the agents one token may dispatch.
	MaxAgents = 4
)

// File is the policy file: which rooms exist, who may join what, for how
// long, from which origins, how often. The zero value is not useful; start
// from Default or Parse. YAML names are in the tags; examples/policy.yaml
// documents every field.
type File struct {
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
	// OIDC are the OpenID Providers whose ID tokens sign users in
	// ("Authorization: Bearer <id token>").
	OIDC []OIDCIssuer `yaml:"oidc"`
	// ForwardAuth is an authenticating proxy whose header names the user.
	ForwardAuth *ForwardAuth `yaml:"forward_auth"`
	// Users is what signed-in users may do.
	Users UsersPolicy `yaml:"users"`
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
	// must match in full, on top of the built-in safe-name rule (1-128 of
	// A-Z a-z 0-9 _ . - @ : starting with a letter or digit): it narrows
	// that rule, never widens it.
	Pattern string `yaml:"pattern"`
	// GeneratedPrefix starts identities the server generates when a
	// caller gives none (default "user-", then 16 random hex digits).
	// A browser cannot ask for an identity of that shape.
	GeneratedPrefix string `yaml:"generated_prefix"`
	// Reserved identities and ReservedPrefixes are never given to a
	// browser caller (compared without regard to case): LiveKit
	// disconnects the earlier holder of an identity, so a browser that
	// could take one could kick or impersonate its holder. Always
	// reserved besides these: every agent name the policy mentions and
	// the prefix "agent-" (the identities LiveKit gives agent
	// participants).
	Reserved         []string `yaml:"reserved"`
	ReservedPrefixes []string `yaml:"reserved_prefixes"`
}

// AgentIdentityPrefix starts the identity LiveKit gives an agent's
// participant ("agent-AJ_..."): always reserved.
const AgentIdentityPrefix = "agent-"

// BrowserPolicy limits callers that present no API key.
type BrowserPolicy struct {
	// Disabled refuses every caller without an API key.
	Disabled bool `yaml:"disabled"`
	// Grants browsers get, from canPublish, canSubscribe, canPublishData
	// (default all three; roomJoin is implied).
	Grants []string `yaml:"grants"`
	// ServerIdentity makes the server choose every browser identity; a
	// request that names one is refused. Unset: true when serve listens
	// beyond loopback, false on loopback (the seed's
	// ?identity=alice). The server applies that default (ForListener).
	ServerIdentity *bool `yaml:"server_identity"`
	// Metadata allows participant_metadata and participant_attributes.
	Metadata bool `yaml:"metadata"`
	// Agents browsers may dispatch with room_config besides each listed
	// room's own agent: names or "*". Default none: a dispatched agent
	// costs money, so which ones a stranger may start is explicit.
	Agents []string `yaml:"agents"`
	// DispatchMetadata lets browsers set an agent's job metadata and
	// deployment in room_config. Default false: job metadata is the
	// agent's instructions, not a stranger's to write.
	DispatchMetadata bool `yaml:"dispatch_metadata"`
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
	// DispatchMetadata lets the key set an agent's job metadata and
	// deployment (default true: a key is a trusted backend).
	DispatchMetadata *bool `yaml:"dispatch_metadata"`
	// Metadata allows participant_metadata and participant_attributes.
	Metadata bool `yaml:"metadata"`
	// RateLimit overrides the policy's per-key limit.
	RateLimit *Rate `yaml:"rate_limit"`
}

// RateLimits are the token buckets.
type RateLimits struct {
	// PerAddress is the bucket of each client address: browsers spend
	// from it, and so does every failed API-key authentication.
	PerAddress *Rate `yaml:"per_address"`
	PerKey     *Rate `yaml:"per_key"`
	// IPv6Prefix is how many leading bits of an IPv6 client address make
	// one client (default 64: one subscriber's network). IPv4 clients are
	// keyed by their address.
	IPv6Prefix int `yaml:"ipv6_prefix"`
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

// Default is what `voicetoken serve` uses without --policy: the dev room
// test-room (also the default room), any other safe room name, browser
// grants only, 24h max, same-origin only, default rate limits.
func Default() *File {
	return &File{
		DefaultRoom: DefaultRoom,
		Rooms:       []Room{{Name: DefaultRoom, Description: "LiveKit's development room"}},
		AllowRooms:  []string{"*"},
	}
}

// Parse reads a YAML policy and checks it completely: every problem is
// reported at once, wrapped in ErrInvalidPolicy. Unknown fields are
// errors, so a typo cannot silently loosen nothing.
func Parse(data []byte) (*File, error) {
	var p File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("%w: %s", ErrInvalidPolicy, yamlProblems(te))
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	if _, err := Compile(&p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Load reads and parses a policy file.
func Load(file string) (*File, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", file, err)
	}
	return p, nil
}

// yamlErrorPatterns match yaml.v3's type errors. They are compiled on
// first use: only a broken policy needs them, and every start of the
// binary would otherwise pay for them.
var yamlErrorPatterns = sync.OnceValues(func() (unknownKey, wrongKind *regexp.Regexp) {
	return regexp.MustCompile(`^(line \d+): field (.+) not found in type \S+$`),
		regexp.MustCompile("^(line \\d+): cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)$")
})

// yamlProblems puts yaml.v3's list of type errors (one per line, in Go's
// words: "field foo not found in type policy.File") on one line in the
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

// ForListener is f with the defaults that depend on where the server
// listens. Beyond loopback, browsers get server-chosen identities unless
// the file says otherwise (browser.server_identity): anyone who can reach
// the server could otherwise take anyone's identity. On loopback the
// seed's ?identity=alice keeps working. f itself is not changed.
func (f *File) ForListener(loopback bool) *File {
	if loopback || f.Browser.ServerIdentity != nil {
		return f
	}
	c := *f
	on := true
	c.Browser.ServerIdentity = &on
	return &c
}
