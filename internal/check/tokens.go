package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"voicetoken/internal/credential"
	"voicetoken/internal/page"
	"voicetoken/internal/token"
)

// Input size limits: generous enough that an oversized token is reported
// as too large instead of being cut off, small enough that a wrong path
// (/dev/zero, a video) cannot exhaust memory.
const (
	maxTokenFile = 1 << 20
	maxPage      = 8 << 20
)

// ErrTooLarge means an input file is over its size limit.
var ErrTooLarge = errors.New("input too large")

// readLimited reads at most limit bytes of path, failing beyond.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %w: over %d bytes", path, ErrTooLarge, limit)
	}
	return data, nil
}

// Literal returns a token source that yields raw.
func Literal(raw string) func() ([]page.Match, error) {
	return func() ([]page.Match, error) { return []page.Match{{Token: token.Clean(raw)}}, nil }
}

// TokenFile returns a token source reading one token from a file.
func TokenFile(path string) func() ([]page.Match, error) {
	return func() ([]page.Match, error) {
		data, err := readLimited(path, maxTokenFile)
		if err != nil {
			return nil, err
		}
		return []page.Match{{Token: token.Clean(string(data))}}, nil
	}
}

// PageTokens returns a token source reading every token hardcoded in an
// HTML page (const TOKEN = '...'), commented out or not, with its line.
func PageTokens(path string) func() ([]page.Match, error) {
	return func() ([]page.Match, error) {
		data, err := readLimited(path, maxPage)
		if err != nil {
			return nil, err
		}
		ms, err := page.Find(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return ms, nil
	}
}

// TokenOptions configure LiveKitToken.
type TokenOptions struct {
	// Keys verifies signatures; nil means the signature is not checked
	// and the detail says so.
	Keys token.Keyring
	// OnlyKnownKeys: when Keys has no secret for the token's API key,
	// check the times without the signature instead of failing. For
	// LiveKit's dev pair used as a fallback, like `voicetoken verify`.
	OnlyKnownKeys bool
	// Warn: a valid token expiring within this is a warning.
	Warn time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// LiveKitToken checks LiveKit access tokens: HS256, signature when a
// secret is known, exp and nbf with LiveKit's leeway. Expired, bad or
// malformed is fail; expiring within Warn is warn. A source yielding
// several tokens (a page) reports the worst by page.Worst, the rule
// `voicetoken verify --html` follows too, with its line.
func LiveKitToken(name string, read func() ([]page.Match, error), o TokenOptions) Check {
	return Check{Name: name, Run: func(ctx context.Context) Result {
		ms, err := read()
		if err != nil {
			return Failf("cannot read the token: %v", err)
		}
		now := time.Now
		if o.Now != nil {
			now = o.Now
		}
		results := make([]Result, len(ms))
		reports := make([]token.Report, len(ms))
		for i, m := range ms {
			results[i], reports[i] = checkLiveKitToken(m.Token, o, now())
		}
		worst := page.Worst(reports)
		if worst < 0 {
			return Failf("no token found")
		}
		res := results[worst]
		if len(ms) > 1 {
			res.Detail = fmt.Sprintf("token %d of %d (line %d): %s", worst+1, len(ms), ms[worst].Line, res.Detail)
		}
		res.Expires = earliestExpiry(ms)
		return res
	}}
}

// earliestExpiry is the earliest exp among the tokens of ms that decode;
// zero when none has one.
func earliestExpiry(ms []page.Match) time.Time {
	var earliest time.Time
	for _, m := range ms {
		t, err := token.Decode(m.Token)
		if err != nil {
			continue
		}
		if exp, ok := t.Claims.Expiry(); ok && (earliest.IsZero() || exp.Before(earliest)) {
			earliest = exp
		}
	}
	return earliest
}

func checkLiveKitToken(raw string, o TokenOptions, now time.Time) (Result, token.Report) {
	rep, note := reportLiveKitToken(raw, o, now)
	return resultOf(rep, note, o, now), rep
}

func reportLiveKitToken(raw string, o TokenOptions, now time.Time) (token.Report, string) {
	keys, note := o.Keys, ""
	if keys == nil {
		note = "; signature not checked (no API secret configured)"
	} else if o.OnlyKnownKeys {
		if t, err := token.Parse(raw); err == nil {
			if _, ok := keys.Key(t.Claims.Issuer); !ok {
				keys, note = nil, fmt.Sprintf("; signature not checked (no secret for API key %q)", t.Claims.Issuer)
			}
		}
	}
	rep := token.Check(raw, keys, now, o.Warn)
	if rep.Key != nil {
		note = "; signed by " + rep.Key.ID
	}
	return rep, note
}

func resultOf(rep token.Report, note string, o TokenOptions, now time.Time) Result {
	who := ""
	if rep.Token != nil {
		who = describe(&rep.Token.Claims) + ", "
	}
	switch rep.Verdict {
	case token.Valid:
		if ps := token.Problems(&rep.Token.Claims); len(ps) > 0 {
			return Warnf("VALID, but %s: %s%s%s", strings.Join(ps, "; "), who, expiresIn(rep.Token, now), note)
		}
		return Okf("VALID: %s%s%s", who, expiresIn(rep.Token, now), note)
	case token.Expiring:
		return Warnf("EXPIRING: %s%s, within --warn %s%s", who, expiresIn(rep.Token, now), token.HumanDuration(o.Warn), note)
	case token.Expired:
		return Failf("EXPIRED: %s%s%s", who, expiresIn(rep.Token, now), note)
	default:
		return Failf("%s: %s%v", rep.Verdict, who, rep.Err)
	}
}

// describe names who a token is for: "user1 in test-room".
func describe(c *token.Claims) string {
	id := c.ParticipantIdentity()
	switch {
	case id != "" && c.Room() != "":
		return fmt.Sprintf("%s in %s", id, c.Room())
	case id != "":
		return id
	case c.Room() != "":
		return "room " + c.Room()
	}
	return "no identity"
}

// expiresIn writes "expires in 23h 59m (2026-11-24 12:00 UTC)" or
// "expired 2h ago (...)".
func expiresIn(t *token.Token, now time.Time) string {
	exp, ok := t.Claims.Expiry()
	if !ok {
		return "no expiry"
	}
	at := exp.UTC().Format("2006-01-02 15:04 UTC")
	if now.After(exp) {
		return fmt.Sprintf("expired %s ago (%s)", token.HumanDuration(now.Sub(exp)), at)
	}
	return fmt.Sprintf("expires in %s (%s)", token.HumanDuration(exp.Sub(now)), at)
}

// Credential checks an agent's upstream token (any algorithm; its
// signature belongs to its platform and is not checked): exp in the
// future, warn within warn of it, and for a file, that only its owner can
// read it. It reads the token with the very Reader `proxy`, `run` and
// `rotate` use (credential.Open), so it accepts and refuses what they do:
// an exec: command is run, a vault: secret is read with the vault CLI's
// environment (VAULT_ADDR, VAULT_TOKEN, ...) through getenv, a FIFO or a
// file inside a git work tree is refused at once.
func Credential(name string, spec credential.Spec, getenv func(string) string, warn time.Duration, now func() time.Time) Check {
	if now == nil {
		now = time.Now
	}
	return Check{Name: name, Run: func(ctx context.Context) Result {
		raw, warning, err := readCredential(ctx, spec, getenv)
		if err != nil {
			return Failf("cannot read the credential: %v", err)
		}
		t, err := decodeUpstream(raw)
		if err != nil {
			return Failf("not a JWT: %v", err)
		}
		res := upstreamVerdict(t, describeUpstream(t, raw), warn, now())
		if exp, ok := t.Claims.Expiry(); ok {
			res.Expires = exp
		}
		return withWarning(res, warning)
	}}
}

// decodeUpstream decodes an upstream token after the agent's own
// loader's shape rules (the JWT alphabet only, no Bearer prefix, no byte
// order mark), so that check passes no file the agent would refuse.
func decodeUpstream(raw string) (*token.Token, error) {
	if err := credential.CheckShape(raw); err != nil {
		return nil, err
	}
	return token.Decode(raw)
}

// withWarning adds the reader's warning (a file's loose mode) to res: an
// ok result becomes a warning.
func withWarning(res Result, warning string) Result {
	if warning == "" {
		return res
	}
	if res.Status == OK {
		res.Status = Warn
	}
	res.Detail += "; " + warning
	return res
}

// readCredential reads the upstream token as proxy, run and rotate do,
// trimmed, with the reader's warning about the file's mode ("" if none).
func readCredential(ctx context.Context, spec credential.Spec, getenv func(string) string) (raw, warning string, _ error) {
	r, err := credential.Open(credential.Config{Spec: spec, Getenv: getenv})
	if err != nil {
		return "", "", err
	}
	data, warning, err := r.Read(ctx)
	if err != nil {
		return "", "", err
	}
	return strings.TrimSpace(string(data)), warning, nil
}

// describeUpstream names an upstream token without its secret parts: its
// algorithm, subject and issuer when set, and its fingerprint.
func describeUpstream(t *token.Token, raw string) string {
	desc := "alg " + t.Header.Alg
	if t.Claims.Subject != "" {
		desc += ", sub " + t.Claims.Subject
	}
	if t.Claims.Issuer != "" {
		desc += ", iss " + t.Claims.Issuer
	}
	return desc + ", token " + token.Fingerprint(raw)
}

// upstreamVerdict judges an upstream token's times at at: valid,
// expiring within warn, expired, not yet valid, or without exp.
func upstreamVerdict(t *token.Token, desc string, warn time.Duration, at time.Time) Result {
	c := &t.Claims
	switch err := c.Validate(at, token.Leeway); {
	case errors.Is(err, token.ErrMissingExpiry):
		return Warnf("no exp claim, cannot tell when it expires: %s", desc)
	case errors.Is(err, token.ErrExpired):
		return Failf("EXPIRED: %s, %s", expiresIn(t, at), desc)
	case errors.Is(err, token.ErrNotYetValid):
		return Failf("NOT YET VALID: valid from %s, %s", time.Unix(c.NotBefore, 0).UTC().Format("2006-01-02 15:04 UTC"), desc)
	case err != nil:
		return Failf("%v", err)
	case warn > 0 && c.TTL(at) < warn:
		return Warnf("EXPIRING: %s, within --warn %s, %s", expiresIn(t, at), token.HumanDuration(warn), desc)
	}
	return Okf("VALID: %s, %s", expiresIn(t, at), desc)
}
