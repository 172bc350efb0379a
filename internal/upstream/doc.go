// Package upstream lets an agent reach its platform (Podium and the like)
// without handling the platform's token: requests get the current token
// from a credential.Source, and authentication failures become one stable
// event that alerting keys on.
//
// # Design
//
// [Transport] is an http.RoundTripper that reads the current credential
// once per request (so every request carries the old token or the new one,
// whole, never a mix, and the first request after a rotation carries the
// new one), sets it as "Authorization: Bearer <token>" (or another header,
// or a query parameter), and watches the answer:
//
//   - 401 and 403 answers to REST requests and to WebSocket handshakes;
//   - WebSocket close frames sent by the upstream with an auth-related code
//     (1008, 4001, 4003, 4401, 4403 and any configured) or reason. These
//     are read passively from the upgraded stream: the 101 response body is
//     wrapped so that every byte from the upstream passes through a small
//     frame-header scanner on its way to the client, unchanged. Nothing is
//     re-framed, so subprotocols and extensions (permessage-deflate; control
//     frames are never compressed) pass through untouched.
//
// Each failure is logged as a JSON line
//
//	{"event":"AUTH_FAILURE","source":"rest"|"websocket","status":401,
//	 "close_code":4001,"upstream":"host","fingerprint":"...","token_expires_in":3600}
//
// and counted in voicetoken_auth_failures_total{source,status,current}
// (current="false": the refused token had already been replaced); the gauge
// voicetoken_credential_expiry_seconds reports the current token's
// remaining life at scrape time. Metrics go to a registry the caller
// passes, never the global one.
//
// [NewProxy] puts the Transport behind httputil.ReverseProxy for agents
// that do not want to handle tokens at all (`voicetoken proxy`), and
// [Transport.DialWebSocket] wraps github.com/coder/websocket's Dial for Go
// agents.
//
// The token never appears in a log line or an error: errors that could
// carry it (a url.Error whose URL holds a token query parameter) are
// redacted, and close reasons are logged with anything JWT-shaped removed.
package upstream
