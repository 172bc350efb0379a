package check

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"time"

	"voicetoken/internal/page"
	"voicetoken/internal/token"
)

// ServeEndpoint checks that GET base+path answers 2xx: /healthz, /readyz.
// A failure carries the server's own message ({"error": ...}).
func ServeEndpoint(name, base, path string, client *http.Client) Check {
	return Check{Name: name, Run: func(ctx context.Context) Result {
		resp, body, err := fetch(ctx, client, http.MethodGet, base+path, "", nil)
		if err != nil {
			return Failf("%s%s: %v", base, path, err)
		}
		if resp.StatusCode/100 != 2 {
			return Failf("GET %s answered %s: %s", path, resp.Status, orStatus(bodyMessage(body), resp))
		}
		return Okf("GET %s answered %s", path, resp.Status)
	}}
}

// ServeToken checks the token API the way the page uses it: GET
// /api/token?room=&identity= must answer JSON with a token that verifies
// with our keys, for the room and identity asked for. An empty identity
// is not sent and any identity the server chooses is accepted, as a
// browser does: a serve listening beyond loopback chooses browsers'
// identities itself and refuses a requested one (identity_not_allowed).
func ServeToken(name, base, room, identity string, client *http.Client, keys token.Keyring, now func() time.Time) Check {
	if now == nil {
		now = time.Now
	}
	return Check{Name: name, Run: func(ctx context.Context) Result {
		if keys == nil {
			return Skipf("no API key to verify the token with")
		}
		raw, err := fetchToken(ctx, client, base, room, identity)
		if err != nil {
			return Failf("%v", err)
		}
		t, err := token.Verify(raw, keys, now())
		switch {
		case errors.Is(err, token.ErrUnknownKey) || errors.Is(err, token.ErrBadSignature):
			return Failf("the token from /api/token does not verify with our keys: %v", err)
		case err != nil:
			return Failf("the token from /api/token is not valid: %v", err)
		}
		if err := servedFor(&t.Claims, room, identity); err != nil {
			return Failf("%v", err)
		}
		return Okf("token for %s, signed by %s, %s", describe(&t.Claims), t.Claims.Issuer, expiresIn(t, now()))
	}}
}

// fetchToken asks the token API at base for a token for room and
// identity (none when ""), as the page does, and returns it.
func fetchToken(ctx context.Context, client *http.Client, base, room, identity string) (string, error) {
	q := url.Values{"room": {room}}
	if identity != "" {
		q.Set("identity", identity)
	}
	resp, body, err := fetch(ctx, client, http.MethodGet, base+"/api/token?"+q.Encode(), "", nil)
	if err != nil {
		return "", fmt.Errorf("%s/api/token: %w", base, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /api/token answered %s: %s", resp.Status, orStatus(bodyMessage(body), resp))
	}
	var out struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Token == "" {
		return "", errors.New(`GET /api/token answered 200 without a JSON {"token": ...}`)
	}
	return out.Token, nil
}

// servedFor checks that a served token is for room and identity (any
// identity when ""), with the roomJoin grant.
func servedFor(c *token.Claims, room, identity string) error {
	id := c.ParticipantIdentity()
	if c.Room() != room || id == "" || identity != "" && id != identity {
		asked := cmp.Or(identity, "an identity of its choosing")
		return fmt.Errorf("/api/token answered a token for %s, asked for %s in %s", describe(c), asked, room)
	}
	if c.Video == nil || !c.Video.RoomJoin {
		return errors.New("the token from /api/token has no roomJoin grant")
	}
	return nil
}

// ServePage checks that GET / serves HTML, and warns when that HTML still
// hardcodes a token (the page should fetch one from /api/token).
func ServePage(name, base string, client *http.Client) Check {
	return Check{Name: name, Run: func(ctx context.Context) Result {
		resp, body, err := fetch(ctx, client, http.MethodGet, base+"/", "", nil)
		if err != nil {
			return Failf("%s/: %v", base, err)
		}
		if resp.StatusCode != http.StatusOK {
			return Failf("GET / answered %s", resp.Status)
		}
		mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if mt != "text/html" {
			return Failf("GET / answered %q, not text/html", mt)
		}
		head := bytes.ToLower(body[:min(len(body), 1024)])
		if !bytes.Contains(head, []byte("<html")) && !bytes.Contains(head, []byte("<!doctype html")) {
			return Failf("GET / answered text/html that does not start like an HTML page")
		}
		if ms, err := page.Find(body); err == nil {
			return Warnf("GET / serves a page with %d hardcoded token(s): it should fetch them from /api/token", len(ms))
		}
		return Okf("GET / serves %s of HTML", sizeString(len(body)))
	}}
}

func sizeString(n int) string {
	if n < 10<<10 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// ServeLiveKitURL checks the LiveKit URL that serve hands to browsers
// (GET /api/config's server_url, the same as /api/token's): that LiveKit
// must answer HTTP (a server_url where nothing listens breaks every join
// while the token API looks healthy), and it should be the LiveKit that
// the other rows checked (checked, in HTTPURL form; "" when none was).
// Unreachable is a failure; reachable but another server than checked, a
// warning: serve's --public-livekit-url may name it on purpose.
func ServeLiveKitURL(name, base, checked string, client *http.Client) Check {
	return Check{Name: name, Run: func(ctx context.Context) Result {
		resp, body, err := fetch(ctx, client, http.MethodGet, base+"/api/config", "", nil)
		if err != nil {
			return Failf("%s/api/config: %v", base, err)
		}
		if resp.StatusCode != http.StatusOK {
			return Failf("GET /api/config answered %s: %s", resp.Status, orStatus(bodyMessage(body), resp))
		}
		var cfg struct {
			ServerURL string `json:"server_url"`
		}
		if err := json.Unmarshal(body, &cfg); err != nil || cfg.ServerURL == "" {
			return Failf("GET /api/config answered 200 without a JSON {\"server_url\": ...}")
		}
		handed, err := HTTPURL(cfg.ServerURL)
		if err != nil {
			return Failf("serve hands browsers server_url %q, which no LiveKit client can use: %v", cfg.ServerURL, err)
		}
		r, _, err := fetch(ctx, client, http.MethodGet, handed+"/", "", nil)
		if err != nil {
			return Failf("serve hands browsers server_url %s, where LiveKit is not reachable: %v; set serve's LIVEKIT_URL (or --public-livekit-url) to the LiveKit browsers should join", cfg.ServerURL, err)
		}
		r.Body.Close()
		switch {
		case checked == "":
			return Okf("serve hands browsers server_url %s, which answers HTTP (%s)", cfg.ServerURL, r.Status)
		case handed != checked:
			return Warnf("serve hands browsers server_url %s, not the LiveKit checked here (%s): if browsers reach LiveKit at another address, pass that one as --livekit-url", cfg.ServerURL, checked)
		}
		return Okf("serve hands browsers server_url %s, the LiveKit checked here", cfg.ServerURL)
	}}
}
