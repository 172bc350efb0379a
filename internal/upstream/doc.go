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
//   - 401 and 403 answers (Transport.AuthStatuses narrows them) to REST
//     requests and to WebSocket handshakes;
//   - WebSocket close frames the upstream sends first with an auth code
//     (1008, 4001, 4003, 4401, 4403 or Transport.AuthCloseCodes). These
//     are read passively from the upgraded stream: the 101 response body
//     is wrapped so that every byte passes through a small frame-header
//     scanner on its way, unchanged, in both directions. A close the
//     client sent first, and the upstream's echo of it, is never a
//     failure; nor is a close whose reason merely mentions a token: only
//     what the upstream decided pages an operator. Nothing is re-framed,
//     so subprotocols and extensions (permessage-deflate; control frames
//     are never compressed) pass through untouched.
//
// Each failure is logged as a JSON line
//
//	{"event":"AUTH_FAILURE","source":"rest"|"websocket","status":401,
//	 "close_code":4001,"upstream":"host","path":"/v1/x","fingerprint":"...",
//	 "current":true,"token_expires_in":3600,"www_authenticate_error":"invalid_token"}
//
// (path without the query; current is false when a rotation has since
// replaced the token the request carried) and counted in
// voicetoken_auth_failures_total{source,status,current}; the gauge
// voicetoken_credential_expiry_seconds reports the current token's
// remaining life at scrape time. Metrics go to a registry the caller
// passes, never the global one.
//
// [Guard] stands in front of the proxy: the proxy acts as the agent for
// whoever reaches it and browsers reach loopback, so it refuses what a
// web page sends (a foreign Host, Origin, Sec-Fetch-*), TRACE and
// CONNECT, and paths that climb above the upstream's base; [Listen]
// opens a loopback TCP port or a 0660 Unix socket.
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
