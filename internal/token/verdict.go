package token

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Verdict is the one-word answer about a token, for people and scripts.
type Verdict int

// Verdicts, from best to worst. Exit codes follow ExitCode.
const (
	Valid        Verdict = iota // signature (if checked) and times are good
	Expiring                    // valid, but expires within the warning window
	Expired                     // exp has passed
	NotYetValid                 // nbf is in the future
	BadSignature                // the HMAC does not match, or no secret for its key
	Malformed                   // not a token, wrong algorithm, no exp, too large
)

func (v Verdict) String() string {
	switch v {
	case Valid:
		return "VALID"
	case Expiring:
		return "EXPIRING"
	case Expired:
		return "EXPIRED"
	case NotYetValid:
		return "NOT YET VALID"
	case BadSignature:
		return "BAD SIGNATURE"
	default:
		return "MALFORMED"
	}
}

// MarshalText lets a Verdict appear as its name in JSON.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// Report is the outcome of checking one token.
type Report struct {
	Verdict Verdict
	// Err says why the verdict is not VALID; nil when it is.
	Err error
	// Token is nil only when the input could not be parsed at all.
	Token *Token
	// SignatureChecked is false when no keyring was given.
	SignatureChecked bool
	// Key is the key that verified the signature, when one did.
	Key *Key
	// Remaining is exp minus now (negative once expired).
	Remaining time.Duration
}

// Check gives the verdict on raw at now. With a nil keyring the signature
// is not checked (and the report says so). A valid token whose remaining
// life is under warn gets the verdict Expiring.
func Check(raw string, keys Keyring, now time.Time, warn time.Duration) Report {
	t, err := Parse(raw)
	if err != nil {
		return Report{Verdict: Malformed, Err: err}
	}
	rep := Report{Token: t, Remaining: t.Claims.TTL(now)}
	if keys != nil {
		k, ok := keys.Key(t.Claims.Issuer)
		if !ok {
			rep.Verdict, rep.Err = BadSignature, fmt.Errorf("%w: %q", ErrUnknownKey, printable(t.Claims.Issuer))
			return rep
		}
		rep.SignatureChecked = true
		if err := k.VerifySignature(t); err != nil {
			rep.Verdict, rep.Err = BadSignature, fmt.Errorf("%w (key %s)", err, k)
			return rep
		}
		rep.Key = k
	}
	switch err := t.Claims.Validate(now, Leeway); {
	case errors.Is(err, ErrExpired):
		rep.Verdict, rep.Err = Expired, fmt.Errorf("%w %s ago", err, HumanDuration(-rep.Remaining))
	case errors.Is(err, ErrNotYetValid):
		rep.Verdict, rep.Err = NotYetValid, fmt.Errorf("%w: valid from %s", err, time.Unix(t.Claims.NotBefore, 0).UTC().Format(time.RFC3339))
	case err != nil:
		rep.Verdict, rep.Err = Malformed, err
	case warn > 0 && rep.Remaining < warn:
		rep.Verdict = Expiring
		rep.Err = fmt.Errorf("token expires in %s, within the warning window of %s", HumanDuration(rep.Remaining), HumanDuration(warn))
	}
	return rep
}

// HumanDuration writes d the way an operator reads it: "23h 59m", "4m 10s",
// "45s", "3d 2h", "24h", "7d": two units at most, the smaller one left out
// when it is zero, and truncated, not rounded. Negative durations are shown
// by magnitude.
func HumanDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	d = d.Truncate(time.Second)
	two := func(big, small int64, bigUnit, smallUnit string) string {
		if small == 0 {
			return fmt.Sprintf("%d%s", big, bigUnit)
		}
		return fmt.Sprintf("%d%s %d%s", big, bigUnit, small, smallUnit)
	}
	switch {
	case d >= 72*time.Hour:
		days := d / (24 * time.Hour)
		return two(int64(days), int64((d-days*24*time.Hour)/time.Hour), "d", "h")
	case d >= time.Hour:
		return two(int64(d/time.Hour), int64((d%time.Hour)/time.Minute), "h", "m")
	case d >= time.Minute:
		return two(int64(d/time.Minute), int64((d%time.Minute)/time.Second), "m", "s")
	default:
		return fmt.Sprintf("%ds", d/time.Second)
	}
}

// ParseTTL reads a validity period as LiveKit users write it: a Go
// duration ("10m", "6h") or a whole or decimal number of hours ("48",
// "0.5"), as the seed's /api/token?ttl=48 does. It must be positive.
func ParseTTL(s string) (time.Duration, error) {
	const century = 100 * 365 * 24 * time.Hour
	if s == "" {
		return 0, fmt.Errorf("%w: empty; want hours (48) or a duration (10m, 6h)", ErrInvalidTTL)
	}
	q := printable(s)
	// A number too large for a float64 (1e400) is still a number: +Inf.
	if h, err := strconv.ParseFloat(s, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		switch {
		case math.IsNaN(h):
			return 0, fmt.Errorf("%w: %q is not a number of hours", ErrInvalidTTL, q)
		case h <= 0:
			return 0, fmt.Errorf("%w: %q hours; it must be positive", ErrInvalidTTL, q)
		case h > century.Hours():
			return 0, fmt.Errorf("%w: %q hours is more than a century", ErrInvalidTTL, q)
		}
		// Whole seconds, as the token's exp is; what rounds to none is
		// refused like 0, never a token that is born expired.
		d := time.Duration(h * float64(time.Hour)).Round(time.Second)
		if d < time.Second {
			return 0, fmt.Errorf("%w: %q hours is less than a second", ErrInvalidTTL, q)
		}
		return d, nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, fmt.Errorf("%w: %q is neither a duration (10m, 6h) nor a number of hours", ErrInvalidTTL, q)
	case d <= 0:
		return 0, fmt.Errorf("%w: %q; it must be positive", ErrInvalidTTL, q)
	case d < time.Second:
		return 0, fmt.Errorf("%w: %q is less than a second", ErrInvalidTTL, q)
	case d > century:
		// The same cap as hours: "877000h" is no more sensible than "877000".
		return 0, fmt.Errorf("%w: %q is more than a century", ErrInvalidTTL, q)
	}
	return d, nil
}
