package userauth

import (
	"testing"
	"time"
)

func TestCacheTTL(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{header: "", want: DefaultKeyTTL},
		{header: "public, max-age=600", want: 10 * time.Minute},
		{header: "max-age=5", want: minKeyTTL},
		{header: "no-store", want: minKeyTTL},
		{header: "public, no-cache, max-age=600", want: minKeyTTL},
		{header: "max-age=999999999999", want: maxKeyTTL},
		{header: "max-age=-3, must-revalidate", want: DefaultKeyTTL},
		{header: `MAX-AGE="120"`, want: 2 * time.Minute},
	} {
		if got := cacheTTL(tc.header); got != tc.want {
			t.Errorf("cacheTTL(%q) = %s, want %s", tc.header, got, tc.want)
		}
	}
}

func FuzzCacheTTL(f *testing.F) {
	f.Add("public, max-age=600")
	f.Add("no-store")
	f.Fuzz(func(t *testing.T, s string) {
		if got := cacheTTL(s); got < minKeyTTL || got > maxKeyTTL {
			t.Fatalf("cacheTTL(%q) = %s, outside the bounds", s, got)
		}
	})
}

func FuzzPeek(f *testing.F) {
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL3giLCJhdWQiOlsiYSJdfQ.sig")
	f.Add("eyJhbGciOiJub25lIn0.eyJhdWQiOiJhIn0.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := peek(s)
		if err == nil && p == nil {
			t.Fatal("nil result without an error")
		}
	})
}

func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"a"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := parseJWKS(b)
		if err == nil && len(keys) == 0 {
			t.Fatal("no keys without an error")
		}
		for _, k := range keys {
			if !k.IsPublic() {
				t.Fatal("a private or symmetric key was accepted")
			}
		}
	})
}
