package upstream

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzNormalisePath: a request path comes from whoever reaches the proxy.
// A path it lets through starts with "/", holds no "." or ".." segment
// (in its raw form or decoded), and its raw and decoded forms agree.
func FuzzNormalisePath(f *testing.F) {
	for _, s := range []string{"/a/b", "/podium/../admin", "/../x", "/%2e%2e/x", "/a/..%2fb", `/a/..\b`, "/a/./b/.", "/a%2Fb", "//x/..", "/%zz", "*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil || u.Host != "" || u.Scheme != "" {
			return
		}
		if code, status := normalisePath(u); code != "" {
			if status != 400 && status != 403 {
				t.Fatalf("status %d", status)
			}
			return
		}
		p := u.EscapedPath()
		if p == "" {
			return
		}
		if p[0] != '/' {
			t.Fatalf("passed %q", p)
		}
		for _, seg := range strings.Split(p, "/") {
			dec, err := url.PathUnescape(seg)
			if err != nil {
				t.Fatalf("passed undecodable %q", p)
			}
			for _, part := range strings.FieldsFunc(dec, func(r rune) bool { return r == '/' || r == '\\' }) {
				if part == "." || part == ".." {
					t.Fatalf("passed %q (from %q) with a dot segment", p, raw)
				}
			}
		}
		if dec, _ := url.PathUnescape(p); dec != u.Path {
			t.Fatalf("raw %q and path %q disagree", p, u.Path)
		}
	})
}

// FuzzWithQueryToken: the upstream sees exactly one pair named token,
// ours, at the end, and every other pair the agent sent, unchanged.
func FuzzWithQueryToken(f *testing.F) {
	for _, s := range []string{"", "a=1;b=2", "token=x&a=1", "a=1;token=x", "%74oken=x", "&&", "a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		const tok = "eyJ.tok.sig"
		out := withQueryToken(raw, "token", tok)
		if !strings.HasSuffix(out, "token="+url.QueryEscape(tok)) {
			t.Fatalf("%q does not end with our token", out)
		}
		n := 0
		for _, pair := range strings.FieldsFunc(out, func(r rune) bool { return r == '&' || r == ';' }) {
			if pairNamed(pair, "token") {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%q: %d token pairs", out, n)
		}
		for _, pair := range strings.Split(raw, "&") {
			if pair != "" && !strings.ContainsRune(pair, ';') && !pairNamed(pair, "token") && !strings.Contains(out, pair) {
				t.Fatalf("pair %q of %q lost in %q", pair, raw, out)
			}
		}
	})
}

// FuzzAuthError: the WWW-Authenticate header is the upstream's; what the
// event holds of it is at most 64 printable bytes without quotes,
// backslashes, commas or spaces.
func FuzzAuthError(f *testing.F) {
	for _, s := range []string{`Bearer error="invalid_token"`, `Bearer realm="x", error=insufficient_scope`, `Bearer error_description="x error=y"`, `error="` + strings.Repeat("a", 100), "xerror=1, error=2", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		out := authError(h)
		if len(out) > 64 {
			t.Fatalf("%d bytes", len(out))
		}
		for i := 0; i < len(out); i++ {
			if c := out[i]; c < 0x21 || c > 0x7e || strings.IndexByte(`"\,`, c) >= 0 {
				t.Fatalf("byte %#x in %q", c, out)
			}
		}
	})
}

func TestAuthError(t *testing.T) {
	tests := []struct{ in, want string }{
		{in: `Bearer realm="podium", error="invalid_token", error_description="expired"`, want: "invalid_token"},
		{in: `Bearer error=insufficient_scope`, want: "insufficient_scope"},
		{in: `Bearer error_description="error=fake"`, want: ""},
		{in: `Bearer realm="podium"`, want: ""},
		{in: `Bearer xerror="a", error="b"`, want: "b"},
	}
	for _, tt := range tests {
		if got := authError(tt.in); got != tt.want {
			t.Errorf("authError(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalisePath(t *testing.T) {
	tests := []struct {
		name       string
		raw        string
		wantPath   string // EscapedPath after; "" when refused
		wantCode   string
		wantStatus int
	}{
		{name: "plain", raw: "/a/b", wantPath: "/a/b"},
		{name: "parent", raw: "/podium/../admin", wantPath: "/admin"},
		{name: "dot in the middle", raw: "/a/./b", wantPath: "/a/b"},
		{name: "trailing dot keeps the slash", raw: "/a/b/.", wantPath: "/a/b/"},
		{name: "trailing parent keeps the slash", raw: "/a/..", wantPath: "/"},
		{name: "encoded slash kept", raw: "/a%2Fb/./c", wantPath: "/a%2Fb/c"},
		{name: "climbs above the root", raw: "/a/../../x", wantCode: RefusedPathEscapes, wantStatus: 403},
		{name: "encoded dots", raw: "/%2e%2e/x", wantCode: RefusedPathEncoded, wantStatus: 400},
		{name: "dots before an encoded slash", raw: "/a/..%2fb", wantCode: RefusedPathEncoded, wantStatus: 400},
		{name: "backslash", raw: `/a/..\b`, wantCode: RefusedPathEncoded, wantStatus: 400},
		{name: "not absolute", raw: "*", wantCode: RefusedPathForm, wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			code, status := normalisePath(u)
			if code != tt.wantCode || status != tt.wantStatus {
				t.Fatalf("refusal %q %d, want %q %d", code, status, tt.wantCode, tt.wantStatus)
			}
			if code == "" && u.EscapedPath() != tt.wantPath {
				t.Errorf("path %q, want %q", u.EscapedPath(), tt.wantPath)
			}
		})
	}
}
