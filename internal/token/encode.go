package token

import (
	"encoding/json"
	"sort"
	"strconv"
	"unicode/utf8"
)

// MarshalJSON encodes the claims as the token payload: LiveKit's names,
// the registered claims first, unknown claims (Extra) last in key order.
func (c *Claims) MarshalJSON() ([]byte, error) {
	return appendClaims(nil, c), nil
}

// appendClaims writes the payload without reflection. Field order follows
// LiveKit's tokenClaims (jwt.RegisteredClaims, then ClaimGrants).
func appendClaims(b []byte, c *Claims) []byte {
	w := objWriter{b: append(b, '{')}
	w.str("iss", c.Issuer)
	w.str("sub", c.Subject)
	switch len(c.Audience) {
	case 0:
	case 1:
		w.str("aud", c.Audience[0])
	default:
		w.strs("aud", c.Audience)
	}
	w.num("exp", c.ExpiresAt)
	w.num("nbf", c.NotBefore)
	w.num("iat", c.IssuedAt)
	w.str("jti", c.ID)
	w.str("identity", c.Identity)
	w.str("name", c.Name)
	w.str("kind", c.Kind)
	w.strs("kindDetails", c.KindDetails)
	if v := c.Video; v != nil {
		w.key("video")
		w.b = appendVideo(w.b, v)
	}
	w.grants(c)
	if len(c.RoomConfig) > 0 {
		w.key("roomConfig")
		w.b = append(w.b, c.RoomConfig...)
	}
	w.str("roomPreset", c.RoomPreset)
	w.str("sha256", c.Sha256)
	w.str("metadata", c.Metadata)
	w.attributes(c.Attributes)
	w.extra(c.Extra)
	return append(w.b, '}')
}

// attributes writes the participant's attributes in key order, when set.
func (w *objWriter) attributes(attrs map[string]string) {
	if len(attrs) == 0 {
		return
	}
	w.open("attributes")
	for _, k := range sortedKeys(attrs) {
		w.anyKey(k)
		w.b = appendString(w.b, attrs[k])
	}
	w.close()
}

// extra writes the unknown claims verbatim in key order; a known claim
// is written from its field, never twice.
func (w *objWriter) extra(extra map[string]json.RawMessage) {
	for _, k := range sortedKeys(extra) {
		if !knownClaim(k) {
			w.anyKey(k)
			w.b = append(w.b, extra[k]...)
		}
	}
}

// grants writes LiveKit's grant objects other than video, each when set.
func (w *objWriter) grants(c *Claims) {
	if g := c.SIP; g != nil {
		w.open("sip")
		w.flag("admin", g.Admin)
		w.flag("call", g.Call)
		w.close()
	}
	if g := c.Agent; g != nil {
		w.open("agent")
		w.flag("admin", g.Admin)
		w.flag("simulationAdmin", g.SimulationAdmin)
		w.flag("databaseAdmin", g.DatabaseAdmin)
		w.flag("dispatchAdmin", g.DispatchAdmin)
		w.close()
	}
	if g := c.Inference; g != nil {
		w.open("inference")
		w.flag("perform", g.Perform)
		w.close()
	}
	if g := c.Observability; g != nil {
		w.open("observability")
		w.flag("write", g.Write)
		w.close()
	}
	if g := c.AgentEndpoint; g != nil {
		w.open("agentEndpoint")
		w.flag("call", g.Call)
		w.str("agentName", g.AgentName)
		w.str("deployment", g.Deployment)
		w.close()
	}
	if g := c.AgentThread; g != nil {
		w.open("agentThread")
		w.flag("all", g.All)
		w.str("scope", g.Scope)
		w.strs("threadIds", g.ThreadIDs)
		w.flag("list", g.List)
		w.flag("create", g.Create)
		w.flag("write", g.Write)
		w.flag("read", g.Read)
		w.flag("delete", g.Delete)
		w.close()
	}
}

func appendVideo(b []byte, v *VideoGrant) []byte {
	w := objWriter{b: append(b, '{')}
	w.flag("roomCreate", v.RoomCreate)
	w.flag("roomList", v.RoomList)
	w.flag("roomRecord", v.RoomRecord)
	w.flag("roomAdmin", v.RoomAdmin)
	w.flag("roomJoin", v.RoomJoin)
	w.str("room", v.Room)
	w.tri("canPublish", v.CanPublish)
	w.tri("canSubscribe", v.CanSubscribe)
	w.tri("canPublishData", v.CanPublishData)
	w.strs("canPublishSources", v.CanPublishSources)
	w.tri("canUpdateOwnMetadata", v.CanUpdateOwnMetadata)
	w.flag("ingressAdmin", v.IngressAdmin)
	w.flag("hidden", v.Hidden)
	w.flag("recorder", v.Recorder)
	w.flag("agent", v.Agent)
	w.tri("canSubscribeMetrics", v.CanSubscribeMetrics)
	w.tri("canManageAgentSession", v.CanManageAgentSession)
	w.str("destinationRoom", v.DestinationRoom)
	return append(w.b, '}')
}

// MarshalJSON encodes the grant with LiveKit's names and omitempty rules.
func (v *VideoGrant) MarshalJSON() ([]byte, error) { return appendVideo(nil, v), nil }

// objWriter appends the members of one JSON object, omitting empty values
// as LiveKit's omitempty tags do.
type objWriter struct {
	b     []byte
	n     int // members written at this level
	stack [4]int
	depth int
}

// key writes a member name that needs no escaping: every caller passes
// one of LiveKit's claim names, a constant (hot path of Mint).
func (w *objWriter) key(k string) {
	if w.n > 0 {
		w.b = append(w.b, ',')
	}
	w.n++
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

// anyKey writes a member name from outside (an unknown claim kept in
// Extra), escaped.
func (w *objWriter) anyKey(k string) {
	if w.n > 0 {
		w.b = append(w.b, ',')
	}
	w.n++
	w.b = appendString(w.b, k)
	w.b = append(w.b, ':')
}

func (w *objWriter) open(k string) {
	w.key(k)
	w.b = append(w.b, '{')
	w.stack[w.depth] = w.n
	w.depth++
	w.n = 0
}

func (w *objWriter) close() {
	w.b = append(w.b, '}')
	w.depth--
	w.n = w.stack[w.depth]
}

func (w *objWriter) str(k, v string) {
	if v == "" {
		return
	}
	w.key(k)
	w.b = appendString(w.b, v)
}

func (w *objWriter) strs(k string, v []string) {
	if len(v) == 0 {
		return
	}
	w.key(k)
	w.b = append(w.b, '[')
	for i, s := range v {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = appendString(w.b, s)
	}
	w.b = append(w.b, ']')
}

func (w *objWriter) num(k string, v int64) {
	if v == 0 {
		return
	}
	w.key(k)
	w.b = strconv.AppendInt(w.b, v, 10)
}

func (w *objWriter) flag(k string, v bool) {
	if !v {
		return
	}
	w.key(k)
	w.b = append(w.b, "true"...)
}

func (w *objWriter) tri(k string, v *bool) {
	if v == nil {
		return
	}
	w.key(k)
	w.b = strconv.AppendBool(w.b, *v)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Like encoding/json it escapes
// control characters, U+2028/U+2029 and HTML-significant bytes, and turns
// invalid UTF-8 into U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	i := 0
	for i < len(s) && safeASCII[s[i]] {
		i++
	}
	if i == len(s) { // the common case: nothing to escape
		b = append(b, s...)
		return append(b, '"')
	}
	start := 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// safeASCII marks the bytes appendString copies unescaped.
var safeASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// AppendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it (quotes, backslash, control characters, < > &, U+2028/9;
// invalid UTF-8 becomes U+FFFD), without reflection. The token API uses it
// to write its responses on the hot path.
func AppendJSONString(b []byte, s string) []byte { return appendString(b, s) }
