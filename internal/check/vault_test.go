package check_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"voicetoken/internal/check"
	"voicetoken/internal/logscan"
	"voicetoken/internal/vault/vaulttest"
)

// TestVaultToken checks the Vault token's own life, as lookup-self tells
// it, for the lifetimes `vault token create` gives.
func TestVaultToken(t *testing.T) {
	kv := vaulttest.New(t)
	toks := map[string]string{
		"root": "hvs.check-root", "renewable": "hvs.check-renewable", "fixed": "hvs.check-fixed",
		"fixed-long": "hvs.check-fixed-long", "expired": "hvs.check-expired", "no-ttl": "hvs.check-no-ttl",
	}
	l := logscan.New(t)
	for _, tok := range toks {
		kv.AddToken(tok, false)
		l.Secret(tok)
	}
	kv.SetTokenPolicies(toks["root"], "root")
	kv.SetTokenTTL(toks["renewable"], 768*time.Hour, 0, true)
	kv.SetTokenTTL(toks["fixed"], time.Hour, 0, false)
	kv.SetTokenTTL(toks["fixed-long"], 10*time.Hour, 0, false)
	kv.SetTokenTTL(toks["expired"], -time.Minute, 0, true)
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, ".vault-token"), []byte(toks["renewable"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		env    map[string]string
		status check.Status
		detail []string
	}{
		{name: "renewable, from VAULT_TOKEN", env: map[string]string{"VAULT_TOKEN": toks["renewable"]}, status: check.OK,
			detail: []string{"expires in 31d 23h", "renewable: voicetoken proxy renews it", "policies default, podium, from VAULT_TOKEN"}},
		{name: "renewable, from the token file", env: map[string]string{"HOME": home}, status: check.OK,
			detail: []string{"renewable: whoever writes the file (Vault Agent) renews it", "from the token file"}},
		{name: "not renewable, within --warn", env: map[string]string{"VAULT_TOKEN": toks["fixed"]}, status: check.Warn,
			detail: []string{"EXPIRING: expires in 59m", "not renewable, within --warn 2h: give a new one before then"}},
		{name: "not renewable, beyond --warn", env: map[string]string{"VAULT_TOKEN": toks["fixed-long"]}, status: check.OK,
			detail: []string{"expires in 9h 59m, not renewable"}},
		{name: "no TTL", env: map[string]string{"VAULT_TOKEN": toks["no-ttl"]}, status: check.OK, detail: []string{"never expires"}},
		{name: "root", env: map[string]string{"VAULT_TOKEN": toks["root"]}, status: check.Warn,
			detail: []string{"a root token: give voicetoken one with read on its secret only"}},
		{name: "expired (or without the default policy)", env: map[string]string{"VAULT_TOKEN": toks["expired"]}, status: check.Warn,
			detail: []string{"cannot tell when it expires", "permission denied (it has expired or was revoked, or it lacks Vault's default policy, which allows auth/token/lookup-self)"}},
		{name: "no token", env: map[string]string{"HOME": t.TempDir()}, status: check.Fail, detail: []string{"no Vault token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.env["VAULT_ADDR"] = kv.URL
			r := runOne(t, check.VaultToken("vault token", func(k string) string { return tt.env[k] }, 2*time.Hour))
			l.Text("vault token detail", r.Detail)
			if r.Status != tt.status {
				t.Errorf("status %v, want %v: %s", r.Status, tt.status, r.Detail)
			}
			for _, want := range tt.detail {
				if !strings.Contains(r.Detail, want) {
					t.Errorf("detail %q lacks %q", r.Detail, want)
				}
			}
		})
	}
}
