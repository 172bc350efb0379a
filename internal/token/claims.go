package token

import (
	"encoding/json"
	"time"
)

// Claims is the payload of a LiveKit access token: the registered JWT
// claims plus LiveKit's ClaimGrants, with the same JSON names as
// github.com/livekit/protocol/auth. Time claims are Unix seconds; zero
// means absent.
type Claims struct {
	Issuer    string   // iss: the API key that signed the token
	Subject   string   // sub: the participant identity
	Audience  []string // aud: not set by LiveKit; kept for upstream tokens
	ExpiresAt int64    // exp
	NotBefore int64    // nbf
	IssuedAt  int64    // iat
	ID        string   // jti

	Identity      string // identity: LiveKit's copy of sub
	Name          string
	Kind          string // "standard", "agent", "ingress", "egress", "sip", ...
	KindDetails   []string
	Video         *VideoGrant
	SIP           *SIPGrant
	Agent         *AgentGrant
	Inference     *InferenceGrant
	Observability *ObservabilityGrant
	AgentEndpoint *AgentEndpointGrant
	AgentThread   *AgentThreadGrant
	// RoomConfig is LiveKit's RoomConfiguration in protojson form, kept
	// verbatim: it is applied by the server when this participant creates
	// the room (agent dispatch lives here).
	RoomConfig json.RawMessage
	RoomPreset string
	Sha256     string
	Metadata   string
	Attributes map[string]string

	// Extra holds every claim this package does not know, verbatim, so that
	// nothing in a parsed token is dropped. Minting writes them too.
	Extra map[string]json.RawMessage
}

// VideoGrant is LiveKit's room grant ("video" claim). The *bool fields are
// tri-state as in LiveKit: nil means "LiveKit's default" (publish and
// subscribe allowed, metadata updates not), false denies explicitly.
type VideoGrant struct {
	RoomCreate            bool     `json:"roomCreate,omitempty"`
	RoomList              bool     `json:"roomList,omitempty"`
	RoomRecord            bool     `json:"roomRecord,omitempty"`
	RoomAdmin             bool     `json:"roomAdmin,omitempty"`
	RoomJoin              bool     `json:"roomJoin,omitempty"`
	Room                  string   `json:"room,omitempty"`
	CanPublish            *bool    `json:"canPublish,omitempty"`
	CanSubscribe          *bool    `json:"canSubscribe,omitempty"`
	CanPublishData        *bool    `json:"canPublishData,omitempty"`
	CanPublishSources     []string `json:"canPublishSources,omitempty"`
	CanUpdateOwnMetadata  *bool    `json:"canUpdateOwnMetadata,omitempty"`
	IngressAdmin          bool     `json:"ingressAdmin,omitempty"`
	Hidden                bool     `json:"hidden,omitempty"`
	Recorder              bool     `json:"recorder,omitempty"`
	Agent                 bool     `json:"agent,omitempty"`
	CanSubscribeMetrics   *bool    `json:"canSubscribeMetrics,omitempty"`
	CanManageAgentSession *bool    `json:"canManageAgentSession,omitempty"`
	DestinationRoom       string   `json:"destinationRoom,omitempty"`
}

// SIPGrant is LiveKit's "sip" claim.
type SIPGrant struct {
	Admin bool `json:"admin,omitempty"`
	Call  bool `json:"call,omitempty"`
}

// AgentGrant is LiveKit's "agent" claim (agent framework administration).
type AgentGrant struct {
	Admin           bool `json:"admin,omitempty"`
	SimulationAdmin bool `json:"simulationAdmin,omitempty"`
	DatabaseAdmin   bool `json:"databaseAdmin,omitempty"`
	DispatchAdmin   bool `json:"dispatchAdmin,omitempty"`
}

// InferenceGrant is LiveKit's "inference" claim.
type InferenceGrant struct {
	Perform bool `json:"perform,omitempty"`
}

// ObservabilityGrant is LiveKit's "observability" claim.
type ObservabilityGrant struct {
	Write bool `json:"write,omitempty"`
}

// AgentEndpointGrant is LiveKit's "agentEndpoint" claim.
type AgentEndpointGrant struct {
	Call       bool   `json:"call,omitempty"`
	AgentName  string `json:"agentName,omitempty"`
	Deployment string `json:"deployment,omitempty"`
}

// AgentThreadGrant is LiveKit's "agentThread" claim.
type AgentThreadGrant struct {
	All       bool     `json:"all,omitempty"`
	Scope     string   `json:"scope,omitempty"`
	ThreadIDs []string `json:"threadIds,omitempty"`
	List      bool     `json:"list,omitempty"`
	Create    bool     `json:"create,omitempty"`
	Write     bool     `json:"write,omitempty"`
	Read      bool     `json:"read,omitempty"`
	Delete    bool     `json:"delete,omitempty"`
}

// Bool returns a pointer to b, for the tri-state grant fields.
func Bool(b bool) *bool { return &b }

// Room returns the room the video grant names, or "".
func (c *Claims) Room() string {
	if c.Video == nil {
		return ""
	}
	return c.Video.Room
}

// ParticipantIdentity returns the identity as LiveKit's verifier sees it:
// sub, or jti when sub is empty.
func (c *Claims) ParticipantIdentity() string {
	if c.Subject != "" {
		return c.Subject
	}
	return c.ID
}

// Expiry returns exp as a time, and false when the token has none.
func (c *Claims) Expiry() (time.Time, bool) {
	if c.ExpiresAt == 0 {
		return time.Time{}, false
	}
	return time.Unix(c.ExpiresAt, 0), true
}

// Leeway is the clock skew tolerated on exp and nbf. It is LiveKit's own
// server value (auth.tokenLeeway), so a token we call valid is one the
// server accepts.
const Leeway = time.Minute

// Validate checks the time claims at now with the given leeway: exp is
// required and must not have passed, nbf must have been reached.
func (c *Claims) Validate(now time.Time, leeway time.Duration) error {
	if c.ExpiresAt == 0 {
		return ErrMissingExpiry
	}
	sec := now.Unix()
	lw := int64(leeway / time.Second)
	if sec > c.ExpiresAt+lw {
		return ErrExpired
	}
	if c.NotBefore != 0 && sec < c.NotBefore-lw {
		return ErrNotYetValid
	}
	return nil
}

// TTL returns the remaining validity at now (negative once expired).
func (c *Claims) TTL(now time.Time) time.Duration {
	return time.Unix(c.ExpiresAt, 0).Sub(now)
}

// Clone returns a deep copy, so a template can be minted many times.
func (c *Claims) Clone() *Claims {
	out := *c
	if c.Video != nil {
		v := *c.Video
		v.CanPublishSources = cloneStrings(v.CanPublishSources)
		out.Video = &v
	}
	out.SIP = clonePtr(c.SIP)
	out.Agent = clonePtr(c.Agent)
	out.Inference = clonePtr(c.Inference)
	out.Observability = clonePtr(c.Observability)
	out.AgentEndpoint = clonePtr(c.AgentEndpoint)
	if c.AgentThread != nil {
		a := *c.AgentThread
		a.ThreadIDs = cloneStrings(a.ThreadIDs)
		out.AgentThread = &a
	}
	out.Audience = cloneStrings(c.Audience)
	out.KindDetails = cloneStrings(c.KindDetails)
	if c.RoomConfig != nil {
		out.RoomConfig = append(json.RawMessage(nil), c.RoomConfig...)
	}
	if c.Attributes != nil {
		out.Attributes = make(map[string]string, len(c.Attributes))
		for k, v := range c.Attributes {
			out.Attributes[k] = v
		}
	}
	if c.Extra != nil {
		out.Extra = make(map[string]json.RawMessage, len(c.Extra))
		for k, v := range c.Extra {
			out.Extra[k] = v
		}
	}
	return &out
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}

// GrantNames lists what a token allows, by LiveKit's grant names, with
// LiveKit's defaults applied: a room join without explicit publish or
// subscribe settings may publish, subscribe and send data.
func GrantNames(c *Claims) []string {
	var out []string
	add := func(ok bool, name string) {
		if ok {
			out = append(out, name)
		}
	}
	if v := c.Video; v != nil {
		add(v.RoomCreate, "roomCreate")
		add(v.RoomList, "roomList")
		add(v.RoomRecord, "roomRecord")
		add(v.RoomAdmin, "roomAdmin")
		add(v.RoomJoin, "roomJoin")
		if v.RoomJoin {
			pub := v.CanPublish == nil || *v.CanPublish
			add(pub, "canPublish")
			add(v.CanSubscribe == nil || *v.CanSubscribe, "canSubscribe")
			add((v.CanPublishData == nil && pub) || (v.CanPublishData != nil && *v.CanPublishData), "canPublishData")
		}
		for _, s := range v.CanPublishSources {
			out = append(out, "source:"+s)
		}
		add(v.CanUpdateOwnMetadata != nil && *v.CanUpdateOwnMetadata, "canUpdateOwnMetadata")
		add(v.IngressAdmin, "ingressAdmin")
		add(v.Hidden, "hidden")
		add(v.Recorder, "recorder")
		add(v.Agent, "agent")
		add(v.CanSubscribeMetrics != nil && *v.CanSubscribeMetrics, "canSubscribeMetrics")
		add(v.CanManageAgentSession != nil && *v.CanManageAgentSession, "canManageAgentSession")
	}
	if g := c.SIP; g != nil {
		add(g.Admin, "sip.admin")
		add(g.Call, "sip.call")
	}
	if g := c.Agent; g != nil {
		add(g.Admin, "agent.admin")
		add(g.SimulationAdmin, "agent.simulationAdmin")
		add(g.DatabaseAdmin, "agent.databaseAdmin")
		add(g.DispatchAdmin, "agent.dispatchAdmin")
	}
	if g := c.Inference; g != nil {
		add(g.Perform, "inference.perform")
	}
	if g := c.Observability; g != nil {
		add(g.Write, "observability.write")
	}
	if g := c.AgentEndpoint; g != nil {
		add(g.Call, "agentEndpoint.call")
	}
	return out
}
