package token

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds nesting in unknown claims, so a "JSON bomb" of nested
// arrays costs a few bytes of stack, not a crash.
const maxDepth = 32

// UnmarshalJSON decodes a token payload. Unknown claims go to Extra;
// duplicate keys are an error (two parsers must never disagree on which
// "exp" counts).
func (c *Claims) UnmarshalJSON(data []byte) error {
	*c = Claims{}
	return parseClaims(string(data), c)
}

func parseClaims(s string, c *Claims) error {
	r := reader{s: s}
	if r.peek() != '{' {
		return r.fail("payload is not a JSON object")
	}
	if err := r.object(func(k string) error { return r.claim(c, k) }); err != nil {
		return err
	}
	return r.end()
}

func (r *reader) claim(c *Claims, k string) error {
	var err error
	switch k {
	case "iss":
		c.Issuer, err = r.str(k)
	case "sub":
		c.Subject, err = r.str(k)
	case "aud":
		if r.peek() == '[' {
			c.Audience, err = r.strList(k)
		} else {
			var a string
			a, err = r.str(k)
			if a != "" {
				c.Audience = []string{a}
			}
		}
	case "exp":
		c.ExpiresAt, err = r.numericDate(k)
	case "nbf":
		c.NotBefore, err = r.numericDate(k)
	case "iat":
		c.IssuedAt, err = r.numericDate(k)
	case "jti":
		c.ID, err = r.str(k)
	case "identity":
		c.Identity, err = r.str(k)
	case "name":
		c.Name, err = r.str(k)
	case "kind":
		c.Kind, err = r.str(k)
	case "kindDetails":
		c.KindDetails, err = r.strList(k)
	case "video":
		err = r.video(&c.Video)
	case "sip":
		err = grant(r, &c.SIP, func(g *SIPGrant, f string) error {
			return r.flags(f, bools("admin", &g.Admin, "call", &g.Call))
		})
	case "agent":
		err = grant(r, &c.Agent, func(g *AgentGrant, f string) error {
			return r.flags(f, bools("admin", &g.Admin, "simulationAdmin", &g.SimulationAdmin), bools("databaseAdmin", &g.DatabaseAdmin, "dispatchAdmin", &g.DispatchAdmin))
		})
	case "inference":
		err = grant(r, &c.Inference, func(g *InferenceGrant, f string) error {
			return r.flags(f, bools("perform", &g.Perform, "", nil))
		})
	case "observability":
		err = grant(r, &c.Observability, func(g *ObservabilityGrant, f string) error {
			return r.flags(f, bools("write", &g.Write, "", nil))
		})
	case "agentEndpoint":
		err = grant(r, &c.AgentEndpoint, func(g *AgentEndpointGrant, f string) (e error) {
			switch f {
			case "agentName":
				g.AgentName, e = r.str(f)
			case "deployment":
				g.Deployment, e = r.str(f)
			default:
				e = r.flags(f, bools("call", &g.Call, "", nil))
			}
			return e
		})
	case "agentThread":
		err = grant(r, &c.AgentThread, func(g *AgentThreadGrant, f string) (e error) {
			switch f {
			case "scope":
				g.Scope, e = r.str(f)
			case "threadIds":
				g.ThreadIDs, e = r.strList(f)
			default:
				e = r.flags(f, bools("all", &g.All, "list", &g.List), bools("create", &g.Create, "write", &g.Write), bools("read", &g.Read, "delete", &g.Delete))
			}
			return e
		})
	case "roomConfig":
		if r.null() {
			return nil
		}
		if r.peek() != '{' {
			return r.fail("claim roomConfig must be an object")
		}
		var raw string
		raw, err = r.raw()
		c.RoomConfig = json.RawMessage(raw)
	case "roomPreset":
		c.RoomPreset, err = r.str(k)
	case "sha256":
		c.Sha256, err = r.str(k)
	case "metadata":
		c.Metadata, err = r.str(k)
	case "attributes":
		if r.null() {
			return nil
		}
		c.Attributes = map[string]string{}
		err = r.object(func(f string) error {
			v, e := r.str("attributes." + f)
			c.Attributes[f] = v
			return e
		})
	default:
		var raw string
		raw, err = r.raw()
		if c.Extra == nil {
			c.Extra = map[string]json.RawMessage{}
		}
		c.Extra[k] = json.RawMessage(raw)
	}
	return err
}

// grant reads one grant object into a fresh *T, or leaves *dst nil for null.
func grant[T any](r *reader, dst **T, field func(g *T, name string) error) error {
	if r.null() {
		return nil
	}
	g := new(T)
	*dst = g
	return r.object(func(f string) error { return field(g, f) })
}

// boolField names one boolean member of a grant.
type boolField struct {
	name string
	dst  *bool
}

func bools(n1 string, d1 *bool, n2 string, d2 *bool) [2]boolField {
	return [2]boolField{{n1, d1}, {n2, d2}}
}

// flags reads member f into the matching boolean, or skips a member this
// package does not know (a grant newer than the package).
func (r *reader) flags(f string, groups ...[2]boolField) error {
	for _, g := range groups {
		for _, b := range g {
			if b.dst != nil && b.name == f {
				return r.flag(b.dst, f)
			}
		}
	}
	return r.skipValue()
}

// videoGrant is a VideoGrant with room for its tri-state fields, so that
// decoding one costs one allocation rather than one more per field.
type videoGrant struct {
	VideoGrant
	tri [6]bool
}

// video reads the video grant, or leaves *dst nil for null.
func (r *reader) video(dst **VideoGrant) error {
	if r.null() {
		return nil
	}
	g := new(videoGrant)
	*dst = &g.VideoGrant
	return r.object(func(f string) error { return r.videoField(g, f) })
}

func (r *reader) videoField(g *videoGrant, f string) error {
	v := &g.VideoGrant
	var err error
	switch f {
	case "roomCreate":
		return r.flag(&v.RoomCreate, f)
	case "roomList":
		return r.flag(&v.RoomList, f)
	case "roomRecord":
		return r.flag(&v.RoomRecord, f)
	case "roomAdmin":
		return r.flag(&v.RoomAdmin, f)
	case "roomJoin":
		return r.flag(&v.RoomJoin, f)
	case "room":
		v.Room, err = r.str(f)
	case "canPublish":
		v.CanPublish, err = r.tri(f, &g.tri[0])
	case "canSubscribe":
		v.CanSubscribe, err = r.tri(f, &g.tri[1])
	case "canPublishData":
		v.CanPublishData, err = r.tri(f, &g.tri[2])
	case "canPublishSources":
		v.CanPublishSources, err = r.strList(f)
	case "canUpdateOwnMetadata":
		v.CanUpdateOwnMetadata, err = r.tri(f, &g.tri[3])
	case "ingressAdmin":
		return r.flag(&v.IngressAdmin, f)
	case "hidden":
		return r.flag(&v.Hidden, f)
	case "recorder":
		return r.flag(&v.Recorder, f)
	case "agent":
		return r.flag(&v.Agent, f)
	case "canSubscribeMetrics":
		v.CanSubscribeMetrics, err = r.tri(f, &g.tri[4])
	case "canManageAgentSession":
		v.CanManageAgentSession, err = r.tri(f, &g.tri[5])
	case "destinationRoom":
		v.DestinationRoom, err = r.str(f)
	default:
		err = r.skipValue() // a grant field newer than this package
	}
	return err
}

// reader is a single-pass JSON reader over a string. Strings without
// escapes are returned as substrings of s, so a payload costs one
// allocation for its text and none per field.
type reader struct {
	s     string
	i     int
	depth int
}

func (r *reader) fail(what string) error {
	return fmt.Errorf("%w: %s (at byte %d)", ErrMalformed, what, r.i)
}

func (r *reader) ws() {
	for r.i < len(r.s) {
		switch r.s[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

func (r *reader) peek() byte {
	r.ws()
	if r.i >= len(r.s) {
		return 0
	}
	return r.s[r.i]
}

func (r *reader) consume(c byte) bool {
	if r.peek() == c {
		r.i++
		return true
	}
	return false
}

func (r *reader) end() error {
	if r.ws(); r.i != len(r.s) {
		return r.fail("trailing data after JSON value")
	}
	return nil
}

// object reads one object, calling fn for each member with the reader
// positioned at the member's value; fn must consume the value.
func (r *reader) object(fn func(key string) error) error {
	if !r.consume('{') {
		return r.fail("expected a JSON object")
	}
	r.depth++
	if r.depth > maxDepth {
		return r.fail("JSON nested too deeply")
	}
	var seenBuf [24]string
	seen := seenBuf[:0]
	var seenMap map[string]struct{}
	if r.consume('}') {
		r.depth--
		return nil
	}
	for {
		if r.peek() != '"' {
			return r.fail("expected a member name")
		}
		key, err := r.rawString()
		if err != nil {
			return err
		}
		if seenMap != nil {
			if _, dup := seenMap[key]; dup {
				return r.fail(fmt.Sprintf("duplicate key %q", key))
			}
			seenMap[key] = struct{}{}
		} else {
			for _, s := range seen {
				if s == key {
					return r.fail(fmt.Sprintf("duplicate key %q", key))
				}
			}
			if len(seen) < cap(seen) {
				seen = append(seen, key)
			} else {
				seenMap = make(map[string]struct{}, 2*len(seen))
				for _, s := range seen {
					seenMap[s] = struct{}{}
				}
				seenMap[key] = struct{}{}
			}
		}
		if !r.consume(':') {
			return r.fail("expected ':'")
		}
		if err := fn(key); err != nil {
			return err
		}
		if r.consume(',') {
			continue
		}
		if r.consume('}') {
			r.depth--
			return nil
		}
		return r.fail("expected ',' or '}'")
	}
}

// null consumes a JSON null if one is next.
func (r *reader) null() bool {
	if r.peek() == 'n' && len(r.s)-r.i >= 4 && r.s[r.i:r.i+4] == "null" {
		r.i += 4
		return true
	}
	return false
}

func (r *reader) str(name string) (string, error) {
	if r.null() {
		return "", nil
	}
	if r.peek() != '"' {
		return "", r.fail(fmt.Sprintf("claim %q must be a string", name))
	}
	return r.rawString()
}

func (r *reader) strList(name string) ([]string, error) {
	if r.null() {
		return nil, nil
	}
	if !r.consume('[') {
		return nil, r.fail(fmt.Sprintf("claim %q must be an array of strings", name))
	}
	var out []string
	if r.consume(']') {
		return []string{}, nil
	}
	for {
		s, err := r.str(name)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		if r.consume(',') {
			continue
		}
		if r.consume(']') {
			return out, nil
		}
		return nil, r.fail("expected ',' or ']'")
	}
}

func (r *reader) flag(dst *bool, name string) error {
	if r.null() {
		return nil
	}
	switch {
	case len(r.s)-r.i >= 4 && r.s[r.i:r.i+4] == "true":
		r.i += 4
		*dst = true
	case len(r.s)-r.i >= 5 && r.s[r.i:r.i+5] == "false":
		r.i += 5
		*dst = false
	default:
		return r.fail(fmt.Sprintf("grant %q must be true or false", name))
	}
	return nil
}

// tri reads a tri-state grant into *store and returns store, or nil for
// null.
func (r *reader) tri(name string, store *bool) (*bool, error) {
	if r.null() {
		return nil, nil
	}
	if err := r.flag(store, name); err != nil {
		return nil, err
	}
	return store, nil
}

// maxNumericDate bounds time claims to year ~33658, so a huge exp cannot
// overflow time arithmetic into the past.
const maxNumericDate = 1 << 40

// numericDate reads a JWT NumericDate: an integer or a decimal number of
// seconds (fractions truncated, as golang-jwt does).
func (r *reader) numericDate(name string) (int64, error) {
	if r.null() {
		return 0, nil
	}
	r.ws()
	start := r.i
	isInt := true
	if r.i < len(r.s) && r.s[r.i] == '-' {
		r.i++
	}
	digits := 0
	for r.i < len(r.s) {
		c := r.s[r.i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-':
			isInt = false
		default:
			goto done
		}
		r.i++
	}
done:
	lit := r.s[start:r.i]
	if digits == 0 {
		r.i = start
		return 0, r.fail(fmt.Sprintf("claim %q must be a number of seconds", name))
	}
	if !validNumber(lit) {
		return 0, r.fail(fmt.Sprintf("claim %q is not a valid JSON number", name))
	}
	var v int64
	if isInt {
		n, err := strconv.ParseInt(lit, 10, 64)
		if err != nil || n > maxNumericDate || n < -maxNumericDate {
			return 0, r.fail(fmt.Sprintf("claim %q is out of range", name))
		}
		v = n
	} else {
		f, err := strconv.ParseFloat(lit, 64)
		if err != nil || math.IsNaN(f) || f > maxNumericDate || f < -maxNumericDate {
			return 0, r.fail(fmt.Sprintf("claim %q is out of range", name))
		}
		v = int64(f)
	}
	return v, nil
}

// validNumber checks JSON's number grammar: -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?
func validNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	if i >= len(s) {
		return false
	}
	if s[i] == '0' {
		i++
	} else if s[i] >= '1' && s[i] <= '9' {
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	} else {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		n := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == n {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		n := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == n {
			return false
		}
	}
	return i == len(s)
}

// rawString reads a JSON string at r.i (which holds '"').
func (r *reader) rawString() (string, error) {
	r.i++ // opening quote
	start := r.i
	ascii := true
	for r.i < len(r.s) {
		c := r.s[r.i]
		switch {
		case c == '"':
			s := r.s[start:r.i]
			r.i++
			if !ascii && !utf8.ValidString(s) {
				return string([]rune(s)), nil // invalid bytes become U+FFFD, as encoding/json does
			}
			return s, nil
		case c == '\\':
			return r.escapedString(start)
		case c < 0x20:
			return "", r.fail("control character in string")
		case c >= utf8.RuneSelf:
			ascii = false
		}
		r.i++
	}
	return "", r.fail("unterminated string")
}

func (r *reader) escapedString(start int) (string, error) {
	b := make([]byte, 0, r.i-start+16)
	b = append(b, r.s[start:r.i]...)
	for r.i < len(r.s) {
		c := r.s[r.i]
		switch {
		case c == '"':
			r.i++
			if !utf8.Valid(b) {
				return string([]rune(string(b))), nil
			}
			return string(b), nil
		case c < 0x20:
			return "", r.fail("control character in string")
		case c != '\\':
			b = append(b, c)
			r.i++
			continue
		}
		if r.i+1 >= len(r.s) {
			break
		}
		e := r.s[r.i+1]
		r.i += 2
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			ru, ok := r.hex4()
			if !ok {
				return "", r.fail("bad \\u escape")
			}
			if utf16.IsSurrogate(ru) {
				ru2 := utf8.RuneError
				save := r.i
				if r.i+1 < len(r.s) && r.s[r.i] == '\\' && r.s[r.i+1] == 'u' {
					r.i += 2
					if lo, ok := r.hex4(); ok {
						ru2 = lo
					}
				}
				if dec := utf16.DecodeRune(ru, ru2); dec != utf8.RuneError {
					ru = dec
				} else {
					ru = utf8.RuneError
					r.i = save
				}
			}
			b = utf8.AppendRune(b, ru)
		default:
			return "", r.fail("bad escape in string")
		}
	}
	return "", r.fail("unterminated string")
}

func (r *reader) hex4() (rune, bool) {
	if r.i+4 > len(r.s) {
		return 0, false
	}
	var v rune
	for _, c := range []byte(r.s[r.i : r.i+4]) {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			v |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			v |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	r.i += 4
	return v, true
}

// raw reads any value and returns its text.
func (r *reader) raw() (string, error) {
	r.ws()
	start := r.i
	if err := r.skipValue(); err != nil {
		return "", err
	}
	return r.s[start:r.i], nil
}

// skipValue reads and validates one value of any kind.
func (r *reader) skipValue() error {
	switch c := r.peek(); {
	case c == '"':
		_, err := r.rawString()
		return err
	case c == '{':
		return r.object(func(string) error { return r.skipValue() })
	case c == '[':
		r.i++
		r.depth++
		if r.depth > maxDepth {
			return r.fail("JSON nested too deeply")
		}
		if r.consume(']') {
			r.depth--
			return nil
		}
		for {
			if err := r.skipValue(); err != nil {
				return err
			}
			if r.consume(',') {
				continue
			}
			if r.consume(']') {
				r.depth--
				return nil
			}
			return r.fail("expected ',' or ']'")
		}
	case c == 't' || c == 'f':
		var b bool
		return r.flag(&b, "value")
	case c == 'n':
		if r.null() {
			return nil
		}
	case c == '-' || (c >= '0' && c <= '9'):
		start := r.i
		for r.i < len(r.s) && (r.s[r.i] == '-' || r.s[r.i] == '+' || r.s[r.i] == '.' || r.s[r.i] == 'e' || r.s[r.i] == 'E' || (r.s[r.i] >= '0' && r.s[r.i] <= '9')) {
			r.i++
		}
		if !validNumber(r.s[start:r.i]) {
			return r.fail("invalid number")
		}
		return nil
	}
	return r.fail("expected a JSON value")
}

// knownClaim reports whether k is decoded into a Claims field.
func knownClaim(k string) bool {
	switch k {
	case "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "identity", "name", "kind",
		"kindDetails", "video", "sip", "agent", "inference", "observability",
		"agentEndpoint", "agentThread", "roomConfig", "roomPreset", "sha256",
		"metadata", "attributes":
		return true
	}
	return false
}
