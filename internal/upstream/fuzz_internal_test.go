package upstream

import (
	"strings"
	"testing"
)

// FuzzRedactReason: a WebSocket close reason comes from the upstream and
// may hold the refused token. Whatever it holds, the logged form has no
// run of 20 or more token characters, no control character, at most 123
// bytes, and never the token itself.
func FuzzRedactReason(f *testing.F) {
	for _, s := range []string{"invalid token", "token eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.abcdefghijklmnopqrstuvwxyz rejected",
		"\x1b[31mexpired\x00", strings.Repeat("a", 200), "ok"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reason string) {
		out := redactReason(reason, nil)
		if len(out) > 123 {
			t.Fatalf("%d bytes", len(out))
		}
		run := 0
		for i := 0; i < len(out); i++ {
			c := out[i]
			if c < 0x20 || c == 0x7f {
				t.Fatalf("control byte %#x in %q", c, out)
			}
			if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-_.+/=", c) >= 0 {
				run++
				if run >= 20 && !strings.HasSuffix(out[:i+1], "[redacted]") {
					t.Fatalf("a run of %d token characters survives: %q", run, out)
				}
			} else {
				run = 0
			}
		}
	})
}

func TestRedactReason(t *testing.T) {
	tests := []struct {
		name, reason, want string
	}{
		{name: "words kept", reason: "invalid token", want: "invalid token"},
		{name: "19 token characters kept", reason: "bad " + strings.Repeat("a", 19) + "!", want: "bad " + strings.Repeat("a", 19) + "!"},
		{name: "20 token characters redacted", reason: "bad " + strings.Repeat("a", 20) + "!", want: "bad [redacted]!"},
		{name: "a run at the end", reason: "expired eyJhbGciOiJIUzI1NiJ9.e30", want: "expired [redacted]"},
		{name: "control characters are spaces", reason: "a\x1bb\x7fc\n", want: "a b c "},
		{name: "at most 123 bytes", reason: strings.Repeat("no ", 50), want: strings.Repeat("no ", 41)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redactReason(tt.reason, nil); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzParseUpstream: the upstream URL parser never panics, and what it
// accepts is http or https with a host and no user info, query or
// fragment (so no token can ride in it).
func FuzzParseUpstream(f *testing.F) {
	for _, s := range []string{"https://podium.example/api", "wss://x", "ws://127.0.0.1:9", "https://u:p@h", "https://h/?token=x", "ftp://h", "https:///x", "//h", "http://[::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := ParseUpstream(raw)
		if err != nil {
			return
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			t.Fatalf("accepted %q as %#v", raw, u)
		}
	})
}
