// Package userauth authenticates the people behind token requests from
// their own login, so that serve can mint a LiveKit identity from who a
// user is instead of from what a caller types.
//
// Two ways of proving a user are supported:
//
//   - An OpenID Connect ID token sent as "Authorization: Bearer <jwt>",
//     verified by Verifier against one or more configured issuers
//     (policy.OIDCIssuer, checked by policy.Compile). The issuer is chosen by the token's unverified "iss"
//     claim, then everything is checked by github.com/coreos/go-oidc with
//     go-jose: the signature against the issuer's published keys, the
//     algorithm against an asymmetric allowlist (RS*, ES*, PS*, EdDSA; "none"
//     and HS* are never accepted, so a public key can never be used as an
//     HMAC secret), "iss", "aud", "exp" and "nbf", then the required claims.
//
//   - A header set by an authenticating reverse proxy (oauth2-proxy,
//     Pomerium, Authelia, Cloudflare Access) in front of serve: ForwardAuth
//     (policy.ForwardAuth).
//     The header is believed only from the proxies the caller says it
//     trusts (policy trusted_proxies); from any other address a request
//     carrying it is refused, never trusted, because anyone can send a
//     header. Cloudflare Access's signed Cf-Access-Jwt-Assertion is not
//     read but verified, as an ID token of the team domain.
//
// # Keys
//
// Each issuer's discovery document and key set (JWKS) are fetched in the
// background when a Verifier first names the issuer, retried with backoff
// while they fail (Ready says why, for /readyz), and shared by every
// Verifier built from the same Registry, so a policy reload does not
// fetch them again. The key set is cached as long as its Cache-Control
// says (between one minute and a day); a token signed with a key ID the
// cache does not know triggers a refresh, at most one per MinRefresh
// (default 10s), so a key rotation at the issuer is picked up without a
// restart but a stream of made-up key IDs cannot turn into a stream of
// requests to the issuer. A refresh that fails keeps the keys already
// known.
//
// go-oidc's own RemoteKeySet is not used because it refetches the JWKS
// for every unknown key ID without a rate limit and ignores cache headers;
// keySet implements go-oidc's KeySet interface instead and leaves the
// signature maths to go-jose.
//
// # Users
//
// A verified login becomes a User: the LiveKit identity (a claim, "sub"
// by default, behind a per-issuer prefix so that two issuers, or an issuer
// and a caller-chosen identity, cannot name the same participant), a
// display name and the claims, which the policy's rules may test
// (HasClaim: "groups" contains "hosts"). Every failure is an error
// wrapping ErrInvalidToken (401, with a reason that names what is wrong
// and never the token), ErrUntrustedProxy (403) or ErrUnavailable (503:
// the issuer's keys are not known yet).
package userauth
