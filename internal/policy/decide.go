package policy

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"voicetoken/internal/token"
)

// Request is what a caller asked for, from either of the API's contracts.
type Request struct {
	Room, Identity, Name string
	// TTL as given ("48", "10m"); "" means the default.
	TTL        string
	Metadata   *string // nil: not asked for
	Attributes map[string]string
	// Agents are room_config.agents; HasRoomConfig says room_config was
	// sent at all (then it replaces the room's own dispatch).
	Agents        []Dispatch
	HasRoomConfig bool
}

// Dispatch is one entry of room_config.agents (LiveKit's
// RoomAgentDispatch: agent_name, metadata, deployment).
type Dispatch struct {
	AgentName  string
	Metadata   string
	Deployment string
}

// Grant is what the policy gives: the claims of the token to mint.
type Grant struct {
	Room string
	// Identity is "" when the server must choose one: IdentityPrefix and
	// 16 random hex digits.
	Identity   string
	Name       string
	TTL        time.Duration
	Video      token.VideoGrant
	Metadata   string
	Attributes map[string]string
	RoomConfig json.RawMessage // LiveKit's roomConfig claim, or nil
}

// Code is why a request was denied: stable, it is the API's error code
// and a metric label.
type Code string

// Denial codes. The server maps each to an HTTP status in one table.
const (
	CodeBrowserDisabled    Code = "api_key_required"
	CodeMissingRoom        Code = "missing_room"
	CodeInvalidRoom        Code = "invalid_room"
	CodeRoomNotAllowed     Code = "room_not_allowed"
	CodeInvalidIdentity    Code = "invalid_identity"
	CodeIdentityNotAllowed Code = "identity_not_allowed"
	CodeIdentityReserved   Code = "identity_reserved"
	CodeInvalidName        Code = "invalid_name"
	CodeInvalidTTL         Code = "invalid_ttl"
	CodeTTLTooLong         Code = "ttl_too_long"
	CodeMetadataNotAllowed Code = "metadata_not_allowed"
	CodeInvalidMetadata    Code = "invalid_metadata"
	CodeInvalidAgent       Code = "invalid_agent"
	CodeAgentNotAllowed    Code = "agent_not_allowed"
	CodeInvalidRoomConfig  Code = "invalid_room_config"
	CodeDuplicateAgent     Code = "duplicate_agent"
	CodeDispatchMetadata   Code = "dispatch_metadata_not_allowed"
	CodeUnknownCaller      Code = "unknown_caller"
)

// Codes lists every denial code, for tables that must cover them all.
func Codes() []Code {
	return []Code{
		CodeBrowserDisabled, CodeMissingRoom, CodeInvalidRoom, CodeRoomNotAllowed, CodeInvalidIdentity,
		CodeIdentityNotAllowed, CodeInvalidName, CodeInvalidTTL, CodeTTLTooLong, CodeMetadataNotAllowed,
		CodeInvalidMetadata, CodeInvalidAgent, CodeAgentNotAllowed, CodeInvalidRoomConfig, CodeUnknownCaller,
		CodeIdentityReserved, CodeDuplicateAgent, CodeDispatchMetadata,
	}
}

// Denial is a refusal: a code and a public message that says what is
// wrong. It never holds a secret.
type Denial struct {
	Code Code
	Msg  string
}

func (d *Denial) Error() string { return string(d.Code) + ": " + d.Msg }

func deny(code Code, msg string) *Denial { return &Denial{Code: code, Msg: msg} }

// Decide applies c's rules to req: the grant to mint, or why not. It is
// pure: no I/O, no clock, no randomness.
func (r *Rules) Decide(c Caller, req Request) (Grant, *Denial) {
	var g Grant
	cl := r.classOf(c)
	if cl == nil {
		return g, deny(CodeUnknownCaller, "this caller is not known to the policy")
	}
	if cl.disabled {
		return g, r.browserDisabled()
	}
	var d *Denial
	if c.Kind.IsUser() {
		if g.Room, g.Identity, g.Name, cl, d = r.forUser(c, req); d != nil {
			return g, d
		}
	} else {
		if g.Room, d = r.room(cl, req.Room); d != nil {
			return g, d
		}
		if g.Identity, d = r.identityFor(cl, req.Identity); d != nil {
			return g, d
		}
		if !ValidText(req.Name, MaxNameLen) {
			return g, deny(CodeInvalidName, "name: want at most 128 bytes of printable UTF-8")
		}
		g.Name = req.Name
	}
	if g.TTL, d = r.ttl(cl, req.TTL); d != nil {
		return g, d
	}
	if d = participantData(cl, req, &g); d != nil {
		return g, d
	}
	if g.RoomConfig, d = r.roomConfig(cl, g.Room, req); d != nil {
		return g, d
	}
	g.Video = cl.video
	g.Video.Room = g.Room
	return g, nil
}

// classOf is the rules for c: those Rules attached, or for a caller
// built by hand, the kind's.
func (r *Rules) classOf(c Caller) *class {
	if c.class != nil {
		return c.class
	}
	switch c.Kind {
	case KindBrowser:
		return &r.browser
	case KindAPIKey:
		for _, k := range r.keys {
			if k.name == c.ID {
				return k
			}
		}
	case KindOIDCUser, KindForwardAuthUser:
		return &r.users.base
	}
	return nil
}

// forUser decides room, identity and name for a signed-in user, and the
// class (the first claim rule that holds for the room, or the users')
// the rest of the decision uses. The identity is the login's: a request
// may repeat it but never name another, and the login's name wins over
// the request's.
func (r *Rules) forUser(c Caller, req Request) (room, id, name string, cl *class, d *Denial) {
	room = req.Room
	if room == "" {
		if r.defaultRoom == "" {
			return "", "", "", nil, deny(CodeMissingRoom, "room is required")
		}
		room = r.defaultRoom
	}
	if !SafeName(room) {
		return "", "", "", nil, deny(CodeInvalidRoom, "room "+Quote(room)+": "+roomRule)
	}
	cl = r.users.pick(c.Claims, room)
	if !cl.rooms.match(room) {
		return "", "", "", nil, deny(CodeRoomNotAllowed, "room "+Quote(room)+" is not allowed for this user")
	}
	if c.Identity == "" {
		return "", "", "", nil, deny(CodeUnknownCaller, "a signed-in user without an identity")
	}
	if req.Identity != "" && req.Identity != c.Identity {
		return "", "", "", nil, deny(CodeIdentityNotAllowed, "signed-in users get the identity of their login ("+Quote(c.Identity)+"); leave identity empty")
	}
	name = c.UserName
	if name == "" {
		if !ValidText(req.Name, MaxNameLen) {
			return "", "", "", nil, deny(CodeInvalidName, "name: want at most 128 bytes of printable UTF-8")
		}
		name = req.Name
	}
	return room, c.Identity, name, cl, nil
}

func (r *Rules) room(cl *class, room string) (string, *Denial) {
	if room == "" {
		if r.defaultRoom == "" {
			return "", deny(CodeMissingRoom, "room is required")
		}
		room = r.defaultRoom
	}
	if !SafeName(room) {
		return "", deny(CodeInvalidRoom, "room "+Quote(room)+": "+roomRule)
	}
	if !cl.rooms.match(room) {
		return "", deny(CodeRoomNotAllowed, "room "+Quote(room)+" is not allowed for this caller")
	}
	return room, nil
}

// identityFor checks a caller-chosen identity; "" lets the server choose.
func (r *Rules) identityFor(cl *class, id string) (string, *Denial) {
	switch {
	case id == "":
		return "", nil
	case cl.serverID:
		return "", deny(CodeIdentityNotAllowed, "this server chooses identities; leave identity empty")
	case !r.validIdentity(id):
		return "", deny(CodeInvalidIdentity, "identity "+Quote(id)+" does not match the identity rule")
	case cl.honoursReserved && r.isReserved(id):
		return "", deny(CodeIdentityReserved, "identity "+Quote(id)+" is reserved (an agent's, a service's or a generated one); leave identity empty to get one of your own")
	case r.reservedPrefix(id) != "":
		return "", deny(CodeIdentityNotAllowed, "identities starting with "+Quote(r.reservedPrefix(id))+" belong to signed-in users")
	}
	return id, nil
}

// validIdentity applies the identity rule: the built-in safe name, and
// the policy's pattern on top. A pattern narrows, never widens: NUL,
// CR/LF, ESC, bidi overrides and zero-width characters stay out even
// when it matches them.
func (r *Rules) validIdentity(id string) bool {
	return SafeIdentity(id) && (r.identity == nil || r.identity.MatchString(id))
}

// isReserved reports an identity a browser may not take: a reserved name
// or prefix (case-insensitive), or one the server could have generated
// for someone else.
func (r *Rules) isReserved(id string) bool {
	lower := strings.ToLower(id)
	if r.reserved[lower] {
		return true
	}
	for _, p := range r.reservedPrefixes {
		if strings.HasPrefix(lower, p) {
			return true
		}
	}
	rest, ok := strings.CutPrefix(id, r.genPrefix)
	return ok && len(rest) == generatedHexLen && isLowerHex(rest)
}

// generatedHexLen is the length of the random part of a generated
// identity (8 random bytes in hex).
const generatedHexLen = 16

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func (r *Rules) ttl(cl *class, asked string) (time.Duration, *Denial) {
	ttl := min(r.defaultTTL, cl.maxTTL)
	if asked != "" {
		d, err := token.ParseTTL(asked)
		if err != nil {
			return 0, deny(CodeInvalidTTL, "ttl "+Quote(asked)+": want hours (48) or a duration (10m, 6h)")
		}
		ttl = d
	}
	if ttl > cl.maxTTL {
		return 0, deny(CodeTTLTooLong, "ttl "+token.HumanDuration(ttl)+" is longer than the maximum "+token.HumanDuration(cl.maxTTL)+": ask for less, or raise the cap (serve --max-ttl, or max_ttl in the policy file)")
	}
	return ttl, nil
}

// participantData checks participant_metadata and _attributes.
func participantData(cl *class, req Request, g *Grant) *Denial {
	if req.Metadata == nil && req.Attributes == nil {
		return nil
	}
	if !cl.metadata {
		return deny(CodeMetadataNotAllowed, "participant_metadata and participant_attributes are not configurable by this caller")
	}
	if req.Metadata != nil && !ValidText(*req.Metadata, MaxMetadataLen) {
		return deny(CodeInvalidMetadata, "participant_metadata: want at most 4096 bytes of UTF-8")
	}
	if len(req.Attributes) > maxAttributes {
		return deny(CodeInvalidMetadata, "participant_attributes: at most "+strconv.Itoa(maxAttributes))
	}
	for k, v := range req.Attributes {
		if k == "" || !ValidText(k, MaxNameLen) || !ValidText(v, MaxMetadataLen) {
			return deny(CodeInvalidMetadata, "participant_attributes: keys 1-128 bytes, values at most 4096 bytes of UTF-8")
		}
	}
	if req.Metadata != nil {
		g.Metadata = *req.Metadata
	}
	g.Attributes = req.Attributes
	return nil
}

// roomConfig is the roomConfig claim: the room's own agent, or the
// dispatches the caller asked for, checked.
func (r *Rules) roomConfig(cl *class, room string, req Request) (json.RawMessage, *Denial) {
	if !req.HasRoomConfig {
		return r.roomConfigs[room], nil
	}
	if len(req.Agents) == 0 {
		return nil, nil
	}
	if len(req.Agents) > MaxAgents {
		return nil, deny(CodeInvalidRoomConfig, "room_config.agents: at most "+strconv.Itoa(MaxAgents))
	}
	b := []byte(`{"agents":[`)
	for i, a := range req.Agents {
		if d := cl.checkDispatch(room, a); d != nil {
			return nil, d
		}
		for _, prev := range req.Agents[:i] {
			if prev.AgentName == a.AgentName {
				return nil, deny(CodeDuplicateAgent, "room_config.agents: agent "+Quote(a.AgentName)+" is listed twice; an agent is dispatched once")
			}
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = appendAgent(b, a)
	}
	return append(b, "]}"...), nil
}

func (cl *class) checkDispatch(room string, a Dispatch) *Denial {
	if !SafeName(a.AgentName) {
		return deny(CodeInvalidAgent, "room_config.agents: agent_name "+Quote(a.AgentName)+" is not a valid agent name")
	}
	if !cl.agentAllowed(room, a.AgentName) {
		return deny(CodeAgentNotAllowed, "agent "+Quote(a.AgentName)+" may not be dispatched to room "+Quote(room)+" by this caller")
	}
	if (a.Metadata != "" || a.Deployment != "") && !cl.dispatchMeta {
		return deny(CodeDispatchMetadata, "room_config.agents: metadata and deployment are the operator's to set, not this caller's")
	}
	if !ValidText(a.Metadata, MaxMetadataLen) {
		return deny(CodeInvalidMetadata, "room_config.agents: metadata: want at most 4096 bytes of UTF-8")
	}
	if a.Deployment != "" && !SafeName(a.Deployment) {
		return deny(CodeInvalidRoomConfig, "room_config.agents: deployment "+Quote(a.Deployment)+" is not a valid name")
	}
	return nil
}

func (cl *class) agentAllowed(room, agent string) bool {
	if agent != "" && cl.roomAgents[room] == agent {
		return true
	}
	for _, a := range cl.agents {
		if a == "*" || a == agent {
			return true
		}
	}
	return false
}

// appendAgent appends one dispatch as LiveKit's RoomAgentDispatch
// protojson.
func appendAgent(b []byte, a Dispatch) []byte {
	b = append(b, `{"agentName":`...)
	b = token.AppendJSONString(b, a.AgentName)
	if a.Metadata != "" {
		b = append(b, `,"metadata":`...)
		b = token.AppendJSONString(b, a.Metadata)
	}
	if a.Deployment != "" {
		b = append(b, `,"deployment":`...)
		b = token.AppendJSONString(b, a.Deployment)
	}
	return append(b, '}')
}
