package token

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
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

// claim reads the value of claim k into c: a registered JWT claim, one of
// LiveKit's, or an unknown one kept verbatim in Extra.
func (r *reader) claim(c *Claims, k string) error {
	var err error
	switch k {
	case "iss":
		c.Issuer, err = r.str(k)
	case "sub":
		c.Subject, err = r.str(k)
	case "aud":
		c.Audience, err = r.audience()
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
		err = grant(r, &c.SIP, r.sipField)
	case "agent":
		err = grant(r, &c.Agent, r.agentField)
	case "inference":
		err = grant(r, &c.Inference, r.inferenceField)
	case "observability":
		err = grant(r, &c.Observability, r.observabilityField)
	case "agentEndpoint":
		err = grant(r, &c.AgentEndpoint, r.agentEndpointField)
	case "agentThread":
		err = grant(r, &c.AgentThread, r.agentThreadField)
	case "roomConfig":
		c.RoomConfig, err = r.roomConfig()
	case "roomPreset":
		c.RoomPreset, err = r.str(k)
	case "sha256":
		c.Sha256, err = r.str(k)
	case "metadata":
		c.Metadata, err = r.str(k)
	case "attributes":
		c.Attributes, err = r.attributes()
	default:
		err = r.extra(&c.Extra, k)
	}
	return err
}

// audience reads "aud": one string or an array of them (RFC 7519 4.1.3).
func (r *reader) audience() ([]string, error) {
	if r.peek() == '[' {
		return r.strList("aud")
	}
	a, err := r.str("aud")
	if a == "" {
		return nil, err
	}
	return []string{a}, err
}

// roomConfig reads "roomConfig": an object kept verbatim, or null.
func (r *reader) roomConfig() (json.RawMessage, error) {
	if r.null() {
		return nil, nil
	}
	if r.peek() != '{' {
		return nil, r.fail("claim roomConfig must be an object")
	}
	raw, err := r.raw()
	return json.RawMessage(raw), err
}

// attributes reads "attributes": an object of strings, or null.
func (r *reader) attributes() (map[string]string, error) {
	if r.null() {
		return nil, nil
	}
	m := map[string]string{}
	err := r.object(func(f string) error {
		v, e := r.str("attributes." + f)
		m[f] = v
		return e
	})
	return m, err
}

// extra keeps an unknown claim's value verbatim in *dst.
func (r *reader) extra(dst *map[string]json.RawMessage, k string) error {
	raw, err := r.raw()
	if *dst == nil {
		*dst = map[string]json.RawMessage{}
	}
	(*dst)[k] = json.RawMessage(raw)
	return err
}

func (r *reader) sipField(g *SIPGrant, f string) error {
	return r.flags(f, bools("admin", &g.Admin, "call", &g.Call))
}

func (r *reader) agentField(g *AgentGrant, f string) error {
	return r.flags(f, bools("admin", &g.Admin, "simulationAdmin", &g.SimulationAdmin), bools("databaseAdmin", &g.DatabaseAdmin, "dispatchAdmin", &g.DispatchAdmin))
}

func (r *reader) inferenceField(g *InferenceGrant, f string) error {
	return r.flags(f, bools("perform", &g.Perform, "", nil))
}

func (r *reader) observabilityField(g *ObservabilityGrant, f string) error {
	return r.flags(f, bools("write", &g.Write, "", nil))
}

func (r *reader) agentEndpointField(g *AgentEndpointGrant, f string) (err error) {
	switch f {
	case "agentName":
		g.AgentName, err = r.str(f)
	case "deployment":
		g.Deployment, err = r.str(f)
	default:
		err = r.flags(f, bools("call", &g.Call, "", nil))
	}
	return err
}

func (r *reader) agentThreadField(g *AgentThreadGrant, f string) (err error) {
	switch f {
	case "scope":
		g.Scope, err = r.str(f)
	case "threadIds":
		g.ThreadIDs, err = r.strList(f)
	default:
		err = r.flags(f, bools("all", &g.All, "list", &g.List), bools("create", &g.Create, "write", &g.Write), bools("read", &g.Read, "delete", &g.Delete))
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
// positioned at the member's value; fn must consume the value. A key given
// twice is an error.
func (r *reader) object(fn func(key string) error) error {
	if !r.consume('{') {
		return r.fail("expected a JSON object")
	}
	if err := r.enter(); err != nil {
		return err
	}
	if r.consume('}') {
		r.depth--
		return nil
	}
	var seen keySet
	for {
		key, err := r.memberName(&seen)
		if err != nil {
			return err
		}
		if err := fn(key); err != nil {
			return err
		}
		if done, err := r.next('}'); done || err != nil {
			return err
		}
	}
}

// memberName reads a member's name and its colon, refusing a name seen
// before in the object.
func (r *reader) memberName(seen *keySet) (string, error) {
	if r.peek() != '"' {
		return "", r.fail("expected a member name")
	}
	key, err := r.rawString()
	if err != nil {
		return "", err
	}
	if !seen.add(key) {
		return "", r.fail(fmt.Sprintf("duplicate key %q", key))
	}
	if !r.consume(':') {
		return "", r.fail("expected ':'")
	}
	return key, nil
}

// enter goes one level deeper into nested values, up to maxDepth.
func (r *reader) enter() error {
	r.depth++
	if r.depth > maxDepth {
		return r.fail("JSON nested too deeply")
	}
	return nil
}

// next reads what follows a member or element: a comma (more to come) or
// the closing byte (done, one level up).
func (r *reader) next(closing byte) (done bool, err error) {
	if r.consume(',') {
		return false, nil
	}
	if r.consume(closing) {
		r.depth--
		return true, nil
	}
	return false, r.fail(fmt.Sprintf("expected ',' or '%c'", closing))
}

// keySet holds the keys of one object, to refuse a duplicate. The usual
// object's keys fit in the array, so it costs no allocation; a larger one
// moves to a map.
type keySet struct {
	few  [24]string
	n    int
	many map[string]struct{}
}

// add records key and reports whether it is new.
func (s *keySet) add(key string) bool {
	if s.many != nil {
		if _, dup := s.many[key]; dup {
			return false
		}
		s.many[key] = struct{}{}
		return true
	}
	for _, k := range s.few[:s.n] {
		if k == key {
			return false
		}
	}
	if s.n < len(s.few) {
		s.few[s.n] = key
		s.n++
		return true
	}
	s.many = make(map[string]struct{}, 2*len(s.few))
	for _, k := range s.few {
		s.many[k] = struct{}{}
	}
	s.many[key] = struct{}{}
	return true
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
	s = strings.TrimPrefix(s, "-")
	switch {
	case s == "":
		return false
	case s[0] == '0':
		s = s[1:]
	case s[0] >= '1' && s[0] <= '9':
		s = skipDigits(s)
	default:
		return false
	}
	if rest, ok := strings.CutPrefix(s, "."); ok {
		if s = skipDigits(rest); len(s) == len(rest) {
			return false // a fraction needs a digit
		}
	}
	if s != "" && (s[0] == 'e' || s[0] == 'E') {
		rest := s[1:]
		if rest != "" && (rest[0] == '+' || rest[0] == '-') {
			rest = rest[1:]
		}
		if s = skipDigits(rest); len(s) == len(rest) {
			return false // an exponent needs a digit
		}
	}
	return s == ""
}

// skipDigits returns s after its leading decimal digits.
func skipDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[i:]
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

// escapedString reads the rest of a string from r.i, where its first
// backslash is; start is where its text began.
func (r *reader) escapedString(start int) (string, error) {
	b := make([]byte, 0, r.i-start+16)
	b = append(b, r.s[start:r.i]...)
	for r.i < len(r.s) {
		switch c := r.s[r.i]; {
		case c == '"':
			r.i++
			if !utf8.Valid(b) {
				return string([]rune(string(b))), nil
			}
			return string(b), nil
		case c < 0x20:
			return "", r.fail("control character in string")
		case c == '\\':
			var err error
			if b, err = r.escape(b); err != nil {
				return "", err
			}
		default:
			b = append(b, c)
			r.i++
		}
	}
	return "", r.fail("unterminated string")
}

// simpleEscapes maps the byte after a backslash to what it stands for;
// zero for \u and anything invalid.
var simpleEscapes = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// escape appends what the escape at r.i (a backslash) stands for to b.
func (r *reader) escape(b []byte) ([]byte, error) {
	if r.i+1 >= len(r.s) {
		return b, r.fail("unterminated string")
	}
	e := r.s[r.i+1]
	r.i += 2
	if c := simpleEscapes[e]; c != 0 {
		return append(b, c), nil
	}
	if e != 'u' {
		return b, r.fail("bad escape in string")
	}
	ru, ok := r.hex4()
	if !ok {
		return b, r.fail("bad \\u escape")
	}
	if utf16.IsSurrogate(ru) {
		ru = r.lowSurrogate(ru)
	}
	return utf8.AppendRune(b, ru), nil
}

// lowSurrogate completes the UTF-16 pair whose high half is hi with a
// \u escape at r.i, or returns U+FFFD and leaves r.i alone when there is
// none, as encoding/json does.
func (r *reader) lowSurrogate(hi rune) rune {
	save := r.i
	lo := utf8.RuneError
	if r.i+1 < len(r.s) && r.s[r.i] == '\\' && r.s[r.i+1] == 'u' {
		r.i += 2
		if v, ok := r.hex4(); ok {
			lo = v
		}
	}
	if dec := utf16.DecodeRune(hi, lo); dec != utf8.RuneError {
		return dec
	}
	r.i = save
	return utf8.RuneError
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
		return r.skipArray()
	case c == 't' || c == 'f':
		var b bool
		return r.flag(&b, "value")
	case c == 'n' && r.null():
		return nil
	case c == '-' || (c >= '0' && c <= '9'):
		return r.skipNumber()
	}
	return r.fail("expected a JSON value")
}

// skipArray reads and validates an array at r.i (which holds '[').
func (r *reader) skipArray() error {
	r.i++
	if err := r.enter(); err != nil {
		return err
	}
	if r.consume(']') {
		r.depth--
		return nil
	}
	for {
		if err := r.skipValue(); err != nil {
			return err
		}
		if done, err := r.next(']'); done || err != nil {
			return err
		}
	}
}

// skipNumber reads and validates a number.
func (r *reader) skipNumber() error {
	start := r.i
	for r.i < len(r.s) && isNumberByte(r.s[r.i]) {
		r.i++
	}
	if !validNumber(r.s[start:r.i]) {
		return r.fail("invalid number")
	}
	return nil
}

// isNumberByte reports a byte that may appear in a JSON number.
func isNumberByte(c byte) bool {
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
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
