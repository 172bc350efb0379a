package check

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"voicetoken/internal/credential"
	"voicetoken/internal/page"
	"voicetoken/internal/token"
)

// DefaultFixTTL is the lifetime of a re-minted token when the old one's
// cannot be told (no iat or nbf): the seed's update script used 24 hours.
const DefaultFixTTL = 24 * time.Hour

// MaxInheritedTTL caps the lifetime a re-minted token inherits from the
// old one. A token whose iat is far in the past (0 or 1 set by hand, a
// clock at 1970) would otherwise be re-minted for decades; --ttl still
// chooses any lifetime explicitly.
const MaxInheritedTTL = 7 * 24 * time.Hour

// ErrCannotFix means a token in the page is wrong in a way that
// re-minting must not paper over: a bad signature, an API key we hold no
// secret for, a malformed or not yet valid token.
var ErrCannotFix = errors.New("cannot fix")

// FixOptions configure FixPage.
type FixOptions struct {
	// Keys must hold the secret of the API key that signed the page's
	// token: the new token is signed with that same key, after the old
	// one's signature has been verified with it.
	Keys token.Keyring
	// Warn: a token expiring within this is re-minted, as is an expired one.
	Warn time.Duration
	// TTL is the new token's lifetime; zero means the old token's
	// (exp - iat, else DefaultFixTTL), plus Warn when that is within
	// Warn (so that the new token clears the warn window), at most
	// MaxInheritedTTL.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Force follows a symlinked page, or writes a page another user owns,
	// in a directory others can write (credential.ErrPlantedLink).
	Force bool
}

// FixResult says what FixPage did.
type FixResult struct {
	Path   string    // the file written (symlinks resolved)
	Backup string    // the backup of the old page; "" when nothing changed
	Tokens int       // tokens in the page
	Fixed  int       // tokens re-minted
	Expiry time.Time // earliest expiry among the page's tokens after the fix
	// Capped is the longest inherited lifetime cut to MaxInheritedTTL;
	// zero when none was.
	Capped time.Duration
	// Lengthened is the shortest inherited lifetime that was within
	// Warn, and so was lengthened to clear the warn window (else the page
	// would stay EXPIRING and every run would re-mint it); zero when none
	// was.
	Lengthened time.Duration
	// StillWarn is set when no lifetime --fix may give clears Warn
	// (Warn is at least MaxInheritedTTL): the page stays EXPIRING.
	StillWarn bool
}

// FixPage re-mints every token hardcoded in the page at path that is
// expired or expires within o.Warn, with the same claims (identity, room,
// grants, metadata, everything) and the same lifetime (at most
// MaxInheritedTTL unless o.TTL says otherwise), signed by the same
// API key. The page is replaced atomically (temp file in the same
// directory, fsync, rename; owner, group and mode kept, as for the
// backup) after the old page is saved as PATH.bak; every byte outside the
// tokens is unchanged. When nothing needs fixing the file is not touched.
// A token that is not merely old (bad signature, unknown key, malformed)
// stops the fix with ErrCannotFix. The page is written as rotate writes a
// token file (credential.ResolveLink, ReadCurrent, ReplaceFile): a link
// or page others could have planted is refused unless o.Force, and a page
// whose owner cannot be kept is refused before anything is written.
func FixPage(path string, o FixOptions) (FixResult, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	real, _, err := credential.ResolveLink(path, o.Force)
	if err != nil {
		return FixResult{}, fmt.Errorf("fix %s: %w", path, err)
	}
	res := FixResult{Path: real}
	cur, err := readPage(real, o.Force)
	if err != nil {
		return res, fmt.Errorf("fix %s: %w", path, err)
	}
	ms, err := page.Find(cur.Data)
	if err != nil {
		return res, fmt.Errorf("fix %s: %w", path, err)
	}
	res.Tokens = len(ms)
	out, err := res.refreshAll(path, cur.Data, ms, o, now())
	if err != nil || res.Fixed == 0 {
		return res, err
	}
	res.Backup = real + ".bak"
	if err := writePage(real, cur, out); err != nil {
		return res, fmt.Errorf("fix %s: %w", path, err)
	}
	return res, nil
}

// readPage reads the page at real (links resolved) as rotate reads a
// token file: refused when others could have planted it (unless force)
// or when its owner could not be kept on rewrite.
func readPage(real string, force bool) (credential.Current, error) {
	if _, err := os.Lstat(real); err != nil {
		return credential.Current{}, err
	}
	if !force {
		if err := credential.CheckPlanted(real); err != nil {
			return credential.Current{}, err
		}
	}
	cur, err := credential.ReadCurrent(real, maxPage)
	if err != nil {
		return cur, err
	}
	return cur, credential.CanKeep(real, cur.Attrs)
}

// refreshAll re-mints the tokens ms of old that need it, records what it
// did in res, and returns the new page (old when nothing changed).
func (res *FixResult) refreshAll(path string, old []byte, ms []page.Match, o FixOptions, at time.Time) ([]byte, error) {
	out := old
	// Replace from the last token to the first so that the offsets of
	// the tokens not yet replaced stay valid.
	for i := len(ms) - 1; i >= 0; i-- {
		raw, exp, fixed, life, err := refresh(ms[i].Token, o, at)
		if err != nil {
			return nil, fmt.Errorf("%w: %s token %d of %d: %w", ErrCannotFix, path, i+1, len(ms), err)
		}
		res.record(exp, fixed, life)
		if !fixed {
			continue
		}
		if out, err = page.Replace(out, ms[i], raw); err != nil {
			return nil, fmt.Errorf("fix %s: %w", path, err)
		}
	}
	return out, nil
}

// record adds one token to res: its expiry and, when it was re-minted,
// how its lifetime was chosen.
func (res *FixResult) record(exp time.Time, fixed bool, life lifetimeChoice) {
	if res.Expiry.IsZero() || exp.Before(res.Expiry) {
		res.Expiry = exp
	}
	if !fixed {
		return
	}
	res.Fixed++
	res.Capped = max(res.Capped, life.capped)
	if life.lengthened > 0 && (res.Lengthened == 0 || life.lengthened < res.Lengthened) {
		res.Lengthened = life.lengthened
	}
	res.StillWarn = res.StillWarn || life.stillWarn
}

// writePage saves the page read as cur to real+".bak", then replaces real
// with out, owner, group and mode kept, unless someone changed it since
// cur was read.
func writePage(real string, cur credential.Current, out []byte) error {
	if err := credential.ReplaceFile(real+".bak", cur.Data, credential.ReplaceOptions{Attrs: cur.Attrs}); err != nil {
		return fmt.Errorf("back up: %w", err)
	}
	// Someone editing the page meanwhile wins over us: Expect.
	return credential.ReplaceFile(real, out, credential.ReplaceOptions{Attrs: cur.Attrs, Expect: cur.Data})
}

// lifetimeChoice says how refresh chose a new token's lifetime.
type lifetimeChoice struct {
	capped     time.Duration // inherited lifetime cut to MaxInheritedTTL
	lengthened time.Duration // inherited lifetime within Warn, lengthened
	stillWarn  bool          // no lifetime --fix may give clears Warn
}

// newLifetime is the lifetime of a re-minted token: o.TTL when given,
// else the old token's (at most MaxInheritedTTL). An inherited lifetime
// within o.Warn is lengthened by o.Warn, so that the new token clears the
// warn window by the old lifetime: re-minted no more often than before,
// instead of staying EXPIRING and re-minted on every run.
func newLifetime(c *token.Claims, o FixOptions) (time.Duration, lifetimeChoice) {
	if o.TTL > 0 {
		return o.TTL, lifetimeChoice{stillWarn: o.TTL <= o.Warn}
	}
	var why lifetimeChoice
	ttl := lifetime(c)
	if ttl <= o.Warn {
		why.lengthened, ttl = ttl, o.Warn+ttl
	}
	if ttl > MaxInheritedTTL {
		if why.lengthened == 0 {
			why.capped = ttl
		}
		ttl = MaxInheritedTTL
	}
	why.stillWarn = ttl <= o.Warn
	return ttl, why
}

// refresh returns a new token for raw when it needs one (fixed), else raw,
// and how its lifetime was chosen.
func refresh(raw string, o FixOptions, now time.Time) (_ string, exp time.Time, fixed bool, why lifetimeChoice, _ error) {
	if o.Keys == nil {
		return "", time.Time{}, false, why, errors.New("no API key configured to sign a new token with")
	}
	rep := token.Check(raw, o.Keys, now, o.Warn)
	switch rep.Verdict {
	case token.Valid:
		exp, _ := rep.Token.Claims.Expiry()
		return raw, exp, false, why, nil
	case token.Expiring, token.Expired:
	default:
		return "", time.Time{}, false, why, fmt.Errorf("%s: %w", rep.Verdict, rep.Err)
	}
	c := rep.Token.Claims.Clone()
	ttl, why := newLifetime(c, o)
	raw, err := rep.Key.Mint(*c, now, ttl)
	if err != nil {
		return "", time.Time{}, false, why, fmt.Errorf("mint: %w", err)
	}
	return raw, now.Add(ttl).Truncate(time.Second), true, why, nil
}

// lifetime is how long a token was issued for: exp - iat, else exp - nbf,
// else DefaultFixTTL.
func lifetime(c *token.Claims) time.Duration {
	start := c.IssuedAt
	if start == 0 {
		start = c.NotBefore
	}
	if start == 0 || c.ExpiresAt <= start {
		return DefaultFixTTL
	}
	return time.Duration(c.ExpiresAt-start) * time.Second
}

// Fix wraps FixPage as a check: ok when the page was fixed or did not
// need it, fail when it could not be fixed.
func Fix(name, path string, o FixOptions) Check {
	return Check{Name: name, Run: func(ctx context.Context) Result {
		now := time.Now
		if o.Now != nil {
			now = o.Now
		}
		res, err := FixPage(path, o)
		if err != nil {
			return Failf("%v", err)
		}
		exp := fmt.Sprintf("%s (in %s)", res.Expiry.UTC().Format("2006-01-02 15:04:05 UTC"), token.HumanDuration(res.Expiry.Sub(now())))
		if res.Fixed == 0 {
			return Okf("nothing to fix: the page's token expires %s", exp)
		}
		msg := fmt.Sprintf("re-minted %d of %d token(s): new expiry %s; backup %s", res.Fixed, res.Tokens, exp, res.Backup)
		switch {
		case res.StillWarn && o.TTL > 0:
			return Warnf("%s; --ttl %s is within --warn %s, so the page stays EXPIRING and is re-minted on every run: pass a --ttl longer than --warn", msg, token.HumanDuration(o.TTL), token.HumanDuration(o.Warn))
		case res.StillWarn:
			return Warnf("%s; --warn %s is at least the longest lifetime --fix gives (%s), so the page stays EXPIRING: pass a smaller --warn, or --ttl", msg, token.HumanDuration(o.Warn), token.HumanDuration(MaxInheritedTTL))
		case res.Capped > 0:
			return Warnf("%s; the old token's lifetime (%s) was cut to %s: pass --ttl to choose one", msg, token.HumanDuration(res.Capped), token.HumanDuration(MaxInheritedTTL))
		case res.Lengthened > 0:
			return Okf("%s; the old token's lifetime (%s) is within --warn %s, so the new one lives %s longer, to clear the warn window", msg, token.HumanDuration(res.Lengthened), token.HumanDuration(o.Warn), token.HumanDuration(o.Warn))
		}
		return Okf("%s", msg)
	}}
}
