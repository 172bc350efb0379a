package credential

import "errors"

// Sentinel errors. Functions wrap them (and token's sentinels such as
// token.ErrMalformed, token.ErrExpired, token.ErrMissingExpiry) with
// context; test with errors.Is. No error ever contains a token value.
var (
	// ErrSpec means a credential spec that is not file:, env:, exec: or vault:.
	ErrSpec = errors.New("invalid credential spec")
	// ErrEmpty means the source produced no token at all.
	ErrEmpty = errors.New("credential is empty")
	// ErrExpiresSoon means the token has less life left than the policy's
	// MinRemaining.
	ErrExpiresSoon = errors.New("credential expires too soon")
	// ErrIssuer means iss is not the expected issuer.
	ErrIssuer = errors.New("credential has an unexpected issuer")
	// ErrAudience means aud does not contain the expected audience.
	ErrAudience = errors.New("credential has an unexpected audience")
	// ErrUnsafePath means a file that can end up in version control: inside
	// a git work tree or named like .env. Set Force to read it anyway.
	ErrUnsafePath = errors.New("refusing a token file that could be committed")
	// ErrNotRegular means the path is not a regular file (a directory, a
	// device, a FIFO).
	ErrNotRegular = errors.New("not a regular file")
	// ErrExec means the exec: command failed, timed out or printed too much.
	ErrExec = errors.New("credential command failed")
	// ErrNotWritable means a spec that rotate cannot write (env:, exec:).
	ErrNotWritable = errors.New("credential spec is not a file")
)
