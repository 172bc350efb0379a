// Package web holds the voice agent page that `voicetoken serve` serves at
// "/": index.html, style.css, app.js (the page's code bundled with the
// livekit-client version pinned in package-lock.json) and favicon.svg.
//
// The bundle is built by build.sh from src/ and committed under dist/, so a
// Go build needs no Node.js; scripts/check-bundle.sh fails CI when dist/ is
// not what a fresh build of src/ produces. The page loads no inline script
// or style, so it runs under `Content-Security-Policy: script-src 'self'`.
package web

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// Assets returns the built page with index.html at its root.
func Assets() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		// fs.Sub fails only on an invalid path; "dist" is a constant.
		panic(err)
	}
	return sub
}
