package server

import (
	"net/http"
	"strings"

	"voicetoken/internal/policy"
)

// checkOrigin applies the CORS allowlist to a request. A request without
// Origin (curl, a backend) or from the server's own origin passes with no
// CORS headers. A cross-origin request passes only when its origin is on
// the policy's list (or the list has "*"), and then gets
// Access-Control-Allow-Origin for exactly that origin. The API never sets
// Access-Control-Allow-Credentials: it uses no cookies, so "*" can never
// be combined with credentials.
func checkOrigin(w http.ResponseWriter, r *http.Request, rules *policy.Rules) *apiError {
	vals := r.Header["Origin"]
	if len(vals) == 0 {
		return nil
	}
	o := vals[0]
	if sameOrigin(o, r.Host) {
		return nil
	}
	h := w.Header()
	allowed, anyOrigin := rules.Origins()
	if anyOrigin {
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Expose-Headers", "Retry-After")
		return nil
	}
	if n, err := policy.NormalizeOrigin(o); err == nil && allowed[n] {
		h.Set("Access-Control-Allow-Origin", o)
		h.Set("Access-Control-Expose-Headers", "Retry-After")
		h.Add("Vary", "Origin")
		return nil
	}
	h.Add("Vary", "Origin")
	return errf(http.StatusForbidden, CodeOriginNotAllowed, "origin "+quoteShort(o)+" is not allowed; add it to the policy's origins")
}

// sameOrigin compares an Origin header's host with the request's Host.
// The scheme is not compared: behind a TLS-terminating proxy the request
// arrives as http while the page's origin is https.
func sameOrigin(origin, host string) bool {
	rest, ok := strings.CutPrefix(origin, "https://")
	if !ok {
		if rest, ok = strings.CutPrefix(origin, "http://"); !ok {
			return false
		}
	}
	return host != "" && strings.EqualFold(rest, host)
}

// tokenMethods is the Allow header of /api/token; each endpoint sets its
// own, as the GET-only ones set "GET, HEAD".
const tokenMethods = "GET, POST, OPTIONS"

// preflight answers a CORS preflight (OPTIONS) for /api/token.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request, st *state) {
	h := w.Header()
	if len(r.Header["Origin"]) == 0 || len(r.Header["Access-Control-Request-Method"]) == 0 {
		// Not a preflight: say what the resource accepts.
		h.Set("Allow", tokenMethods)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	if e := checkOrigin(w, r, st.rules); e != nil {
		writeError(w, e)
		return
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// quoteShort quotes user input for an error message, cut to 64 bytes.
func quoteShort(s string) string { return policy.Quote(s) }
