package token_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"voicetoken/internal/token"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func testKey(t testing.TB) *token.Key {
	t.Helper()
	k, err := token.NewKey("devkey", "secret")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func seg(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestParseRejects(t *testing.T) {
	good := testKey(t)
	raw, _ := good.Mint(token.Claims{Subject: "u", Video: &token.VideoGrant{RoomJoin: true, Room: "r"}}, t0, time.Hour)
	parts := strings.Split(raw, ".")
	hdr := seg(`{"alg":"HS256","typ":"JWT"}`)
	tests := []struct {
		name string
		raw  string
		want error
	}{
		{name: "empty", raw: "", want: token.ErrMalformed},
		{name: "one segment", raw: "abc", want: token.ErrMalformed},
		{name: "two segments", raw: parts[0] + "." + parts[1], want: token.ErrMalformed},
		{name: "four segments", raw: raw + ".x", want: token.ErrMalformed},
		{name: "bad base64 payload", raw: parts[0] + ".!!!." + parts[2], want: token.ErrMalformed},
		{name: "padded base64 payload", raw: parts[0] + "." + parts[1] + "==." + parts[2], want: token.ErrMalformed},
		{name: "payload not JSON", raw: parts[0] + "." + seg("hello") + "." + parts[2], want: token.ErrMalformed},
		{name: "payload JSON array", raw: parts[0] + "." + seg("[1]") + "." + parts[2], want: token.ErrMalformed},
		{name: "payload trailing data", raw: parts[0] + "." + seg(`{"sub":"u"}x`) + "." + parts[2], want: token.ErrMalformed},
		{name: "duplicate exp", raw: hdr + "." + seg(`{"exp":1,"exp":99999999999}`) + "." + parts[2], want: token.ErrMalformed},
		{name: "exp as string", raw: hdr + "." + seg(`{"exp":"1790000000"}`) + "." + parts[2], want: token.ErrMalformed},
		{name: "exp huge", raw: hdr + "." + seg(`{"exp":1e300}`) + "." + parts[2], want: token.ErrMalformed},
		{name: "exp overflow int", raw: hdr + "." + seg(`{"exp":99999999999999999999999}`) + "." + parts[2], want: token.ErrMalformed},
		{name: "grant not bool", raw: hdr + "." + seg(`{"video":{"roomJoin":"yes"}}`) + "." + parts[2], want: token.ErrMalformed},
		{name: "nested bomb", raw: hdr + "." + seg(`{"x":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`}`) + "." + parts[2], want: token.ErrMalformed},
		{name: "control char in string", raw: hdr + "." + seg("{\"sub\":\"a\x01b\"}") + "." + parts[2], want: token.ErrMalformed},
		{name: "alg none", raw: seg(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + ".", want: token.ErrAlgorithm},
		{name: "alg None", raw: seg(`{"alg":"None"}`) + "." + parts[1] + "." + parts[2], want: token.ErrAlgorithm},
		{name: "alg RS256", raw: seg(`{"alg":"RS256","typ":"JWT"}`) + "." + parts[1] + "." + parts[2], want: token.ErrAlgorithm},
		{name: "no alg", raw: seg(`{"typ":"JWT"}`) + "." + parts[1] + "." + parts[2], want: token.ErrAlgorithm},
		{name: "crit header", raw: seg(`{"alg":"HS256","crit":["exp"]}`) + "." + parts[1] + "." + parts[2], want: token.ErrMalformed},
		{name: "empty signature", raw: parts[0] + "." + parts[1] + ".", want: token.ErrMalformed},
		{name: "short signature", raw: parts[0] + "." + parts[1] + "." + parts[2][:20], want: token.ErrMalformed},
		{name: "too large", raw: parts[0] + "." + strings.Repeat("A", token.MaxTokenSize) + "." + parts[2], want: token.ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := token.Parse(tc.raw)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret") && tc.want != token.ErrBadSignature {
				t.Errorf("error mentions the secret: %v", err)
			}
		})
	}
}

func TestParseKeepsUnknownClaims(t *testing.T) {
	k := testKey(t)
	payload := `{"iss":"devkey","sub":"u","exp":1795000000,"podium":{"outpost":"o-1","role":["host"]},"aud":["a","b"],"video":{"roomJoin":true,"room":"r","futureGrant":true}}`
	raw := k.Sign(mustClaims(t, payload))
	tok, err := token.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(tok.Claims.Extra["podium"]); got != `{"outpost":"o-1","role":["host"]}` {
		t.Errorf("unknown claim podium = %s", got)
	}
	if got := tok.Claims.Audience; len(got) != 2 || got[1] != "b" {
		t.Errorf("aud = %v", got)
	}
	out, _ := tok.Claims.MarshalJSON()
	if !strings.Contains(string(out), `"podium":{"outpost":"o-1","role":["host"]}`) {
		t.Errorf("re-encoded claims lost the unknown claim: %s", out)
	}
}

func mustClaims(t *testing.T, js string) *token.Claims {
	t.Helper()
	var c token.Claims
	if err := c.UnmarshalJSON([]byte(js)); err != nil {
		t.Fatal(err)
	}
	return &c
}

func TestCheckVerdicts(t *testing.T) {
	k := testKey(t)
	other, _ := token.NewKey("devkey", "another-secret")
	join := token.Claims{Subject: "u", Video: &token.VideoGrant{RoomJoin: true, Room: "r"}}
	mint := func(key *token.Key, at time.Time, ttl time.Duration) string {
		raw, err := key.Mint(join, at, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	tests := []struct {
		name    string
		raw     string
		keys    token.Keyring
		warn    time.Duration
		want    token.Verdict
		wantErr error
	}{
		{name: "valid", raw: mint(k, t0, time.Hour), keys: k, want: token.Valid},
		{name: "valid unchecked", raw: mint(k, t0, time.Hour), keys: nil, want: token.Valid},
		{name: "expiring within warn", raw: mint(k, t0, time.Hour), keys: k, warn: 2 * time.Hour, want: token.Expiring},
		{name: "expired", raw: mint(k, t0.Add(-3*time.Hour), time.Hour), keys: k, want: token.Expired, wantErr: token.ErrExpired},
		{name: "not yet valid", raw: mint(k, t0.Add(time.Hour), time.Hour), keys: k, want: token.NotYetValid, wantErr: token.ErrNotYetValid},
		{name: "bad signature", raw: mint(other, t0, time.Hour), keys: k, want: token.BadSignature, wantErr: token.ErrBadSignature},
		{name: "bad signature wins over expired", raw: mint(other, t0.Add(-3*time.Hour), time.Hour), keys: k, want: token.BadSignature, wantErr: token.ErrBadSignature},
		{name: "malformed", raw: "not.a.token", keys: k, want: token.Malformed, wantErr: token.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := token.Check(tc.raw, tc.keys, t0, tc.warn)
			if rep.Verdict != tc.want {
				t.Fatalf("verdict %s (%v), want %s", rep.Verdict, rep.Err, tc.want)
			}
			if tc.wantErr != nil && !errors.Is(rep.Err, tc.wantErr) {
				t.Errorf("err %v, want %v", rep.Err, tc.wantErr)
			}
			if rep.SignatureChecked != (tc.keys != nil && tc.want != token.Malformed) {
				t.Errorf("SignatureChecked = %v", rep.SignatureChecked)
			}
		})
	}
}

func TestMintRules(t *testing.T) {
	k := testKey(t)
	tests := []struct {
		name   string
		claims token.Claims
		ttl    time.Duration
		want   error
	}{
		{name: "join without identity", claims: token.Claims{Video: &token.VideoGrant{RoomJoin: true, Room: "r"}}, ttl: time.Hour, want: token.ErrMissingIdentity},
		{name: "zero ttl", claims: token.Claims{Subject: "u"}, ttl: 0, want: token.ErrInvalidTTL},
		{name: "negative ttl", claims: token.Claims{Subject: "u"}, ttl: -time.Second, want: token.ErrInvalidTTL},
		{name: "identity only in identity claim", claims: token.Claims{Identity: "u", Video: &token.VideoGrant{RoomJoin: true, Room: "r"}}, ttl: time.Hour},
		{name: "list rooms needs no identity", claims: token.Claims{Video: &token.VideoGrant{RoomList: true}}, ttl: time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := k.Mint(tc.claims, t0, tc.ttl)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err != nil {
				return
			}
			tok, err := token.Verify(raw, k, t0)
			if err != nil {
				t.Fatal(err)
			}
			c := tok.Claims
			if c.Issuer != "devkey" || c.IssuedAt != t0.Unix() || c.NotBefore != t0.Unix() || c.ExpiresAt != t0.Add(tc.ttl).Unix() {
				t.Errorf("registered claims %+v", c)
			}
			if c.Subject != c.Identity {
				t.Errorf("sub %q identity %q", c.Subject, c.Identity)
			}
		})
	}
	if _, err := token.NewKey("", "s"); !errors.Is(err, token.ErrMissingKey) {
		t.Errorf("NewKey without key: %v", err)
	}
}

func TestMintDoesNotChangeTemplate(t *testing.T) {
	k := testKey(t)
	tmpl := token.Claims{Identity: "u", Video: &token.VideoGrant{RoomJoin: true, Room: "r"}}
	if _, err := k.Mint(tmpl, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	if tmpl.Subject != "" || tmpl.Issuer != "" || tmpl.ExpiresAt != 0 {
		t.Errorf("Mint changed its argument: %+v", tmpl)
	}
}

func TestKeyNeverShowsSecret(t *testing.T) {
	k, _ := token.NewKey("APIkey", "super-secret-value")
	for _, s := range []string{k.String(), fmt.Sprintf("%v %+v %#v %s", k, k, k, k)} {
		if strings.Contains(s, "super-secret-value") {
			t.Fatalf("secret shown: %s", s)
		}
	}
	if got, want := k.SecretFingerprint(), token.Fingerprint("super-secret-value"); got != want || len(got) != 8 {
		t.Errorf("fingerprint %q, want %q (8 hex)", got, want)
	}
}

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{in: 23*time.Hour + 59*time.Minute + 30*time.Second, want: "23h 59m"},
		{in: -(3*time.Hour + 12*time.Minute), want: "3h 12m"},
		{in: 4*time.Minute + 10*time.Second, want: "4m 10s"},
		{in: 45 * time.Second, want: "45s"},
		{in: 0, want: "0s"},
		{in: 80 * time.Hour, want: "3d 8h"},
		// A zero second unit is left out.
		{in: 24 * time.Hour, want: "24h"},
		{in: 7 * 24 * time.Hour, want: "7d"},
		{in: 5*time.Minute + 400*time.Millisecond, want: "5m"},
		{in: 2*time.Hour + 30*time.Second, want: "2h"},
		{in: 72*time.Hour + 59*time.Minute, want: "3d"},
	}
	for _, tc := range tests {
		if got := token.HumanDuration(tc.in); got != tc.want {
			t.Errorf("HumanDuration(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseTTL(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  error
	}{
		{in: "48", want: 48 * time.Hour},
		{in: "0.5", want: 30 * time.Minute},
		{in: "10m", want: 10 * time.Minute},
		{in: "6h", want: 6 * time.Hour},
		{in: "", err: token.ErrInvalidTTL},
		{in: "0", err: token.ErrInvalidTTL},
		{in: "-1", err: token.ErrInvalidTTL},
		{in: "-5m", err: token.ErrInvalidTTL},
		{in: "NaN", err: token.ErrInvalidTTL},
		{in: "1e308", err: token.ErrInvalidTTL},
		{in: "soon", err: token.ErrInvalidTTL},
		{in: "500ms", err: token.ErrInvalidTTL},
		{in: ".00001", err: token.ErrInvalidTTL}, // 0.036s: found by FuzzParseTTL
		{in: "0.0001", err: token.ErrInvalidTTL}, // 0.36s rounds to none
		{in: "0.0003", want: time.Second},        // 1.08s rounds to 1s
	}
	for _, tc := range tests {
		got, err := token.ParseTTL(tc.in)
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Errorf("ParseTTL(%q) = %s, %v; want %s, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestParseTTLMessages: each refusal says what is wrong with the value.
func TestParseTTLMessages(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "invalid ttl: empty; want hours (48) or a duration (10m, 6h)"},
		{"0", `invalid ttl: "0" hours; it must be positive`},
		{"-5m", `invalid ttl: "-5m"; it must be positive`},
		{"NaN", `invalid ttl: "NaN" is not a number of hours`},
		{"876001", `invalid ttl: "876001" hours is more than a century`},
		{"877000h", `invalid ttl: "877000h" is more than a century`},
		{"1e400", `invalid ttl: "1e400" hours is more than a century`},
		{"-1e400", `invalid ttl: "-1e400" hours; it must be positive`},
		{".00001", `invalid ttl: ".00001" hours is less than a second`},
		{"500ms", `invalid ttl: "500ms" is less than a second`},
		{"soon", `invalid ttl: "soon" is neither a duration (10m, 6h) nor a number of hours`},
	}
	for _, tc := range tests {
		if _, err := token.ParseTTL(tc.in); err == nil || err.Error() != tc.want {
			t.Errorf("ParseTTL(%q): %v\nwant %s", tc.in, err, tc.want)
		}
	}
}

func TestDecodeAnyAlgorithm(t *testing.T) {
	raw := seg(`{"alg":"RS256","kid":"k1"}`) + "." + seg(`{"sub":"agent","exp":1795000000,"aud":"podium"}`) + ".c2ln"
	tok, err := token.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Header.Alg != "RS256" || tok.Header.Kid != "k1" || tok.Claims.Audience[0] != "podium" {
		t.Errorf("decoded %+v %+v", tok.Header, tok.Claims)
	}
	if _, err := token.Parse(raw); !errors.Is(err, token.ErrAlgorithm) {
		t.Errorf("Parse accepted RS256: %v", err)
	}
}

func TestEscapedStringsRoundTrip(t *testing.T) {
	k := testKey(t)
	names := []string{"plain", "quote\" back\\slash", "tab\tnew\nline", "<script>&amp;", "\u2028\u2029", "emoji 😀", "nul\x00byte", "bad\xffutf8"}
	for _, name := range names {
		raw, err := k.Mint(token.Claims{Subject: "u", Name: name}, t0, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := token.Verify(raw, k, t0)
		if err != nil {
			t.Fatal(err)
		}
		want := strings.ToValidUTF8(name, "\ufffd")
		if tok.Claims.Name != want {
			t.Errorf("name %q came back as %q", want, tok.Claims.Name)
		}
		// Attribute keys come from callers too: escaped like values.
		raw, err = k.Mint(token.Claims{Subject: "u", Attributes: map[string]string{name: name}}, t0, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if tok, err = token.Verify(raw, k, t0); err != nil {
			t.Fatalf("attribute %q: %v", name, err)
		}
		if v, ok := tok.Claims.Attributes[want]; !ok || v != want || len(tok.Claims.Attributes) != 1 {
			t.Errorf("attribute %q came back as %q", want, tok.Claims.Attributes)
		}
	}
}
