package userauth

import (
	"fmt"
	"unicode/utf8"

	"voicetoken/internal/policy"
)

// Kind is how a user was proved.
type Kind uint8

// User kinds.
const (
	// KindOIDC: an ID token sent by the caller.
	KindOIDC Kind = iota + 1
	// KindForwardAuth: a trusted proxy's header, or Cloudflare Access's
	// signed assertion.
	KindForwardAuth
)

func (k Kind) String() string {
	switch k {
	case KindOIDC:
		return "oidc"
	case KindForwardAuth:
		return "forward_auth"
	}
	return "unknown"
}

// User is a verified login.
type User struct {
	Kind Kind
	// Source names where the user was proved: the issuer's configured
	// name, "forward_auth" or "cloudflare". Logged.
	Source string
	// Identity is the LiveKit identity the server gives the user: the
	// source's prefix and the identity claim. Never chosen by the caller.
	Identity string
	// Name is the display name ("" when the login carries none).
	Name string
	// Claims are the verified claims (an ID token's) or what the proxy
	// said ("sub", "name", "groups"), for the policy's rules.
	Claims map[string]any
}

// HasClaim reports whether claim holds value: a string claim equal to
// it, a list claim containing it, a boolean claim whose "true"/"false"
// is it.
func (u *User) HasClaim(claim, value string) bool { return policy.HasClaim(u.Claims, claim, value) }

// maxIdentity bounds an identity, as the policy bounds caller-chosen ones.
const maxIdentity = 128

// identity is prefix + the claim's value, which must be a non-empty
// string of printable UTF-8.
func identity(prefix string, v any, claim string) (string, error) {
	s, ok := v.(string)
	if !ok || s == "" {
		return "", invalid(ErrIdentity, "claim %s (the identity) is missing or not a string", claim)
	}
	id := prefix + s
	if len(id) > maxIdentity || !printable(id) {
		return "", invalid(ErrIdentity, "claim %s: want at most %d bytes of printable UTF-8 with the prefix", claim, maxIdentity)
	}
	return id, nil
}

// displayName is the name claim when it is usable, else "".
func displayName(v any) string {
	s, _ := v.(string)
	if len(s) > maxIdentity || !printable(s) {
		return ""
	}
	return s
}

// printable: valid UTF-8 without control characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

var _ fmt.Stringer = Kind(0)
