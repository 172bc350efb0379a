// Package server is voicetoken's HTTP service: the token API that browsers,
// LiveKit's own client SDKs and backend scripts call, the voice page, and
// the operator's endpoints.
//
// Routes (all registered on one mux the caller may wrap, see Handler):
//
//	GET  /api/token   the seed's contract: ?room=&identity=&ttl=&name= ->
//	                  {"token","ttl_hours","room","identity","expires_at","server_url"}
//	POST /api/token   LiveKit's standardized token endpoint (TokenSource.endpoint()):
//	                  {room_name, participant_identity, ..., room_config} -> 201
//	                  {"server_url","participant_token"}
//	GET  /api/rooms   the rooms the policy lists, for the page's picker
//	GET  /api/config  {"server_url"}: the LiveKit URL as the browser should use it
//	GET  /healthz     the process is alive
//	GET  /readyz      keys loaded, LiveKit URL configured (and reachable with CheckLiveKit)
//	GET  /metrics     Prometheus, from a registry private to the Server
//	GET  /            the voice page (an fs.FS) under a strict Content-Security-Policy
//
// # Design
//
// Everything a request reads that can change at run time (API keys,
// compiled policy, pre-encoded /api/rooms answer) lives in one immutable
// snapshot behind an atomic.Pointer. Reload builds a complete new snapshot
// and swaps it in one store, so a request sees either the old keys and
// policy or the new ones, never a mix, and a new file that does not parse
// or validate is refused while the old snapshot stays in use.
//
// Callers come in three classes. A signed-in user presents an OpenID
// Connect ID token ("Authorization: Bearer <jwt>") or is named by a
// forward-auth proxy's header, believed only when the request's own peer
// is one of trusted_proxies (users.go, package userauth): the token's
// identity is the login's, never one the request names; a refused login
// gets 401 with WWW-Authenticate: Bearer error="invalid_token", the
// header from elsewhere 403. A request without an Authorization header
// is a browser caller: it may only join a room the policy allows, with at
// most roomJoin, canPublish, canSubscribe and canPublishData, and its
// Origin must be the server's own or on the allowlist. A request with
// "Authorization: Bearer <key>" must present one of the policy's API keys
// (stored as SHA-256 hex, compared in constant time) and gets that key's
// own rules. Admin grants (roomAdmin, roomCreate, roomList, roomRecord,
// ingressAdmin, SIP and agent admin) are never issued here: the policy
// parser refuses to name them, and the token builder has no code path
// that sets them.
//
// Who gets what is decided by package policy (Rules.Decide), pure and
// tested as a table; this package authenticates the caller, asks, and
// maps a denial's code to an HTTP status and a metric label from one
// table (denials).
//
// Every refusal is a 4xx with {"error": "...", "code": "..."} from one
// mapper (writeError); a 500 is a bug. Requests are bounded before any work
// is done: header size and read timeouts in the http.Server, query length,
// body size, and a token bucket per client address and per API key.
//
// The hot path (GET /api/token) is written to allocate little: the query
// is scanned without building url.Values, the JSON answer is appended into
// a pooled buffer without reflection, metric children are resolved once
// in New, and the access log line has a fixed handful of attributes.
package server
