package token_test

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"voicetoken/internal/token"
)

// corpusCase is what one file of testdata/tokens must give when checked
// with the dev key: the verdict and the sentinel error behind it (nil for
// VALID). cmd/voicetoken's TestAdversarialVerifyCorpus checks the exit
// codes of the same files.
type corpusCase struct {
	verdict token.Verdict
	err     error
}

// corpusVerdicts is the expectation for every file of the attack corpus.
// A file without an entry fails TestAttackCorpus.
func corpusVerdicts() map[string]corpusCase {
	return map[string]corpusCase{
		// Real tokens, minted by our code and LiveKit's.
		"seed-browser.jwt":   {token.Valid, nil},
		"agent-dispatch.jwt": {token.Valid, nil},
		"admin.jwt":          {token.Valid, nil},
		// Validly signed with the dev key, hostile content: verify reports
		// what the key holder signed; serve never mints such names.
		"control-identity-signed.jwt": {token.Valid, nil},
		"room-path-glob-signed.jwt":   {token.Valid, nil},
		// Algorithm confusion: none in every spelling, asymmetric algorithms
		// (even when the HMAC under them is right), other HMACs.
		"alg-none.jwt":            {token.Malformed, token.ErrAlgorithm},
		"alg-NONE.jwt":            {token.Malformed, token.ErrAlgorithm},
		"alg-None.jwt":            {token.Malformed, token.ErrAlgorithm},
		"alg-rs256-kid.jwt":       {token.Malformed, token.ErrAlgorithm},
		"alg-rs256-hs-signed.jwt": {token.Malformed, token.ErrAlgorithm},
		"alg-es256-hs-signed.jwt": {token.Malformed, token.ErrAlgorithm},
		"alg-hs512.jwt":           {token.Malformed, token.ErrAlgorithm},
		"alg-lowercase.jwt":       {token.Malformed, token.ErrAlgorithm},
		"alg-duplicate.jwt":       {token.Malformed, token.ErrMalformed},
		"crit-header.jwt":         {token.Malformed, token.ErrMalformed},
		"header-array.jwt":        {token.Malformed, token.ErrMalformed},
		// Header injection: kid, jku, x5u are never followed.
		"jku-x5u.jwt":       {token.BadSignature, token.ErrBadSignature},
		"kid-injection.jwt": {token.BadSignature, token.ErrBadSignature},
		// Signatures: empty, another token's, padded, a swapped payload.
		"empty-signature.jwt":      {token.Malformed, token.ErrMalformed},
		"signature-of-another.jwt": {token.BadSignature, token.ErrBadSignature},
		"payload-swapped.jwt":      {token.BadSignature, token.ErrBadSignature},
		"padded-signature.jwt":     {token.Malformed, token.ErrMalformed},
		// Claims: duplicate keys, exp as a string, huge, negative, missing.
		"duplicate-exp.jwt": {token.Malformed, token.ErrMalformed},
		"iss-duplicate.jwt": {token.Malformed, token.ErrMalformed},
		"exp-string.jwt":    {token.Malformed, token.ErrMalformed},
		"exp-huge.jwt":      {token.Malformed, token.ErrMalformed},
		"exp-negative.jwt":  {token.Expired, token.ErrExpired},
		"exp-missing.jwt":   {token.Malformed, token.ErrMissingExpiry},
		"payload-array.jwt": {token.Malformed, token.ErrMalformed},
		"nested-bomb.jwt":   {token.Malformed, token.ErrMalformed},
		// Unsigned by any key we know (no iss): refused before the claims matter.
		"non-utf8.jwt":         {token.BadSignature, token.ErrUnknownKey},
		"control-identity.jwt": {token.BadSignature, token.ErrUnknownKey},
		"room-path-glob.jwt":   {token.BadSignature, token.ErrUnknownKey},
		// Shape.
		"two-segments.jwt":  {token.Malformed, token.ErrMalformed},
		"five-segments.jwt": {token.Malformed, token.ErrMalformed},
		"space-inside.jwt":  {token.Malformed, token.ErrMalformed},
	}
}

type generated struct {
	name    string
	raw     string
	verdict token.Verdict // zero value Valid is never expected: 0 means Malformed
	err     error
}

// generatedAttacks are hostile inputs too large or too repetitive for
// testdata: built here, with the sentinel each must be refused with.
func generatedAttacks(t *testing.T) []generated {
	seed, err := os.ReadFile("testdata/tokens/seed-browser.jwt")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(strings.TrimSpace(string(seed)), ".")
	enc := base64.RawURLEncoding
	deep := func(n int) string {
		return enc.EncodeToString([]byte(`{"sub":"a","exp":1,"x":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`))
	}
	return []generated{
		{name: "10 MB token", raw: parts[0] + "." + strings.Repeat("A", 10<<20) + "." + parts[2], err: token.ErrTooLarge},
		{name: "one byte over the limit", raw: parts[0] + "." + strings.Repeat("A", token.MaxTokenSize-len(parts[0])-len(parts[2])-1) + "." + parts[2], err: token.ErrTooLarge},
		{name: "10000-deep JSON under the size limit", raw: parts[0] + "." + deep(10000) + "." + parts[2], err: token.ErrMalformed},
		{name: "a megabyte of dots", raw: strings.Repeat(".", 1<<20), err: token.ErrTooLarge},
		{name: "only dots", raw: "..", err: token.ErrMalformed},
		{name: "NUL bytes", raw: parts[0] + "\x00." + parts[1] + "." + parts[2], err: token.ErrMalformed},
		{name: "header of 30 KB of spaces", raw: enc.EncodeToString([]byte(`{"alg":"HS256"`+strings.Repeat(" ", 30<<10)+`}`)) + "." + parts[1] + "." + parts[2], err: token.ErrTooLarge},
		{name: "exp 1e400", raw: parts[0] + "." + enc.EncodeToString([]byte(`{"iss":"devkey","exp":1e400}`)) + "." + parts[2], err: token.ErrMalformed},
		{name: "exp NaN", raw: parts[0] + "." + enc.EncodeToString([]byte(`{"iss":"devkey","exp":NaN}`)) + "." + parts[2], err: token.ErrMalformed},
		// Accepted by the JSON reader as encoding/json does (U+FFFD), then
		// refused by the signature: nothing of it is trusted.
		{name: "invalid UTF-8 in a key", raw: parts[0] + "." + enc.EncodeToString([]byte("{\"\xff\xfe\":1,\"exp\":1}")) + "." + parts[2], verdict: token.BadSignature, err: token.ErrUnknownKey},
		{name: "unicode escape of a lone surrogate", raw: parts[0] + "." + enc.EncodeToString([]byte(`{"iss":"devkey","sub":"\ud800","exp":1}`)) + "." + parts[2], verdict: token.BadSignature, err: token.ErrBadSignature},
	}
}

// TestAdversarialHostileTokens checks every attack (corpus and generated)
// through Check, Verify and Decode: the right verdict, the right sentinel
// (errors.Is), an error message that does not echo the token, and no panic.
func TestAdversarialHostileTokens(t *testing.T) {
	k := testKey(t)
	tried, failed := 0, 0
	run := func(name string, f func(t *testing.T)) {
		tried++
		if !t.Run(name, f) {
			failed++
		}
	}
	for name, want := range corpusVerdicts() {
		run("corpus/"+name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "tokens", name))
			if err != nil {
				t.Fatal(err)
			}
			raw := strings.TrimSpace(string(b))
			now := time.Unix(1_795_444_049, 0) // the corpus' iat
			rep := token.Check(raw, k, now, 0)
			if rep.Verdict != want.verdict {
				t.Errorf("verdict %s (%v), want %s", rep.Verdict, rep.Err, want.verdict)
			}
			if !errors.Is(rep.Err, want.err) || (want.err == nil) != (rep.Err == nil) {
				t.Errorf("error %v, want %v", rep.Err, want.err)
			}
			_, verr := token.Verify(raw, k, now)
			if (verr == nil) != (want.verdict == token.Valid) || !errors.Is(verr, want.err) {
				t.Errorf("Verify error %v, want %v", verr, want.err)
			}
			if rep.Err != nil && len(raw) > 43 && strings.Contains(rep.Err.Error(), raw[len(raw)-43:]) {
				t.Errorf("the error echoes the token's signature: %v", rep.Err)
			}
			token.Decode(raw) // the upstream (any alg) path must not panic either
		})
	}
	for _, a := range generatedAttacks(t) {
		run("generated/"+a.name, func(t *testing.T) {
			want := a.verdict
			if want == token.Valid {
				want = token.Malformed
			}
			rep := token.Check(a.raw, k, time.Unix(1_795_444_049, 0), 0)
			if rep.Verdict != want || !errors.Is(rep.Err, a.err) {
				t.Errorf("verdict %s (%v), want %s with %v", rep.Verdict, rep.Err, want, a.err)
			}
			if _, err := token.Decode(a.raw); want == token.Malformed && !errors.Is(err, a.err) {
				t.Errorf("Decode: %v, want %v", err, a.err)
			}
			if rep.Err != nil && len(rep.Err.Error()) > 300 {
				t.Errorf("error message of %d bytes: hostile input must not be echoed at length", len(rep.Err.Error()))
			}
		})
	}
	t.Logf("ADVERSARIAL scenario=hostile-tokens tried=jwt-attack-corpus-and-generated-verdicts times=%d held=%d failed=%d", tried, tried-failed, failed)
}
