package credential_test

import (
	"strings"
	"testing"
	"time"

	"voicetoken/internal/credential"
)

// FuzzCredentialFile: whatever a secret file holds, Policy.Check (the
// file content parser every Source and rotate use) never panics; what it
// accepts is exactly the trimmed content, JWT alphabet only, unexpired;
// no error message and no String of a credential quotes the content.
func FuzzCredentialFile(f *testing.F) {
	now := time.Unix(1_795_444_049, 0)
	good := "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJwb2RpdW0iLCJleHAiOjE3OTU0NjU2NDl9.c2lnbmF0dXJlLW9mLXRoZS1wbGF0Zm9ybQ"
	for _, s := range []string{good, good + "\n", " \t" + good + "\r\n", "", "\n", good[:40], "Bearer " + good,
		good + "\n" + good, "a.b.c", "eyJhbGciOiJub25lIn0.eyJleHAiOjF9.", strings.Repeat("A", 40000)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		raw := string(data)
		c, err := credential.Policy{}.Check(raw, now)
		trimmed := strings.TrimSpace(raw)
		if err != nil {
			if len(trimmed) >= 16 && strings.Contains(err.Error(), trimmed) {
				t.Fatalf("the error quotes the file's content: %v", err)
			}
			return
		}
		if c.Token() != trimmed {
			t.Fatalf("accepted %q, the file holds %q", c.Token(), trimmed)
		}
		for i := 0; i < len(trimmed); i++ {
			if b := trimmed[i]; !(b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '.') {
				t.Fatalf("accepted a byte outside the JWT alphabet: %q", b)
			}
		}
		if !c.ExpiresAt().After(now) {
			t.Fatalf("accepted a token expiring at %s", c.ExpiresAt())
		}
		if strings.Contains(c.String(), trimmed) {
			t.Fatal("String shows the token")
		}
	})
}
