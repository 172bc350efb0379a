package vault_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"voicetoken/internal/vault"
)

// TestTokenLookupAndRenew asks about and renews the client's own token,
// with the lifetimes `vault token create` gives. Lookup answers carry the
// token itself (data.id); nothing returned or said may.
func TestTokenLookupAndRenew(t *testing.T) {
	const (
		hourToken    = "hvs.test-hour-token-value"
		fixedToken   = "hvs.test-not-renewable-value"
		cappedToken  = "hvs.test-capped-token-value"
		expiredToken = "hvs.test-expired-token-value"
	)
	l, srv := newVault(t, hourToken, fixedToken, cappedToken, expiredToken)
	for _, tok := range []string{hourToken, fixedToken, cappedToken, expiredToken} {
		srv.AddToken(tok, false)
	}
	srv.SetTokenTTL(hourToken, time.Hour, 0, true)
	srv.SetTokenTTL(fixedToken, 10*time.Minute, 0, false)
	srv.SetTokenTTL(cappedToken, time.Hour, 90*time.Second, true)
	srv.SetTokenTTL(expiredToken, -time.Second, 0, true)
	ctx := context.Background()

	tests := []struct {
		name      string
		token     string
		lookup    vault.TokenInfo // TTL within 2s below it
		lookupErr error
		renew     time.Duration // the TTL renew grants, within 2s below; 0: no renew expected
		renewErr  error
	}{
		{name: "root (no TTL)", token: rootToken, lookup: vault.TokenInfo{}, renew: 0},
		{name: "1h, renewable", token: hourToken, lookup: vault.TokenInfo{TTL: time.Hour, Renewable: true}, renew: time.Hour},
		{name: "not renewable", token: fixedToken, lookup: vault.TokenInfo{TTL: 10 * time.Minute}, renewErr: vault.ErrResponse},
		{name: "capped by its max TTL", token: cappedToken, lookup: vault.TokenInfo{TTL: 90 * time.Second, Renewable: true}, renew: 90 * time.Second},
		{name: "expired", token: expiredToken, lookupErr: vault.ErrDenied, renewErr: vault.ErrDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := client(t, srv.URL, tt.token)
			if !c.OwnsToken() {
				t.Error("a client given its token does not own it")
			}
			got, err := c.LookupSelf(ctx)
			l.NoSecret(err)
			if !errors.Is(err, tt.lookupErr) || (err == nil) != (tt.lookupErr == nil) {
				t.Fatalf("LookupSelf error %v, want %v", err, tt.lookupErr)
			}
			if err == nil {
				if got.Renewable != tt.lookup.Renewable || got.TTL > tt.lookup.TTL || got.TTL < tt.lookup.TTL-2*time.Second || got.Expires() != tt.lookup.Expires() {
					t.Errorf("LookupSelf = %+v, want %+v", got, tt.lookup)
				}
				if !slices.Equal(got.Policies, []string{"default", "podium"}) {
					t.Errorf("policies %q", got.Policies)
				}
				l.Text("lookup", fmt.Sprintf("%+v", got))
			}
			r, err := c.RenewSelf(ctx)
			l.NoSecret(err)
			if tt.renewErr != nil {
				if !errors.Is(err, tt.renewErr) {
					t.Fatalf("RenewSelf error %v, want %v", err, tt.renewErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("RenewSelf: %v", err)
			}
			if r.TTL > tt.renew || r.TTL < tt.renew-2*time.Second {
				t.Errorf("RenewSelf TTL %v, want %v", r.TTL, tt.renew)
			}
		})
	}
	if n := srv.Renewals(); n != 2 {
		t.Errorf("%d renewals reached Vault, want 2", n)
	}
}

// A client whose token is a file that 'vault login' or Vault Agent keeps
// does not own it: renewing it is the agent's work.
func TestTokenFileIsNotOwned(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, ".vault-token"), []byte(rootToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, srv := newVault(t)
	c, err := vault.FromEnv(func(k string) string {
		return map[string]string{"VAULT_ADDR": srv.URL, "HOME": home}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.OwnsToken() {
		t.Error("a token file's token is owned")
	}
}
