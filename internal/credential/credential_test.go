package credential_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"voicetoken/internal/credential"
	"voicetoken/internal/token"
)

func TestPolicyCheck(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	good := tokenExp(t, now, 2*time.Hour)
	tests := []struct {
		name    string
		raw     string
		policy  credential.Policy
		wantErr error
		wantMsg string
	}{
		{name: "valid", raw: good},
		{name: "valid with newline", raw: good + "\n"},
		{name: "valid with expected iss and aud", raw: good, policy: credential.Policy{Issuer: "podium", Audience: "outpost"}},
		{name: "empty", raw: " \n", wantErr: credential.ErrEmpty},
		{name: "not a JWT", raw: "hunter2", wantErr: token.ErrMalformed},
		{name: "two parts", raw: "a.b", wantErr: token.ErrMalformed},
		{name: "embedded newline", raw: good[:20] + "\n" + good[20:], wantErr: token.ErrMalformed},
		{name: "space inside", raw: good[:20] + " " + good[20:], wantErr: token.ErrMalformed},
		{name: "a Bearer header", raw: "Bearer " + good, wantErr: token.ErrMalformed, wantMsg: `holds "Bearer <token>"; store the token alone`},
		{name: "byte order mark", raw: "\uFEFF" + good + "\r\n", wantErr: token.ErrMalformed, wantMsg: "byte order mark"},
		{name: "too large", raw: strings.Repeat("a", token.MaxTokenSize+1) + ".b.c", wantErr: token.ErrTooLarge},
		{name: "no exp", raw: mkToken(t, map[string]any{"iss": "podium"}), wantErr: token.ErrMissingExpiry},
		{name: "expired", raw: tokenExp(t, now, -time.Second), wantErr: token.ErrExpired},
		{name: "expires now", raw: tokenExp(t, now, 0), wantErr: token.ErrExpired},
		{name: "too little life", raw: tokenExp(t, now, 5*time.Minute), policy: credential.Policy{MinRemaining: 10 * time.Minute}, wantErr: credential.ErrExpiresSoon},
		{name: "wrong issuer", raw: good, policy: credential.Policy{Issuer: "other"}, wantErr: credential.ErrIssuer},
		{name: "wrong audience", raw: good, policy: credential.Policy{Audience: "other"}, wantErr: credential.ErrAudience},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLogs(t)
			l.Secret(strings.TrimSpace(tt.raw))
			c, err := tt.policy.Check(tt.raw, now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Check error = %v, want %v", err, tt.wantErr)
			}
			l.NoSecret(err)
			if err != nil {
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("Check error = %v, want it to say %q", err, tt.wantMsg)
				}
				return
			}
			if c.Token() != strings.TrimSpace(tt.raw) {
				t.Errorf("Token() is not the trimmed input")
			}
			if got := c.ExpiresIn(now); got != 2*time.Hour {
				t.Errorf("ExpiresIn = %s, want 2h", got)
			}
		})
	}
}

func TestCredentialNeverPrintsToken(t *testing.T) {
	now := time.Now()
	raw := tokenExp(t, now, time.Hour)
	c, err := credential.Policy{}.Check(raw, now)
	if err != nil {
		t.Fatal(err)
	}
	l := newLogs(t)
	l.Secret(raw)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		l.Write([]byte(fmt.Sprintf(verb, c) + "\n"))
	}
	l.Logger().Info("loaded", "cred", c)
	if !strings.Contains(c.String(), token.Fingerprint(raw)) {
		t.Errorf("String() = %q, want the fingerprint", c.String())
	}
}
