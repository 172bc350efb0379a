package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"strings"
	"sync"
	"time"
)

// MaxTokenSize bounds the tokens Parse accepts. LiveKit tokens are a few
// hundred bytes; a room configuration may add a few KiB. Anything larger is
// refused before it is decoded.
const MaxTokenSize = 32 << 10

// AlgHS256 is the only algorithm LiveKit signs and verifies with.
const AlgHS256 = "HS256"

// stdHeader is the header LiveKit's SDKs write, pre-encoded so that minting
// copies it and parsing recognises it without decoding.
const stdHeader = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9" // {"alg":"HS256","typ":"JWT"}

var b64 = base64.RawURLEncoding.Strict()

// Header is the JOSE header of a token.
type Header struct {
	Alg   string
	Typ   string
	Kid   string
	Extra map[string]json.RawMessage
}

// MarshalJSON encodes the header with its extra members in key order.
func (h Header) MarshalJSON() ([]byte, error) {
	w := objWriter{b: []byte{'{'}}
	w.str("alg", h.Alg)
	w.str("typ", h.Typ)
	w.str("kid", h.Kid)
	for _, k := range sortedKeys(h.Extra) {
		w.anyKey(k)
		w.b = append(w.b, h.Extra[k]...)
	}
	return append(w.b, '}'), nil
}

// Token is a parsed, not yet verified, token.
type Token struct {
	Raw    string
	Header Header
	Claims Claims
	// signature is the decoded HMAC; signingInput is Raw up to the last dot.
	signature    [sha256.Size]byte
	signingInput string
}

// Parse splits and decodes a compact JWS without verifying it. It accepts
// only HS256 and rejects anything that is not a well-formed token with
// ErrMalformed, ErrTooLarge or ErrAlgorithm. Time claims and the signature
// are checked by Verify.
func Parse(raw string) (*Token, error) {
	t, sig, err := split(raw)
	if err != nil {
		return nil, err
	}
	if t.Header.Alg != AlgHS256 {
		return nil, fmt.Errorf("%w: %q (only HS256 is accepted, as by LiveKit)", ErrAlgorithm, printable(t.Header.Alg))
	}
	if len(sig) != b64.EncodedLen(sha256.Size) {
		return nil, fmt.Errorf("%w: signature has %d characters, an HS256 signature has %d", ErrMalformed, len(sig), b64.EncodedLen(sha256.Size))
	}
	if _, err := b64.Decode(t.signature[:], []byte(sig)); err != nil {
		return nil, fmt.Errorf("%w: signature is not base64url", ErrMalformed)
	}
	return t, nil
}

// Decode splits and decodes a compact JWS signed with any algorithm, and
// verifies nothing: not the signature, not the times. It is for tokens we
// cannot verify (an agent's upstream token signed by its platform) and for
// inspection. Never use its result to grant access.
func Decode(raw string) (*Token, error) {
	t, sig, err := split(raw)
	if err != nil {
		return nil, err
	}
	if sig == "" && !strings.EqualFold(t.Header.Alg, "none") {
		return nil, fmt.Errorf("%w: empty signature", ErrMalformed)
	}
	return t, nil
}

// split decodes the header and payload of raw and returns the signature
// segment still encoded.
func split(raw string) (*Token, string, error) {
	if len(raw) > MaxTokenSize {
		return nil, "", fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(raw), MaxTokenSize)
	}
	if raw == "" {
		return nil, "", fmt.Errorf("%w: empty token", ErrMalformed)
	}
	d1 := strings.IndexByte(raw, '.')
	if d1 < 0 {
		return nil, "", fmt.Errorf("%w: a JWT has 3 parts separated by dots, this has 1", ErrMalformed)
	}
	d2 := strings.IndexByte(raw[d1+1:], '.')
	if d2 < 0 {
		return nil, "", fmt.Errorf("%w: a JWT has 3 parts separated by dots, this has 2", ErrMalformed)
	}
	d2 += d1 + 1
	if strings.IndexByte(raw[d2+1:], '.') >= 0 {
		return nil, "", fmt.Errorf("%w: a JWT has 3 parts separated by dots, this has more (JWE is not supported)", ErrMalformed)
	}
	t := &Token{Raw: raw, signingInput: raw[:d2]}
	if h := raw[:d1]; h == stdHeader {
		t.Header = Header{Alg: AlgHS256, Typ: "JWT"}
	} else if err := parseHeader(h, &t.Header); err != nil {
		return nil, "", err
	}
	payload, err := decodeSegment(raw[d1+1 : d2])
	if err != nil {
		return nil, "", fmt.Errorf("%w: payload is not base64url: %w", ErrMalformed, err)
	}
	if err := parseClaims(payload, &t.Claims); err != nil {
		return nil, "", fmt.Errorf("payload: %w", err)
	}
	return t, raw[d2+1:], nil
}

func parseHeader(seg string, h *Header) error {
	text, err := decodeSegment(seg)
	if err != nil {
		return fmt.Errorf("%w: header is not base64url: %w", ErrMalformed, err)
	}
	r := reader{s: text}
	if r.peek() != '{' {
		return fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	err = r.object(func(k string) error {
		var e error
		switch k {
		case "alg":
			h.Alg, e = r.str(k)
		case "typ":
			h.Typ, e = r.str(k)
		case "kid":
			h.Kid, e = r.str(k)
		case "crit":
			// RFC 7515 4.1.11: a recipient must reject extensions it does not understand.
			return fmt.Errorf("%w: header has critical extensions (crit)", ErrMalformed)
		default:
			raw, e2 := r.raw()
			if h.Extra == nil {
				h.Extra = map[string]json.RawMessage{}
			}
			h.Extra[k] = json.RawMessage(raw)
			e = e2
		}
		return e
	})
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	if err := r.end(); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	return nil
}

// decodeSegment decodes base64url without padding into a string. A
// segment of a usual token is decoded on the stack, so the string is its
// only allocation.
func decodeSegment(seg string) (string, error) {
	if seg == "" {
		return "", fmt.Errorf("empty segment")
	}
	var stack [1024]byte
	var buf []byte
	if n := b64.DecodedLen(len(seg)); n <= len(stack) {
		buf = stack[:n]
	} else {
		buf = make([]byte, n)
	}
	n, err := b64.Decode(buf, []byte(seg))
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// printable shortens and sanitises attacker-controlled text for messages.
func printable(s string) string {
	if len(s) > 32 {
		s = s[:32] + "..."
	}
	return s
}

// Key is one LiveKit API key and its secret, with a pool of keyed HMAC
// states. Its String and LogValue show the key and the secret's
// fingerprint, never the secret.
type Key struct {
	ID          string
	fingerprint string
	secret      []byte
	macs        sync.Pool
}

// NewKey returns the key for an API key ID and its secret.
func NewKey(apiKey, secret string) (*Key, error) {
	if apiKey == "" || secret == "" {
		return nil, ErrMissingKey
	}
	k := &Key{ID: apiKey, secret: []byte(secret), fingerprint: Fingerprint(secret)}
	k.macs.New = func() any { return &macState{h: hmac.New(sha256.New, k.secret)} }
	return k, nil
}

// Fingerprint returns the first 8 hex digits of the SHA-256 of a secret or
// token: enough to tell two values apart in logs, useless to an attacker.
func Fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:4])
}

// SecretFingerprint returns the fingerprint of the key's secret.
func (k *Key) SecretFingerprint() string { return k.fingerprint }

// String names the key without its secret.
func (k *Key) String() string { return k.ID + " (secret " + k.fingerprint + ")" }

// GoString keeps %#v from printing the secret.
func (k *Key) GoString() string { return "token.Key{" + k.String() + "}" }

// macState is a keyed HMAC and room for its output, pooled per key so that
// neither the key schedule nor the sum is allocated per token. chunk
// carries a string's bytes to the hash, which takes only []byte.
type macState struct {
	h     hash.Hash
	sum   [sha256.Size]byte
	chunk [512]byte
}

// mac appends the HMAC of input to dst. input may alias dst: it is read
// before anything is appended.
func (k *Key) mac(dst, input []byte) []byte {
	st := k.macs.Get().(*macState)
	st.h.Reset()
	st.h.Write(input)
	dst = append(dst, st.h.Sum(st.sum[:0])...)
	k.macs.Put(st)
	return dst
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Mint signs c as a fresh token valid from now for ttl: it sets iss to the
// API key, iat and nbf to now, exp to now+ttl, and sub and identity to
// each other when only one is set. Like LiveKit's SDKs it refuses a
// roomJoin grant without an identity.
func (k *Key) Mint(c Claims, now time.Time, ttl time.Duration) (string, error) {
	bp := bufPool.Get().(*[]byte)
	buf, err := k.AppendMint((*bp)[:0], &c, now, ttl)
	out := string(buf)
	putBuf(bp, buf)
	return out, err
}

// AppendMint is Mint appending the token to dst, for a caller that writes
// it straight into an answer. It fills in c's time claims, issuer and
// identity as Mint does. On error dst is returned unchanged.
func (k *Key) AppendMint(dst []byte, c *Claims, now time.Time, ttl time.Duration) ([]byte, error) {
	if ttl <= 0 {
		return dst, fmt.Errorf("%w: %s; it must be positive", ErrInvalidTTL, ttl)
	}
	if c.Subject == "" {
		c.Subject = c.Identity
	}
	if c.Identity == "" {
		c.Identity = c.Subject
	}
	if c.Video != nil && c.Video.RoomJoin && c.Subject == "" {
		return dst, ErrMissingIdentity
	}
	c.Issuer = k.ID
	c.IssuedAt = now.Unix()
	c.NotBefore = c.IssuedAt
	c.ExpiresAt = now.Add(ttl).Unix()
	return k.AppendSign(dst, c), nil
}

// Sign encodes and signs c exactly as given.
func (k *Key) Sign(c *Claims) string {
	bp := bufPool.Get().(*[]byte)
	buf := k.AppendSign((*bp)[:0], c)
	out := string(buf)
	putBuf(bp, buf)
	return out
}

// putBuf returns a grown buffer to the pool, unless one odd token made it
// huge.
func putBuf(bp *[]byte, buf []byte) {
	if cap(buf) <= 64<<10 {
		*bp = buf
		bufPool.Put(bp)
	}
}

// AppendSign appends the token of c, encoded and signed exactly as given,
// to dst.
func (k *Key) AppendSign(dst []byte, c *Claims) []byte {
	start := len(dst)
	buf := append(dst, stdHeader...)
	buf = append(buf, '.')
	// Encode the JSON after the space the base64 will need, then encode it
	// into place: one buffer, no intermediate copies.
	headLen := len(buf)
	buf = appendClaims(buf, c)
	jsonLen := len(buf) - headLen
	encLen := b64.EncodedLen(jsonLen)
	total := headLen + encLen + jsonLen
	if cap(buf) < total+1+44 {
		nb := make([]byte, len(buf), total+1+44+64)
		copy(nb, buf)
		buf = nb
	}
	buf = buf[:total]
	copy(buf[headLen+encLen:], buf[headLen:headLen+jsonLen])
	b64.Encode(buf[headLen:headLen+encLen], buf[headLen+encLen:total])
	buf = buf[:headLen+encLen]
	// The MAC is appended after the signing input it covers, moved to the
	// stack, and written back base64url-encoded after the dot.
	n := len(buf)
	buf = k.mac(buf, buf[start:n])
	var mac [sha256.Size]byte
	copy(mac[:], buf[n:])
	buf = append(buf[:n], '.')
	buf = buf[:n+1+b64.EncodedLen(sha256.Size)]
	b64.Encode(buf[n+1:], mac[:])
	return buf
}

// VerifySignature checks the token's HMAC against this key, in constant time.
func (k *Key) VerifySignature(t *Token) error {
	st := k.macs.Get().(*macState)
	defer k.macs.Put(st)
	st.h.Reset()
	for s := t.signingInput; s != ""; {
		n := copy(st.chunk[:], s)
		st.h.Write(st.chunk[:n])
		s = s[n:]
	}
	if !hmac.Equal(st.h.Sum(st.sum[:0]), t.signature[:]) {
		return ErrBadSignature
	}
	return nil
}

// Keyring finds the key that signed a token by its issuer (the API key).
type Keyring interface {
	Key(apiKey string) (*Key, bool)
}

// Key lets a single *Key act as a Keyring.
func (k *Key) Key(apiKey string) (*Key, bool) {
	if apiKey != k.ID {
		return nil, false
	}
	return k, true
}

// Verify parses raw, checks its signature with the key its iss names and
// its time claims at now with LiveKit's leeway. On failure the returned
// error wraps one of the package's sentinel errors; the token is returned
// whenever it could be parsed, so callers can still show its claims.
func Verify(raw string, keys Keyring, now time.Time) (*Token, error) {
	t, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	k, ok := keys.Key(t.Claims.Issuer)
	if !ok {
		return t, fmt.Errorf("%w: %q", ErrUnknownKey, printable(t.Claims.Issuer))
	}
	if err := k.VerifySignature(t); err != nil {
		return t, fmt.Errorf("%w (key %s)", err, k)
	}
	if err := t.Claims.Validate(now, Leeway); err != nil {
		return t, err
	}
	return t, nil
}
