package check

import (
	"strings"
	"testing"
	"unicode"
)

func FuzzHTTPURL(f *testing.F) {
	for _, s := range []string{"ws://127.0.0.1:7880", "wss://x/", "http://h/p/", "ftp://x", "ws://", "ws://u@h", "%zz", "ws://h/?q#f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := HTTPURL(s)
		if err != nil {
			return
		}
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			t.Fatalf("HTTPURL(%q) = %q: not http(s)", s, u)
		}
		if again, err := HTTPURL(u); err != nil || again != u {
			t.Fatalf("HTTPURL is not idempotent: %q -> %q -> %q, %v", s, u, again, err)
		}
	})
}

// The detail a server's answer turns into is one printable line without
// a token in it, whatever the server sent.
func FuzzBodyMessage(f *testing.F) {
	for _, s := range []string{
		`{"code":"unauthenticated","msg":"permissions denied"}`,
		`{"error":"room not allowed","code":"room_not_allowed"}`,
		"invalid token: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln, error: bad\nsecond line",
		"\xff\xfe", "", `{"msg":"a\u0000b"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got := bodyMessage(body)
		if jwtLike().MatchString(got) {
			t.Fatalf("message keeps a token: %q", got)
		}
		for _, r := range got {
			if r == '\n' || r == '\r' || !unicode.IsPrint(r) {
				t.Fatalf("message has %q: %q", r, got)
			}
		}
		if n := len([]rune(got)); n > maxDetail+3 {
			t.Fatalf("message has %d runes", n)
		}
	})
}
