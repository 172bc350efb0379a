package check

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"voicetoken/internal/token"
	"voicetoken/internal/vault"
)

// VaultToken checks the Vault token vault: credentials are read with
// (the vault CLI's environment through getenv): how long it has left,
// warning within warn of its end when no renewal can move that end (it
// is not renewable). A root token is a warning too: an agent needs read
// on its secret, nothing more.
func VaultToken(name string, getenv func(string) string, warn time.Duration) Check {
	return Check{Name: name, Run: func(ctx context.Context) Result {
		c, err := vault.FromEnv(getenv)
		if err != nil {
			return Failf("%v", err)
		}
		info, err := c.LookupSelf(ctx)
		switch {
		case errors.Is(err, vault.ErrDenied):
			// An expired token fails the credential rows already; one
			// that reads its secret may still lack the default policy.
			return Warnf("cannot tell when it expires: %v", err)
		case err != nil:
			return Failf("%v", err)
		}
		from, renewer := "VAULT_TOKEN", "voicetoken proxy renews it"
		if !c.OwnsToken() {
			from, renewer = "the token file", "whoever writes the file (Vault Agent) renews it"
		}
		desc := "policies " + strings.Join(info.Policies, ", ") + ", from " + from
		switch {
		case slices.Contains(info.Policies, "root"):
			return Warnf("a root token: give voicetoken one with read on its secret only (%s)", desc)
		case !info.Expires():
			return Okf("never expires; %s", desc)
		case !info.Renewable && warn > 0 && info.TTL < warn:
			return Warnf("EXPIRING: expires in %s and is not renewable, within --warn %s: give a new one before then; %s", token.HumanDuration(info.TTL), token.HumanDuration(warn), desc)
		case !info.Renewable:
			return Okf("expires in %s, not renewable; %s", token.HumanDuration(info.TTL), desc)
		}
		return Okf("expires in %s, renewable: %s; %s", token.HumanDuration(info.TTL), renewer, desc)
	}}
}
