package server

import (
	"fmt"
	"html"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
)

// placeholder is served at "/" when Config.Page is nil: no script at all,
// so it works under the same strict CSP as the real page.
const placeholder = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>voicetoken</title></head>
<body>
<h1>voicetoken</h1>
<p>The token API is running. This build has no voice page embedded.</p>
<pre>curl 'http://HOST/api/token?room=test-room&amp;identity=u1'</pre>
<p><a href="/api/rooms">/api/rooms</a> · <a href="/api/config">/api/config</a> ·
<a href="/healthz">/healthz</a> · <a href="/readyz">/readyz</a> · <a href="/metrics">/metrics</a></p>
</body></html>
`

// contentSecurityPolicy allows scripts, styles and fetches from the page's
// own origin only, plus connections to the LiveKit server in both its
// WebSocket and HTTP forms (livekit-client uses the HTTP form for region
// and validation requests). No inline script, no eval, no framing.
func contentSecurityPolicy(lk *url.URL) string {
	host := lk.Host
	var secure bool
	switch lk.Scheme {
	case "wss", "https":
		secure = true
	}
	ws, web := "ws://", "http://"
	if secure {
		ws, web = "wss://", "https://"
	}
	connect := []string{"'self'", ws + host, web + host}
	// LiveKit Cloud hands out region URLs under the project's domain.
	if h := lk.Hostname(); strings.HasSuffix(h, ".livekit.cloud") {
		connect = append(connect, "wss://*.livekit.cloud", "https://*.livekit.cloud")
	}
	return strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data:",
		"media-src 'self' blob:",
		"worker-src 'self' blob:",
		"connect-src " + strings.Join(connect, " "),
		"object-src 'none'",
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors 'none'",
	}, "; ")
}

// newPageHandler serves page (index.html at its root) or the placeholder,
// with security headers on every response.
func newPageHandler(page fs.FS, csp string) (http.Handler, error) {
	var files http.Handler
	if page != nil {
		if _, err := fs.Stat(page, "index.html"); err != nil {
			return nil, fmt.Errorf("%w: page has no index.html at its root: %w", ErrInvalidConfig, err)
		}
		files = http.FileServerFS(page)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Permissions-Policy", "microphone=(self), camera=(self), geolocation=()")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			writeError(w, errf(http.StatusMethodNotAllowed, CodeMethod, r.Method+" is not allowed here; use GET"))
			return
		}
		if files != nil {
			if r.URL.Path == "/" || r.URL.Path == "/index.html" {
				h.Set("Cache-Control", "no-cache")
			}
			files.ServeHTTP(w, r)
			return
		}
		if r.URL.Path != "/" {
			writeError(w, errf(http.StatusNotFound, CodeNotFound, "not found: "+quoteShort(r.URL.Path)))
			return
		}
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		w.Write([]byte(strings.ReplaceAll(placeholder, "HOST", html.EscapeString(r.Host))))
	}), nil
}
