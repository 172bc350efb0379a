package userauth

import "errors"

// Errors. Every refusal of a user's credential wraps ErrInvalidToken and
// one of the more specific errors below, so errors.Is finds both.
var (
	// ErrInvalidToken: the credential does not prove a user (401).
	ErrInvalidToken = errors.New("invalid token")
	// ErrMalformed: not a signed JWT in compact form.
	ErrMalformed = errors.New("malformed token")
	// ErrAlgorithm: an algorithm the issuer is not allowed (none, HS*,
	// or one outside its allowlist).
	ErrAlgorithm = errors.New("algorithm not accepted")
	// ErrUnknownIssuer: the token's issuer is not configured.
	ErrUnknownIssuer = errors.New("issuer not configured")
	// ErrSignature: no key of the issuer verifies the signature.
	ErrSignature = errors.New("bad signature")
	// ErrExpired: past its exp.
	ErrExpired = errors.New("token expired")
	// ErrNotYetValid: before its nbf.
	ErrNotYetValid = errors.New("token not yet valid")
	// ErrAudience: not issued for the configured audience.
	ErrAudience = errors.New("wrong audience")
	// ErrClaims: a required claim is missing or has another value.
	ErrClaims = errors.New("required claim not satisfied")
	// ErrIdentity: the identity claim is missing or not a usable identity.
	ErrIdentity = errors.New("no usable identity")

	// ErrUntrustedProxy: a forward-auth header from an address that is
	// not a trusted proxy (403).
	ErrUntrustedProxy = errors.New("forward-auth header from an untrusted address")
	// ErrUnavailable: the issuer's discovery document or keys have not
	// been fetched yet (503; Ready says why).
	ErrUnavailable = errors.New("identity provider not reachable")
)
