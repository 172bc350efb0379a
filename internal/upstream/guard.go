package upstream

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"voicetoken/internal/hostlist"
)

// Refusal codes of a Guard: the "reason" of a PROXY_REFUSED event and the
// "code" of the 4xx answer.
const (
	RefusedHost        = "host_not_allowed"      // Host is not this machine (DNS rebinding)
	RefusedOrigin      = "browser_origin"        // an Origin header not in AllowOrigins
	RefusedFetchMeta   = "browser_fetch_headers" // Sec-Fetch-Site/Sec-Fetch-Mode without an allowed Origin
	RefusedMethod      = "method_not_allowed"    // TRACE or CONNECT
	RefusedPathEscapes = "path_escapes_base"     // dot segments that climb above the upstream's base path
	RefusedPathEncoded = "path_encoded_dots"     // dot segments hidden by %2e, %2f or a backslash
	RefusedPathForm    = "path_not_absolute"     // a request target that is not /...
)

// Guard stands in front of the proxy and refuses what an agent never
// sends and a hostile web page on the same machine does. Browsers can
// reach loopback: without it, a page could have its requests forwarded
// with the agent's token (a cross-site POST, a cross-site WebSocket, which
// browsers do not subject to CORS) or read the answers (DNS rebinding).
// Agents are not browsers, so by default:
//
//   - a Host other than the loopback names or Hosts is refused (403);
//   - a request with an Origin header, or with Sec-Fetch-Site or
//     Sec-Fetch-Mode (headers only browsers send), is refused (403) unless
//     its Origin is one of AllowOrigins;
//   - TRACE and CONNECT are refused (405): TRACE would echo the token back;
//   - the path is normalised ("/a/../b" is sent as "/b"); one that climbs
//     above the root, and so above the upstream's base path, is refused
//     (403), and one whose dot segments are hidden by percent-encoding or
//     a backslash is refused (400), since the upstream may decode them.
//
// Each refusal is answered with {"error","code"} JSON, logged as
// PROXY_REFUSED with its reason and counted in
// voicetoken_proxy_refused_total{reason} when Metrics is set.
type Guard struct {
	// Next receives the requests that pass.
	Next http.Handler
	// Hosts are the Host values served; nil skips the check (a Unix
	// socket, which no browser can reach).
	Hosts *hostlist.List
	// AllowOrigins are the browser origins (scheme://host[:port], as
	// browsers send them) whose requests pass, for a browser-based agent.
	AllowOrigins []string
	// Logger receives PROXY_REFUSED; nil discards.
	Logger *slog.Logger
	// Metrics, when set, counts refusals.
	Metrics *Metrics
}

func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if code, status, msg := g.check(r); code != "" {
		g.refuse(w, r, code, status, msg)
		return
	}
	g.Next.ServeHTTP(w, r)
}

// check returns the refusal for r, or "" when it may pass (with its path
// normalised in place).
func (g *Guard) check(r *http.Request) (code string, status int, msg string) {
	if r.Method == http.MethodTrace || r.Method == http.MethodConnect {
		return RefusedMethod, http.StatusMethodNotAllowed, r.Method + " is never forwarded"
	}
	if g.Hosts != nil && !g.Hosts.Allows(r.Host) {
		return RefusedHost, http.StatusForbidden, "Host is not this machine; call the proxy as 127.0.0.1 or localhost"
	}
	origin, hasOrigin := r.Header["Origin"]
	if hasOrigin {
		if len(origin) != 1 || !g.originAllowed(origin[0]) {
			return RefusedOrigin, http.StatusForbidden, "requests from a browser page are refused; list the page's origin with --allow-origin for a browser-based agent"
		}
	} else if r.Header.Get("Sec-Fetch-Site") != "" || r.Header.Get("Sec-Fetch-Mode") != "" {
		return RefusedFetchMeta, http.StatusForbidden, "requests from a browser are refused; agents are not browsers"
	}
	if code, status := normalisePath(r.URL); code != "" {
		return code, status, "the request path is refused; send a plain /path without dot segments"
	}
	return "", 0, ""
}

func (g *Guard) originAllowed(o string) bool {
	for _, a := range g.AllowOrigins {
		if strings.EqualFold(a, o) {
			return true
		}
	}
	return false
}

func (g *Guard) refuse(w http.ResponseWriter, r *http.Request, code string, status int, msg string) {
	if g.Logger != nil {
		g.Logger.LogAttrs(r.Context(), slog.LevelWarn, "request refused before the upstream",
			slog.String("event", "PROXY_REFUSED"), slog.String("reason", code),
			slog.String("method", short(r.Method)), slog.String("host", short(r.Host)),
			slog.String("origin", short(r.Header.Get("Origin"))),
			slog.String("path", short(r.URL.EscapedPath())), slog.String("remote", r.RemoteAddr))
	}
	if g.Metrics != nil {
		g.Metrics.refused.WithLabelValues(code).Inc()
	}
	if status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write([]byte(`{"error":"` + msg + `","code":"` + code + `"}` + "\n"))
}

// short bounds a client-chosen string in a log line.
func short(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// normalisePath resolves the dot segments of u's path in place, as RFC
// 3986 section 5.2.4 does, and returns a refusal code and status when the
// path climbs above the root, hides a dot segment in an encoding the
// upstream may decode (%2e%2e, ..%2f, ..\), or is not absolute.
func normalisePath(u *url.URL) (code string, status int) {
	p := u.EscapedPath()
	if p == "" {
		return "", 0
	}
	if p[0] != '/' {
		return RefusedPathForm, http.StatusBadRequest
	}
	// The common case, a path with no dot, percent sign or backslash,
	// has nothing to resolve.
	if strings.IndexByte(p, '.') < 0 && strings.IndexByte(p, '%') < 0 && strings.IndexByte(p, '\\') < 0 {
		return "", 0
	}
	segs, dots, code := resolveDots(strings.Split(p[1:], "/"))
	switch {
	case code == RefusedPathEscapes:
		return code, http.StatusForbidden
	case code != "":
		return code, http.StatusBadRequest
	case !dots:
		return "", 0
	}
	clean := "/" + strings.Join(segs, "/")
	path, err := url.PathUnescape(clean)
	if err != nil {
		return RefusedPathEncoded, http.StatusBadRequest
	}
	u.Path, u.RawPath = path, clean
	return "", 0
}

// resolveDots removes the "." segments of a path's segments and the
// ".." segments with their parents; it reports whether there were any,
// and refuses a path that climbs above the root or hides a dot segment.
func resolveDots(segs []string) (out []string, dots bool, refused string) {
	out = make([]string, 0, len(segs))
	for i, s := range segs {
		if s != "." && s != ".." {
			if hiddenDots(s) {
				return nil, false, RefusedPathEncoded
			}
			out = append(out, s)
			continue
		}
		dots = true
		if s == ".." {
			if len(out) == 0 {
				return nil, false, RefusedPathEscapes
			}
			out = out[:len(out)-1]
		}
		if i == len(segs)-1 {
			out = append(out, "") // "/a/.." is "/", "/a/b/." is "/a/b/"
		}
	}
	return out, dots, ""
}

// hiddenDots reports whether a raw path segment that is not itself "." or
// ".." becomes one (or holds one between separators) once decoded or once
// a backslash is read as a separator, as some servers do.
func hiddenDots(seg string) bool {
	if strings.IndexByte(seg, '%') < 0 && strings.IndexByte(seg, '\\') < 0 {
		return false
	}
	dec, err := url.PathUnescape(seg)
	if err != nil {
		return true // the upstream cannot read it either
	}
	for _, part := range strings.FieldsFunc(dec, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == "." || part == ".." {
			return true
		}
	}
	return dec == "." || dec == ".."
}
