package token

import "errors"

// Sentinel errors. Functions wrap them with context; test with errors.Is.
var (
	// ErrMalformed means the input is not a compact JWS with a JSON header
	// and a JSON object payload.
	ErrMalformed = errors.New("malformed token")
	// ErrTooLarge means the token is longer than MaxTokenSize.
	ErrTooLarge = errors.New("token too large")
	// ErrAlgorithm means the header names an algorithm other than HS256,
	// including "none".
	ErrAlgorithm = errors.New("unsupported signing algorithm")
	// ErrBadSignature means the HMAC does not match the API secret.
	ErrBadSignature = errors.New("signature does not match the API secret")
	// ErrUnknownKey means no secret is known for the token's issuer (API key).
	ErrUnknownKey = errors.New("no secret known for the token's API key")
	// ErrExpired means exp (plus leeway) is in the past.
	ErrExpired = errors.New("token is expired")
	// ErrNotYetValid means nbf (minus leeway) is in the future.
	ErrNotYetValid = errors.New("token is not valid yet")
	// ErrMissingExpiry means the token has no exp claim. LiveKit refuses
	// such tokens since they would never expire.
	ErrMissingExpiry = errors.New("token has no expiry (exp)")
	// ErrMissingIdentity means a token that grants roomJoin has no identity,
	// which LiveKit's SDKs refuse to mint.
	ErrMissingIdentity = errors.New("identity is required when joining a room")
	// ErrInvalidTTL means a validity period that is zero or negative.
	ErrInvalidTTL = errors.New("invalid ttl")
	// ErrMissingKey means an empty API key or secret.
	ErrMissingKey = errors.New("API key and secret are required")
)
