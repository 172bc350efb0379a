// Package policy decides who may get which LiveKit token. It is pure: no
// HTTP, no I/O on the request path, no clock, no randomness.
//
// A policy file (File, YAML; examples/policy.yaml documents every field)
// is compiled once into Rules: maps and precompiled matchers, grant
// templates ready to copy. The server authenticates a caller into a
// Caller (Rules.Browser for a request without credentials, Rules.APIKey
// for a bearer key, Rules.User for a login the server verified: an OIDC
// ID token or a forward-auth proxy's word, see users.go), then asks
//
//	grant, denial := rules.Decide(caller, request)
//
// and mints the grant or maps the denial's Code to an HTTP status and a
// metric label from one table. The rules are data, the decision one
// function, and the tests an allow/deny table that runs without HTTP
// (after tailscale/setec's acl package).
//
// Compile reports every problem of a file at once, wrapped in
// ErrInvalidPolicy; unknown YAML keys are errors, so a typo cannot
// silently loosen anything. Admin grants (roomAdmin, roomCreate, SIP and
// agent admin, ...) cannot be named: ErrAdminGrant.
package policy
