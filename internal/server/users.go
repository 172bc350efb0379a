package server

import (
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"

	"voicetoken/internal/policy"
	"voicetoken/internal/userauth"
)

// Codes of refused user logins (see userError).
const (
	// CodeInvalidIDToken: the ID token or Cloudflare Access assertion
	// does not prove a user (401, with RFC 6750's WWW-Authenticate).
	CodeInvalidIDToken = "invalid_token"
	// CodeUntrustedProxy: a forward-auth header from an address that is
	// not a trusted proxy (403): someone tried to name their own user.
	CodeUntrustedProxy = "forward_auth_untrusted"
	// CodeIdPUnavailable: the identity provider's keys are not known yet
	// (503; /readyz says why).
	CodeIdPUnavailable = "identity_provider_unavailable"
)

// userError is a userauth refusal as the API answers it. An invalid token
// gets 401 with WWW-Authenticate: Bearer error="invalid_token" and the
// reason as error_description (RFC 6750 section 3), so a client library
// can tell "log in again" from "wrong API key".
func userError(err error) *apiError {
	switch {
	case errors.Is(err, userauth.ErrUntrustedProxy):
		return errf(http.StatusForbidden, CodeUntrustedProxy, err.Error()+"; this request did not come from one")
	case errors.Is(err, userauth.ErrUnavailable):
		e := errf(http.StatusServiceUnavailable, CodeIdPUnavailable, "the identity provider's keys are not available yet; try again shortly (/readyz says why)")
		e.retryAfter = 5
		return e
	}
	msg := strings.TrimPrefix(err.Error(), userauth.ErrInvalidToken.Error()+": ")
	e := errf(http.StatusUnauthorized, CodeInvalidIDToken, msg)
	e.wwwAuth = `Bearer realm="voicetoken", error="invalid_token", error_description="` + headerText(msg) + `"`
	return e
}

// headerText makes s fit a quoted-string of error_description: printable
// ASCII without '"' and '\' (RFC 6750 section 3), at most 200 bytes.
func headerText(s string) string {
	b := make([]byte, 0, min(len(s), 200))
	for i := 0; i < len(s) && len(b) < 200; i++ {
		switch c := s[i]; {
		case c == '"':
			b = append(b, '\'')
		case c == '\\' || c < 0x20 || c > 0x7e:
			b = append(b, '?')
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

// looksLikeJWT tells an ID token from an API key in a bearer: three
// base64url segments. API keys are opaque strings without dots.
func looksLikeJWT(s string) bool {
	return strings.Count(s, ".") == 2 && strings.HasPrefix(s, "eyJ")
}

// oidcUser verifies a bearer ID token and makes its user the caller.
func (s *Server) oidcUser(r *http.Request, st *state, raw string) (policy.Caller, *apiError) {
	u, err := st.oidc.Verify(r.Context(), raw)
	if err != nil {
		s.loginRefused(r, st, err)
		return policy.Caller{}, userError(err)
	}
	return st.rules.User(policy.KindOIDCUser, u.Source, u.Identity, u.Name, u.Claims), nil
}

// forwardUser reads the user a forward-auth proxy names. The plain
// header is believed only when the request comes straight from a trusted
// proxy (RemoteAddr, not X-Forwarded-For, which the client writes).
func (s *Server) forwardUser(r *http.Request, st *state) (policy.Caller, *apiError) {
	u, err := st.forward.Authenticate(r.Context(), r.Header, st.proxies.direct(r))
	if err != nil {
		s.loginRefused(r, st, err)
		return policy.Caller{}, userError(err)
	}
	return st.rules.User(policy.KindForwardAuthUser, u.Source, u.Identity, u.Name, u.Claims), nil
}

// loginRefused logs why a login was refused (LOGIN_REFUSED), with the
// address it came from; the token itself never.
func (s *Server) loginRefused(r *http.Request, st *state, err error) {
	s.log.LogAttrs(r.Context(), slog.LevelWarn, "login refused",
		slog.String("event", "LOGIN_REFUSED"), slog.String("reason", err.Error()),
		slog.String("addr", st.proxies.clientAddr(r)))
}

// direct reports whether the request's own peer (RemoteAddr) is a
// trusted proxy.
func (l proxyList) direct(r *http.Request) bool {
	a, err := netip.ParseAddr(hostPart(r.RemoteAddr))
	return err == nil && l.trusts(a)
}

// encodeConfig is the /api/config answer: the LiveKit URL for the
// browser and, with a user source, how users sign in ("login") and, for
// OIDC, where the page finds the ID token ("id_token").
func (s *Server) encodeConfig(rules *policy.Rules) []byte {
	c := struct {
		ServerURL string `json:"server_url"`
		Login     string `json:"login,omitempty"`
		IDToken   string `json:"id_token,omitempty"`
	}{ServerURL: s.cfg.PublicLiveKitURL, Login: rules.Login()}
	if c.Login == "oidc" {
		c.IDToken = s.cfg.PageIDToken
	}
	return encodeJSON(c)
}

// Close stops the background fetches of identity providers' keys. Serve
// calls it when it returns; a Server used only through Handler should.
func (s *Server) Close() { s.users.Close() }

// validStorageRef accepts "sessionStorage:KEY" and "localStorage:KEY",
// KEY 1-128 printable ASCII bytes.
func validStorageRef(s string) bool {
	_, key, ok := strings.Cut(s, ":")
	if !ok || (!strings.HasPrefix(s, "sessionStorage:") && !strings.HasPrefix(s, "localStorage:")) || key == "" || len(key) > 128 {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] > '~' || key[i] == '"' || key[i] == '\\' {
			return false
		}
	}
	return true
}
