package server

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"voicetoken/internal/policy"
	"voicetoken/internal/token"
)

// handleToken serves GET, POST and OPTIONS /api/token under st, the
// state the request started with.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request, st *state) {
	// One reading of the clock (time.Now but in tests) is the mint time
	// and the latency's start.
	now := s.now()
	obs := s.metrics.tokenGet
	post := false
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		obs, post = s.metrics.tokenPost, true
	case http.MethodOptions:
		s.preflight(w, r, st)
		s.metrics.other.Observe(s.now().Sub(now).Seconds())
		return
	default:
		w.Header().Set("Allow", tokenMethods)
		s.deny(w, r, st, "", errf(http.StatusMethodNotAllowed, CodeMethod, r.Method+" is not allowed; use GET or POST"), "")
		obs.Observe(s.now().Sub(now).Seconds())
		return
	}
	// All on this stack: the claims and their grant cost no allocation.
	// (The claims stay outside is, and the grant is copied out of it:
	// escape analysis would move anything is points to onto the heap.)
	var is issuance
	var claims token.Claims
	e := s.issue(w, r, st, post, now, &is)
	var fp string
	if e == nil {
		e = s.fillClaims(st.rules, &is, &claims)
	}
	if e == nil {
		video := is.grant.Video
		claims.Video = &video
		fp, e = s.respond(w, st.key, &is, &claims, now, post)
	}
	if e != nil {
		s.deny(w, r, st, is.caller.Name(), e, is.req.Room)
	} else {
		s.metrics.issued.Inc()
		s.issued.write(r.Context(), now, is.caller.Name(), is.grant.Room, is.grant.Identity, fp)
	}
	obs.Observe(s.now().Sub(now).Seconds())
}

// issuance is one token request on its way: who asked, for what, and
// what the policy gives.
type issuance struct {
	caller policy.Caller
	req    policy.Request
	grant  policy.Grant
}

// issue runs every check in order and fills in is. Cheap checks that
// need no parsing (origin, caller, rate) come before reading the request.
func (s *Server) issue(w http.ResponseWriter, r *http.Request, st *state, post bool, now time.Time, is *issuance) (e *apiError) {
	if e = checkOrigin(w, r, st.rules); e != nil {
		return e
	}
	if is.caller, e = s.authenticate(r, st); e != nil {
		if e.code == CodeUnauthorized || e.code == CodeInvalidIDToken || e.code == CodeUntrustedProxy {
			// A wrong key or a refused login spends from its address's
			// bucket, so that keys cannot be guessed online nor forged ID
			// tokens verified at line rate: the 429 comes before the 401.
			s.metrics.authFailures.Inc()
			if le := s.spend(limitKey(st.proxies.clientAddr(r), st.rules.IPv6Prefix()), st.rules.AuthFailureRate(), now); le != nil {
				return le
			}
		}
		return e
	}
	if e = s.rateLimit(r, st, is.caller, now); e != nil {
		return e
	}
	if post {
		// The body's own limit (net/http's WriteTimeout bounds the rest).
		// Not every ResponseWriter has a connection (tests): no deadline.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
		is.req, e = readPost(r, s.cfg.MaxBodyBytes)
	} else {
		if len(r.URL.RawQuery) > s.cfg.MaxQueryBytes {
			return errf(http.StatusRequestURITooLong, CodeQueryTooLong, "query longer than "+strconv.Itoa(s.cfg.MaxQueryBytes)+" bytes")
		}
		is.req, e = parseQuery(r.URL.RawQuery)
	}
	if e != nil {
		return e
	}
	var d *policy.Denial
	if is.grant, d = st.rules.Decide(is.caller, is.req); d != nil {
		return denialError(d)
	}
	return nil
}

// rateLimit spends one token from the caller's bucket: its API key's, or
// its address's (an IPv6 client's network).
func (s *Server) rateLimit(r *http.Request, st *state, c policy.Caller, now time.Time) *apiError {
	rate, key := st.rules.Limit(c)
	if key == "" {
		key = limitKey(st.proxies.clientAddr(r), st.rules.IPv6Prefix())
	}
	return s.spend(key, rate, now)
}

// spend takes one token from key's bucket, or says how long to wait.
func (s *Server) spend(key string, rate policy.Rate, now time.Time) *apiError {
	ok, wait := s.limits.Allow(key, rate, now)
	if ok {
		return nil
	}
	e := errf(http.StatusTooManyRequests, CodeRateLimited, "too many token requests; retry later")
	e.retryAfter = int(wait / time.Second) // whole seconds, rounded up
	if wait%time.Second != 0 {
		e.retryAfter++
	}
	return e
}

// authenticate finds the caller: a user vouched for by a forward-auth
// proxy (users.go), a user's ID token or an API key from
// "Authorization: Bearer", or the browser.
func (s *Server) authenticate(r *http.Request, st *state) (policy.Caller, *apiError) {
	rules := st.rules
	if st.forward.Present(r.Header) {
		return s.forwardUser(r, st)
	}
	vals := r.Header["Authorization"]
	if len(vals) == 0 {
		c, d := rules.Browser()
		if d != nil {
			return c, denialError(d)
		}
		return c, nil
	}
	scheme, key, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" || len(vals) > 1 {
		return policy.Caller{}, errf(http.StatusUnauthorized, CodeUnauthorized, "Authorization must be \"Bearer <key>\"")
	}
	key = strings.TrimSpace(key)
	if st.oidc != nil && looksLikeJWT(key) {
		return s.oidcUser(r, st, key)
	}
	c, ok := rules.APIKey(key)
	if !ok {
		return policy.Caller{}, errf(http.StatusUnauthorized, CodeUnauthorized, "unknown API key")
	}
	return c, nil
}

// fillClaims copies the grant into the claims, choosing an identity when
// the policy leaves that to the server. The video grant is the caller's
// to point at: a pointer stored here would move is to the heap.
func (s *Server) fillClaims(rules *policy.Rules, is *issuance, claims *token.Claims) *apiError {
	g := &is.grant
	if g.Identity == "" {
		id, err := s.newIdentity(rules.IdentityPrefix())
		if err != nil {
			return errf(http.StatusInternalServerError, CodeInternal, "could not generate an identity")
		}
		g.Identity = id
	}
	claims.Identity = g.Identity
	claims.Name = g.Name
	claims.Metadata = g.Metadata
	claims.Attributes = g.Attributes
	claims.RoomConfig = g.RoomConfig
	return nil
}

// newIdentity returns prefix + 16 random hex digits.
func (s *Server) newIdentity(prefix string) (string, error) {
	var rb [8]byte
	s.randMu.Lock() // an injected io.Reader need not be concurrency-safe
	_, err := io.ReadFull(s.rand, rb[:])
	s.randMu.Unlock()
	if err != nil {
		return "", err
	}
	var hb [16]byte
	hex.Encode(hb[:], rb[:])
	return prefix + string(hb[:]), nil
}

// parseQuery reads room, identity, name and ttl from a raw query without
// building url.Values. A parameter given twice is refused: which of two
// rooms a caller meant is not ours to guess.
func parseQuery(q string) (policy.Request, *apiError) {
	var req policy.Request
	var seen [4]bool
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		var dst *string
		var i int
		switch k {
		case "room":
			dst, i = &req.Room, 0
		case "identity":
			dst, i = &req.Identity, 1
		case "name":
			dst, i = &req.Name, 2
		case "ttl":
			dst, i = &req.TTL, 3
		default:
			continue // unknown parameters are ignored, as the seed did
		}
		if seen[i] {
			return req, errf(http.StatusBadRequest, CodeBadRequest, "query parameter "+k+" given twice")
		}
		seen[i] = true
		u, err := url.QueryUnescape(v)
		if err != nil {
			return req, errf(http.StatusBadRequest, CodeBadRequest, "query parameter "+k+" is not URL-encoded correctly")
		}
		*dst = u
	}
	return req, nil
}

// readPost reads and decodes a POST body, bounded by max bytes.
func readPost(r *http.Request, max int64) (policy.Request, *apiError) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return policy.Request{}, errf(http.StatusUnsupportedMediaType, CodeMediaType, "Content-Type must be application/json")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, max))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return policy.Request{}, errf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "body larger than "+strconv.FormatInt(max, 10)+" bytes")
		}
		return policy.Request{}, errf(http.StatusBadRequest, CodeBadRequest, "could not read the body")
	}
	return decodePost(body)
}

// postBody is LiveKit's TokenSourceRequest as protobuf JSON. livekit-client
// sends the proto field names (snake_case); protojson also accepts the
// lowerCamelCase JSON names, so we do too.
type postBody struct {
	RoomName            *string           `json:"room_name"`
	ParticipantName     *string           `json:"participant_name"`
	ParticipantIdentity *string           `json:"participant_identity"`
	ParticipantMetadata *string           `json:"participant_metadata"`
	ParticipantAttrs    map[string]string `json:"participant_attributes"`
	RoomConfig          json.RawMessage   `json:"room_config"`

	RoomNameJ            *string           `json:"roomName"`
	ParticipantNameJ     *string           `json:"participantName"`
	ParticipantIdentityJ *string           `json:"participantIdentity"`
	ParticipantMetadataJ *string           `json:"participantMetadata"`
	ParticipantAttrsJ    map[string]string `json:"participantAttributes"`
	RoomConfigJ          json.RawMessage   `json:"roomConfig"`
}

type agentBody struct {
	AgentName  *string `json:"agent_name"`
	AgentNameJ *string `json:"agentName"`
	Metadata   *string `json:"metadata"`
	Deployment *string `json:"deployment"`
}

// roomConfigField reports RoomConfiguration's other fields: real, but not
// for a token caller to set (egress can carry storage credentials, timeouts
// and limits are the operator's).
func roomConfigField(k string) bool {
	switch k {
	case "name", "empty_timeout", "emptyTimeout", "departure_timeout", "departureTimeout",
		"max_participants", "maxParticipants", "metadata", "egress",
		"min_playout_delay", "minPlayoutDelay", "max_playout_delay", "maxPlayoutDelay",
		"sync_streams", "syncStreams", "tags":
		return true
	}
	return false
}

// decodePost decodes the standardized request. Unknown fields are refused
// (400 unknown_field), fields a caller may not set are refused (403), and
// a field given in both spellings is refused.
func decodePost(body []byte) (policy.Request, *apiError) {
	var b postBody
	if e := strictDecode(body, &b, "body"); e != nil {
		return policy.Request{}, e
	}
	if e := b.givenTwice(); e != nil {
		return policy.Request{}, e
	}
	req := b.request()
	rc := b.RoomConfig
	if len(rc) == 0 {
		rc = b.RoomConfigJ
	}
	if e := decodeRoomConfig(rc, &req); e != nil {
		return policy.Request{}, e
	}
	return req, nil
}

// givenTwice refuses the first field that b gives in both spellings.
func (b *postBody) givenTwice() *apiError {
	for _, f := range []struct {
		name         string
		snake, camel bool
	}{
		{"room_name", b.RoomName != nil, b.RoomNameJ != nil},
		{"participant_name", b.ParticipantName != nil, b.ParticipantNameJ != nil},
		{"participant_identity", b.ParticipantIdentity != nil, b.ParticipantIdentityJ != nil},
		{"participant_metadata", b.ParticipantMetadata != nil, b.ParticipantMetadataJ != nil},
		{"participant_attributes", b.ParticipantAttrs != nil, b.ParticipantAttrsJ != nil},
		{"room_config", len(b.RoomConfig) > 0, len(b.RoomConfigJ) > 0},
	} {
		if f.snake && f.camel {
			return errGivenTwice(f.name)
		}
	}
	return nil
}

// errGivenTwice is the refusal of a field given in both spellings.
func errGivenTwice(name string) *apiError {
	return errf(http.StatusBadRequest, CodeBadRequest, name+" given twice (snake_case and camelCase)")
}

// request is b's participant fields as a policy.Request, each from the
// spelling given; room_config is decodeRoomConfig's.
func (b *postBody) request() policy.Request {
	req := policy.Request{
		Room:     deref(cmp.Or(b.RoomName, b.RoomNameJ)),
		Name:     deref(cmp.Or(b.ParticipantName, b.ParticipantNameJ)),
		Identity: deref(cmp.Or(b.ParticipantIdentity, b.ParticipantIdentityJ)),
		Metadata: cmp.Or(b.ParticipantMetadata, b.ParticipantMetadataJ),
	}
	if req.Metadata != nil && *req.Metadata == "" {
		req.Metadata = nil // protojson's empty string is "not set"
	}
	req.Attributes = b.ParticipantAttrs
	if req.Attributes == nil {
		req.Attributes = b.ParticipantAttrsJ
	}
	if len(req.Attributes) == 0 {
		req.Attributes = nil // livekit-client sends {} when unset
	}
	return req
}

// deref is *p, or "" when p is nil.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// decodeRoomConfig decodes room_config into req: agents only; the other
// real fields are refused (403), unknown ones too (400 unknown_field).
func decodeRoomConfig(rc json.RawMessage, req *policy.Request) *apiError {
	if len(rc) == 0 || bytes.Equal(rc, []byte("null")) {
		return nil
	}
	var fields map[string]json.RawMessage
	if e := strictDecode(rc, &fields, "room_config"); e != nil {
		return e
	}
	for k := range fields {
		if k == "agents" {
			continue
		}
		if roomConfigField(k) {
			return errf(http.StatusForbidden, CodeRoomConfig, "room_config."+k+" is not configurable through the token API")
		}
		return errf(http.StatusBadRequest, CodeUnknownField, "room_config: unknown field "+quoteShort(k))
	}
	req.HasRoomConfig = true
	raw, ok := fields["agents"]
	if !ok || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	var agents []json.RawMessage
	if e := strictDecode(raw, &agents, "room_config.agents"); e != nil {
		return e
	}
	for _, ra := range agents {
		a, e := decodeAgent(ra)
		if e != nil {
			return e
		}
		req.Agents = append(req.Agents, a)
	}
	return nil
}

// decodeAgent decodes one of room_config.agents: agent_name, metadata
// and deployment; the other real fields are refused (403).
func decodeAgent(ra json.RawMessage) (policy.Dispatch, *apiError) {
	var ab agentBody
	if e := strictDecode(ra, &ab, "room_config.agents[]"); e != nil {
		if e.code == CodeUnknownField && (bytes.Contains(ra, []byte("restart")) || bytes.Contains(ra, []byte("attributes"))) {
			e = errf(http.StatusForbidden, CodeRoomConfig, "room_config.agents: only agent_name, metadata and deployment are configurable")
		}
		return policy.Dispatch{}, e
	}
	if ab.AgentName != nil && ab.AgentNameJ != nil {
		return policy.Dispatch{}, errGivenTwice("agent_name")
	}
	return policy.Dispatch{
		AgentName:  deref(cmp.Or(ab.AgentName, ab.AgentNameJ)),
		Metadata:   deref(ab.Metadata),
		Deployment: deref(ab.Deployment),
	}, nil
}

// strictDecode decodes exactly one JSON value with no unknown fields.
func strictDecode(data []byte, v any, what string) *apiError {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return errf(http.StatusBadRequest, CodeUnknownField, what+": unknown field "+quoteShort(strings.Trim(f, `"`)))
		}
		return errf(http.StatusBadRequest, CodeInvalidJSON, what+": not the expected JSON ("+jsonProblem(err)+")")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errf(http.StatusBadRequest, CodeInvalidJSON, what+": trailing data after the JSON value")
	}
	return nil
}

// jsonProblem describes a decode error without echoing the input.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "syntax error at byte " + strconv.FormatInt(se.Offset, 10)
	case errors.As(err, &te):
		return "field " + quoteShort(te.Field) + " has the wrong type"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "empty or truncated"
	}
	return "invalid"
}

// respond mints the token straight into the answer, in the contract the
// request used, and writes it. It returns the token's fingerprint for the
// access log, the same value as token.Fingerprint(raw), hashed from the
// answer so the token is never copied out of it.
func (s *Server) respond(w http.ResponseWriter, key *token.Key, is *issuance, claims *token.Claims, now time.Time, post bool) (string, *apiError) {
	bp := s.respPool.Get().(*[]byte)
	defer s.respPool.Put(bp)
	b := (*bp)[:0]
	status := http.StatusOK
	if post {
		// LiveKit's standardized endpoint answers 201 Created.
		status = http.StatusCreated
		b = append(b, `{"server_url":`...)
		b = appendJSONString(b, s.cfg.PublicLiveKitURL)
		b = append(b, `,"participant_token":"`...)
	} else {
		b = append(b, `{"token":"`...)
	}
	tokAt := len(b)
	b, err := key.AppendMint(b, claims, now, is.grant.TTL) // base64url and dots: nothing to escape
	if err != nil {
		// Every input AppendMint checks was validated before: a bug.
		s.log.LogAttrs(context.Background(), slog.LevelError, "mint failed", slog.String("event", "MINT_FAILED"), slog.String("error", err.Error()))
		return "", errf(http.StatusInternalServerError, CodeInternal, "could not mint the token")
	}
	tokEnd := len(b)
	if post {
		b = append(b, "\"}\n"...)
	} else {
		// Mint truncates to whole seconds: report what the token says.
		exp := claims.ExpiresAt
		ttl := time.Duration(exp-claims.IssuedAt) * time.Second
		b = append(b, `","ttl_hours":`...)
		b = strconv.AppendFloat(b, ttl.Hours(), 'f', -1, 64)
		b = append(b, `,"room":`...)
		b = appendJSONString(b, is.grant.Room)
		b = append(b, `,"identity":`...)
		b = appendJSONString(b, is.grant.Identity)
		b = append(b, `,"expires_at":"`...)
		b = time.Unix(exp, 0).UTC().AppendFormat(b, time.RFC3339)
		b = append(b, `","server_url":`...)
		b = appendJSONString(b, s.cfg.PublicLiveKitURL)
		b = append(b, "}\n"...)
	}
	*bp = b
	writeJSON(w, status, b)
	sum := sha256.Sum256(b[tokAt:tokEnd])
	var fp [8]byte
	hex.Encode(fp[:], sum[:4])
	return string(fp[:]), nil
}

// deny writes a refusal, counts it and logs TOKEN_DENIED.
func (s *Server) deny(w http.ResponseWriter, r *http.Request, st *state, name string, e *apiError, room string) {
	writeError(w, e)
	s.metrics.deny(e.code)
	s.log.LogAttrs(r.Context(), slog.LevelWarn, "token denied",
		slog.String("event", "TOKEN_DENIED"),
		slog.String("reason", e.code),
		slog.Int("status", e.status),
		slog.String("caller", name),
		slog.String("room", room),
		slog.String("addr", st.proxies.clientAddr(r)),
	)
}
