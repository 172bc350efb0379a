package credential

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"voicetoken/internal/token"
)

// Credential is one validated upstream token. It is immutable. Its String,
// GoString and LogValue show the fingerprint and expiry, never the token.
type Credential struct {
	value       string
	fingerprint string
	expiresAt   time.Time // zero when the token has no exp (Inspect only)
	issuer      string
	audience    []string
	loadedAt    time.Time
	origin      string
}

// Token returns the token itself: for an Authorization header, never for
// a log line.
func (c *Credential) Token() string { return c.value }

// Fingerprint returns token.Fingerprint of the token.
func (c *Credential) Fingerprint() string { return c.fingerprint }

// ExpiresAt returns exp, or the zero time when the token has none.
func (c *Credential) ExpiresAt() time.Time { return c.expiresAt }

// ExpiresIn returns the life left at now (negative once expired), or 0
// when the token has no exp.
func (c *Credential) ExpiresIn(now time.Time) time.Duration {
	if c.expiresAt.IsZero() {
		return 0
	}
	return c.expiresAt.Sub(now)
}

// Issuer returns the iss claim.
func (c *Credential) Issuer() string { return c.issuer }

// Audience returns a copy of the aud claim.
func (c *Credential) Audience() []string { return slices.Clone(c.audience) }

// LoadedAt returns when the source accepted this value.
func (c *Credential) LoadedAt() time.Time { return c.loadedAt }

// Origin returns the spec the value came from, in its loggable form.
func (c *Credential) Origin() string { return c.origin }

// String returns "credential FINGERPRINT (expires TIME)".
func (c *Credential) String() string {
	if c == nil {
		return "credential <none>"
	}
	if c.expiresAt.IsZero() {
		return "credential " + c.fingerprint + " (no expiry)"
	}
	return "credential " + c.fingerprint + " (expires " + c.expiresAt.UTC().Format(time.RFC3339) + ")"
}

// GoString is String, so %#v cannot print the token either.
func (c *Credential) GoString() string { return c.String() }

// LogValue logs the fingerprint and expiry.
func (c *Credential) LogValue() slog.Value {
	if c == nil {
		return slog.StringValue("<none>")
	}
	return slog.GroupValue(
		slog.String("fingerprint", c.fingerprint),
		slog.Time("expires_at", c.expiresAt),
	)
}

// Policy is what a new token must satisfy before it replaces the old one.
// The zero Policy requires a well-formed JWT whose exp is in the future.
type Policy struct {
	// Issuer, when set, must equal the iss claim.
	Issuer string
	// Audience, when set, must be one of the aud claim's values.
	Audience string
	// MinRemaining refuses a token with less life left than this. Zero
	// still refuses an expired token: unlike LiveKit's own verifier we
	// grant no leeway, since a token that the platform may already refuse
	// is no improvement on the one in use.
	MinRemaining time.Duration
}

// Inspect decodes raw (surrounding whitespace trimmed) as a JWT of any
// algorithm and checks its shape only: three base64url segments, JSON
// header and claims. It verifies no signature and no time; rotate uses it
// to describe the token being replaced, which may be expired.
func Inspect(raw string) (*Credential, error) {
	raw = strings.TrimSpace(raw)
	if err := CheckShape(raw); err != nil {
		return nil, err
	}
	t, err := token.Decode(raw)
	if err != nil {
		return nil, err // token's errors never quote the token
	}
	c := &Credential{
		value:       raw,
		fingerprint: token.Fingerprint(raw),
		issuer:      t.Claims.Issuer,
		audience:    t.Claims.Audience,
	}
	if exp, ok := t.Claims.Expiry(); ok {
		c.expiresAt = exp
	}
	return c, nil
}

// CheckShape reports whether raw (already trimmed) is what an agent's
// loader takes as it is: not empty, the JWT alphabet only. The file is
// read by the agent too, as it is, so what a person may mean (a Bearer
// header copied whole, a Windows editor's byte order mark: what
// token.Clean would strip) is refused with what to do, not cleaned here
// and sent broken there.
func CheckShape(raw string) error {
	if raw == "" {
		return ErrEmpty
	}
	if token.Clean(raw) != raw {
		if strings.HasPrefix(raw, "\uFEFF") {
			return fmt.Errorf("%w: it starts with a UTF-8 byte order mark; save the token without one", token.ErrMalformed)
		}
		return fmt.Errorf("%w: it holds \"Bearer <token>\"; store the token alone (the agent adds \"Bearer \")", token.ErrMalformed)
	}
	// base64 decoding skips \r and \n, and an HTTP header refuses them:
	// only the JWT alphabet is allowed, so what we validate is what we send.
	for i := 0; i < len(raw); i++ {
		if !jwtByte(raw[i]) {
			return fmt.Errorf("%w: byte %d is not allowed in a JWT (only A-Z a-z 0-9 - _ .)", token.ErrMalformed, i)
		}
	}
	return nil
}

func jwtByte(b byte) bool {
	return b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '.'
}

// Check validates raw at now: Inspect, then exp present and in the future
// by at least MinRemaining, then iss and aud. Errors wrap ErrEmpty,
// token.ErrMalformed, token.ErrTooLarge, token.ErrMissingExpiry,
// token.ErrExpired, ErrExpiresSoon, ErrIssuer or ErrAudience.
func (p Policy) Check(raw string, now time.Time) (*Credential, error) {
	c, err := Inspect(raw)
	if err != nil {
		return nil, err
	}
	if c.expiresAt.IsZero() {
		return nil, token.ErrMissingExpiry
	}
	left := c.expiresAt.Sub(now)
	if left <= 0 {
		return nil, fmt.Errorf("%w: expired %s ago (at %s)", token.ErrExpired, token.HumanDuration(-left), c.expiresAt.UTC().Format(time.RFC3339))
	}
	if left < p.MinRemaining {
		return nil, fmt.Errorf("%w: %s left, at least %s required", ErrExpiresSoon, token.HumanDuration(left), token.HumanDuration(p.MinRemaining))
	}
	if p.Issuer != "" && c.issuer != p.Issuer {
		return nil, fmt.Errorf("%w: iss %q, want %q", ErrIssuer, printable(c.issuer), p.Issuer)
	}
	if p.Audience != "" && !slices.Contains(c.audience, p.Audience) {
		return nil, fmt.Errorf("%w: aud %q, want %q", ErrAudience, printable(strings.Join(c.audience, ",")), p.Audience)
	}
	return c, nil
}
