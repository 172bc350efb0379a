// Package token holds LiveKit access tokens: the claim set, field for field
// as LiveKit's own auth package writes it, and the HS256 mint, parse and
// verify operations on it.
//
// The package is pure: it does no I/O and has no clock of its own. Every
// function that needs the time takes it as an argument, so that callers and
// tests decide what "now" is.
//
// Design notes. Minting and verifying sit on the hot path of the token API,
// so the package avoids reflection: claims are encoded by a hand-written
// appender in a fixed field order and parsed by a small single-pass JSON
// reader that keeps unknown claims verbatim, rejects duplicate keys and
// never decodes a payload twice. The keyed HMAC state of each API key is
// pooled and reused. Only HS256 is accepted; "alg": "none" and every other
// algorithm are rejected before any key is looked at.
package token
