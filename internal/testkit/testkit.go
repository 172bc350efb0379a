// Package testkit is support for voicetoken's tests and its adversarial
// bench, kept apart from the secret scanner (internal/logscan):
//
//   - Eventually, the one polling helper, for a condition that becomes
//     true in another goroutine or process (a line a child prints, a
//     server answering). Where the test owns the clock or the ticker,
//     drive it instead of polling.
//   - JWT, Token and TokenExp, the one builder of stand-in JWTs: the
//     shape of a platform's token (header, claims, signature segment)
//     with a random signature, since nothing in voicetoken verifies an
//     upstream token's signature.
//
// Nothing in the binary imports it.
package testkit

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// Eventually polls cond every 10ms until it holds, failing t with what
// if it does not within the given time.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
			return
		}
		<-tick.C
	}
}

// JWT returns a token with an RS256 header (kid podium-1), the given
// claims plus a random jti unless claims has one, and a random 64-byte
// signature, so every call gives a distinct value. It is for programs
// without a testing.TB (the adversarial bench); tests use Token.
func JWT(claims map[string]any) (string, error) {
	c := map[string]any{"jti": rand.Text()}
	for k, v := range claims {
		c[k] = v
	}
	h, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "podium-1"})
	if err != nil {
		return "", fmt.Errorf("encoding the test JWT header: %w", err)
	}
	p, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encoding the test JWT claims: %w", err)
	}
	sig := make([]byte, 64)
	rand.Read(sig)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(h) + "." + enc.EncodeToString(p) + "." + enc.EncodeToString(sig), nil
}

// Token is JWT for tests: it fails t if the claims cannot be encoded.
func Token(t testing.TB, claims map[string]any) string {
	t.Helper()
	tok, err := JWT(claims)
	if err != nil {
		t.Fatal(err)
		return ""
	}
	return tok
}

// TokenExp is Token with iss podium, aud outpost, sub cohost and
// exp = now + d.
func TokenExp(t testing.TB, now time.Time, d time.Duration) string {
	t.Helper()
	return Token(t, map[string]any{"iss": "podium", "aud": "outpost", "sub": "cohost", "exp": now.Add(d).Unix()})
}
