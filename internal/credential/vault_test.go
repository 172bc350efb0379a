package credential_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"voicetoken/internal/credential"
	"voicetoken/internal/credential/credentialtest"
	"voicetoken/internal/token"
	"voicetoken/internal/vault"
	"voicetoken/internal/vault/vaulttest"
)

const vaultToken = "hvs.credential-test-root"

// newVault starts Vault's KV v2 engine and returns it with a client that
// may read and write.
func newVault(t *testing.T) (*vaulttest.Server, *vault.Client) {
	t.Helper()
	srv := vaulttest.New(t)
	srv.AddToken(vaultToken, true)
	c, err := vault.NewClient(vault.Config{Addr: srv.URL, Token: vaultToken})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func vaultSpec(t *testing.T, s string) credential.Spec {
	t.Helper()
	spec, err := credential.ParseSpec(s)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// TestVaultSource: a vault: source loads the field, picks up a new
// version on its refresh schedule and on Reload, and refuses a bad one
// while keeping the old.
func TestVaultSource(t *testing.T) {
	now := time.Now()
	first, second := tokenExp(t, now, 2*time.Hour), tokenExp(t, now, 3*time.Hour)
	l := newLogs(t)
	l.Secret(first, second, vaultToken)
	srv, c := newVault(t)
	srv.Put(t, "agents/podium", map[string]any{"jwt": first, "note": "x"})

	src := startSource(t, l, credential.Config{
		Spec: vaultSpec(t, "vault:secret/agents/podium#jwt"), Vault: c,
		Refresh: 50 * time.Millisecond, RetryInterval: 50 * time.Millisecond,
	})
	if src.Token() != first || src.Current().Origin() != "vault:secret/agents/podium#jwt" {
		t.Fatalf("first load: %v from %s", src.Current(), src.Current().Origin())
	}
	srv.Put(t, "agents/podium", map[string]any{"jwt": second})
	eventually(t, 5*time.Second, "the refresh to read version 2", func() bool { return src.Token() == second })

	srv.Put(t, "agents/podium", map[string]any{"jwt": "not a jwt"})
	if got, err := src.Reload(context.Background()); !errors.Is(err, token.ErrMalformed) || got.Token() != second {
		t.Fatalf("Reload of a bad version: %v, %v; want ErrMalformed and the old token kept", got, err)
	}
	srv.Put(t, "agents/podium", map[string]any{"other": first})
	if _, err := src.Reload(context.Background()); !errors.Is(err, vault.ErrField) {
		t.Fatalf("Reload without the field: %v, want ErrField", err)
	}
	if src.Token() != second {
		t.Fatal("a refused version replaced the token")
	}
	if ev := l.Events("CREDENTIAL_REJECTED"); len(ev) == 0 {
		t.Error("no CREDENTIAL_REJECTED logged")
	}
}

func TestVaultSourceNeedsAFirstValue(t *testing.T) {
	srv, c := newVault(t)
	srv.Put(t, "podium", map[string]any{"token": "x"})
	ro, err := vault.NewClient(vault.Config{Addr: srv.URL, Token: "hvs.unknown"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		spec   string
		client *vault.Client
		getenv func(string) string
		want   error
	}{
		{name: "no secret", spec: "vault:secret/missing", client: c, want: vault.ErrNotFound},
		{name: "not a JWT", spec: "vault:secret/podium", client: c, want: token.ErrMalformed},
		{name: "denied", spec: "vault:secret/podium", client: ro, want: vault.ErrDenied},
		{name: "no Vault token in the environment", spec: "vault:secret/podium", getenv: func(string) string { return "" }, want: vault.ErrConfig},
	}
	for _, tc := range tests {
		_, err := credential.New(context.Background(), credential.Config{Spec: vaultSpec(t, tc.spec), Vault: tc.client, Getenv: tc.getenv})
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), vaultToken) {
			t.Errorf("%s: the error shows the Vault token", tc.name)
		}
	}
}

func TestRotateVault(t *testing.T) {
	now := time.Now()
	oldTok, newTok := tokenExp(t, now, time.Hour), tokenExp(t, now, 24*time.Hour)
	expired := tokenExp(t, now, -time.Hour)
	ctx := context.Background()
	ref := vault.Ref{Mount: "secret", Path: "podium", Field: "token"}
	opts := func(tok string) credential.RotateOptions { return credential.RotateOptions{Token: tok} }

	t.Run("new version, other fields kept, old version is the backup", func(t *testing.T) {
		srv, c := newVault(t)
		srv.Put(t, "podium", map[string]any{"token": oldTok, "refresh": "kept"})
		res, err := credential.RotateVault(ctx, c, ref, opts(newTok))
		if err != nil {
			t.Fatal(err)
		}
		if res.Version != 2 || res.Old.Token() != oldTok || res.New.Token() != newTok || !strings.Contains(res.Backup, "version 1") || res.Path != "vault:secret/podium#token" {
			t.Errorf("result %+v", res)
		}
		if got := srv.Get(t, "podium", 0); got["token"] != newTok || got["refresh"] != "kept" {
			t.Errorf("secret now holds the new token: %v, refresh %v; want true, kept", got["token"] == newTok, got["refresh"])
		}
		if got := srv.Get(t, "podium", 1); got["token"] != oldTok {
			t.Error("version 1 does not hold the old token")
		}
	})
	t.Run("creates a missing secret", func(t *testing.T) {
		srv, c := newVault(t)
		res, err := credential.RotateVault(ctx, c, ref, opts(newTok))
		if err != nil || res.Version != 1 || res.Old != nil || res.Backup != "" {
			t.Fatalf("%+v, %v", res, err)
		}
		if srv.Get(t, "podium", 0)["token"] != newTok {
			t.Error("not written")
		}
	})
	t.Run("a secret without the field gets it", func(t *testing.T) {
		srv, c := newVault(t)
		srv.Put(t, "podium", map[string]any{"user": "cohost"})
		res, err := credential.RotateVault(ctx, c, ref, opts(newTok))
		if err != nil || res.Version != 2 || res.Old != nil || !errors.Is(res.OldErr, vault.ErrField) {
			t.Fatalf("%+v, %v", res, err)
		}
		if got := srv.Get(t, "podium", 0); got["token"] != newTok || got["user"] != "cohost" {
			t.Errorf("secret now has token %v, user %v", got["token"] == newTok, got["user"])
		}
	})
	t.Run("after a deleted version", func(t *testing.T) {
		srv, c := newVault(t)
		srv.Put(t, "podium", map[string]any{"token": oldTok})
		srv.Delete(t, "podium")
		res, err := credential.RotateVault(ctx, c, ref, opts(newTok))
		if err != nil || res.Version != 2 || res.Backup != "" {
			t.Fatalf("%+v, %v; want version 2 and no backup (version 1 is deleted)", res, err)
		}
	})
	t.Run("unchanged and dry run write nothing", func(t *testing.T) {
		srv, c := newVault(t)
		srv.Put(t, "podium", map[string]any{"token": oldTok})
		if res, err := credential.RotateVault(ctx, c, ref, opts(oldTok)); err != nil || !res.Unchanged {
			t.Errorf("same token: %+v, %v", res, err)
		}
		o := opts(newTok)
		o.DryRun = true
		if res, err := credential.RotateVault(ctx, c, ref, o); err != nil || res.Version != 0 {
			t.Errorf("dry run: %+v, %v", res, err)
		}
		if srv.Get(t, "podium", 0)["token"] != oldTok || srv.Get(t, "podium", 2) != nil {
			t.Error("a version was written")
		}
	})
	t.Run("an invalid token writes nothing", func(t *testing.T) {
		srv, c := newVault(t)
		srv.Put(t, "podium", map[string]any{"token": oldTok})
		before := srv.Requests()
		for _, bad := range []string{expired, "garbage", ""} {
			res, err := credential.RotateVault(ctx, c, ref, opts(bad))
			if err == nil || res.New != nil {
				t.Errorf("%q: %+v, %v", bad, res, err)
			}
		}
		if srv.Requests() != before {
			t.Error("Vault was called for an invalid token")
		}
	})
	t.Run("a concurrent writer wins and nothing is overwritten", func(t *testing.T) {
		srv, c := newVault(t)
		srv.Put(t, "podium", map[string]any{"token": oldTok})
		other := tokenExp(t, now, 5*time.Hour)
		srv.OnWrite(func() { srv.Put(t, "podium", map[string]any{"token": other}) })
		_, err := credential.RotateVault(ctx, c, ref, opts(newTok))
		if !errors.Is(err, vault.ErrChanged) {
			t.Fatalf("%v, want ErrChanged", err)
		}
		if got, _ := srv.Get(t, "podium", 0)["token"].(string); got != other {
			t.Errorf("the other writer's token was overwritten: now %s", token.Fingerprint(got))
		}
	})
}

// TestRotateVaultConcurrent: rotations racing on one secret never lose an
// update unseen. Each either writes its own version, directly after the
// version it read, or is told the secret changed; the secret ends holding
// the token of the highest version.
func TestRotateVaultConcurrent(t *testing.T) {
	now := time.Now()
	srv, c := newVault(t)
	srv.Put(t, "podium", map[string]any{"token": tokenExp(t, now, time.Hour)})
	const writers = 8
	toks := make([]string, writers)
	for i := range toks {
		toks[i] = tokenExp(t, now, time.Duration(i+2)*time.Hour)
	}
	versions, read := make([]int, writers), make([]string, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := credential.RotateVault(context.Background(), c, vault.Ref{Mount: "secret", Path: "podium", Field: "token"}, credential.RotateOptions{Token: toks[i]})
			switch {
			case err == nil:
				versions[i], read[i] = res.Version, res.Old.Token()
			case !errors.Is(err, vault.ErrChanged):
				t.Errorf("writer %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	seen, won, highest := map[int]bool{}, 0, -1
	for i, v := range versions {
		if v == 0 {
			continue
		}
		if seen[v] {
			t.Fatalf("two writers both wrote version %d", v)
		}
		seen[v], won = true, won+1
		// What it replaced is what it read: no other write came between.
		if prev, _ := srv.Get(t, "podium", v-1)["token"].(string); prev != read[i] {
			t.Errorf("writer %d wrote version %d over %s, having read %s", i, v, token.Fingerprint(prev), token.Fingerprint(read[i]))
		}
		if highest < 0 || v > versions[highest] {
			highest = i
		}
	}
	if won == 0 {
		t.Fatal("no writer succeeded")
	}
	t.Logf("%d of %d writers won", won, writers)
	final, _ := srv.Get(t, "podium", 0)["token"].(string)
	if final != toks[highest] || srv.Get(t, "podium", won+2) != nil || srv.Get(t, "podium", won+1) == nil {
		t.Errorf("%d writers won, the secret holds %s, want %s of version %d", won, token.Fingerprint(final), token.Fingerprint(toks[highest]), versions[highest])
	}
}

// TestVaultTokenRenewed: a vault: source renews its own Vault token
// (VAULT_TOKEN) before it expires, so reads go on past the token's first
// TTL; a token that cannot be renewed is said to expire, once.
func TestVaultTokenRenewed(t *testing.T) {
	now := time.Now()
	jwt := tokenExp(t, now, 2*time.Hour)
	const short, fixed = "hvs.credential-test-short", "hvs.credential-test-fixed"
	l := newLogs(t)
	l.Secret(jwt, vaultToken, short, fixed)
	srv, _ := newVault(t)
	srv.Put(t, "podium", map[string]any{"token": jwt})
	srv.AddToken(short, false)
	srv.AddToken(fixed, false)
	srv.SetTokenTTL(short, 2*time.Second, 0, true)
	srv.SetTokenTTL(fixed, 10*time.Minute, 0, false)
	clientWith := func(tok string) *vault.Client {
		c, err := vault.NewClient(vault.Config{Addr: srv.URL, Token: tok})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	src := startSource(t, l, credential.Config{Spec: vaultSpec(t, "vault:secret/podium"), Vault: clientWith(short)})
	// Renewed at 2/3 of its 2s TTL, twice: the second renewal is past
	// the first TTL's end, which only a renewed token reaches.
	eventually(t, 10*time.Second, "two renewals", func() bool { return srv.Renewals() >= 2 })
	if _, err := src.Reload(context.Background()); err != nil {
		t.Fatalf("read after the token's first TTL: %v", err)
	}
	if ev := l.Events("VAULT_TOKEN"); len(ev) != 1 || ev[0]["renewing"] != true || ev[0]["ttl"] != float64(1) && ev[0]["ttl"] != float64(2) {
		t.Errorf("VAULT_TOKEN events %v", ev)
	}
	if n := len(l.Events("VAULT_TOKEN_RENEWED")); n < 2 {
		t.Errorf("%d VAULT_TOKEN_RENEWED events, want 2 or more", n)
	}

	startSource(t, l, credential.Config{Spec: vaultSpec(t, "vault:secret/podium"), Vault: clientWith(fixed)})
	eventually(t, 5*time.Second, "VAULT_TOKEN_EXPIRING", func() bool { return len(l.Events("VAULT_TOKEN_EXPIRING")) == 1 })
	if ev := l.Events("VAULT_TOKEN_EXPIRING")[0]; ev["reason"] != "it is not renewable" || ev["expires_in"].(float64) < 590 {
		t.Errorf("VAULT_TOKEN_EXPIRING %v", ev)
	}
	if ev := l.Events("VAULT_TOKEN_RENEW_FAILED"); len(ev) != 0 {
		t.Errorf("renewal failures: %v", ev)
	}
}

// TestVaultTokenLookupRetried: a Vault that is sealed when the source
// starts is asked again, and the token is renewed once it answers.
func TestVaultTokenLookupRetried(t *testing.T) {
	jwt := tokenExp(t, time.Now(), 2*time.Hour)
	const tok = "hvs.credential-test-retried"
	l := newLogs(t)
	l.Secret(jwt, vaultToken, tok)
	srv, _ := newVault(t)
	srv.Put(t, "podium", map[string]any{"token": jwt})
	srv.AddToken(tok, false)
	srv.SetTokenTTL(tok, 2*time.Second, 0, true)
	c, err := vault.NewClient(vault.Config{Addr: srv.URL, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	srv.FailTokenRequests(2)
	// The test is the clock: each Poll is one wait of the renewal ended,
	// and returns once the work after it is done.
	tick := credentialtest.NewTicker()
	startSource(t, l, credential.Config{Spec: vaultSpec(t, "vault:secret/podium"), Vault: c, RenewTicker: tick})
	for i, what := range []string{"the second lookup (sealed)", "the third lookup", "the first renewal"} {
		if !tick.Poll(t.Context()) {
			t.Fatalf("poll %d: %s did not happen", i+1, what)
		}
	}
	if n := srv.Renewals(); n != 1 {
		t.Errorf("%d renewals after the seal, want 1", n)
	}
	if n := len(l.Events("VAULT_TOKEN_RENEW_FAILED")); n != 2 {
		t.Errorf("%d VAULT_TOKEN_RENEW_FAILED events, want 2 (the sealed lookups)", n)
	}
	if ev := l.Events("VAULT_TOKEN"); len(ev) != 1 || ev[0]["renewing"] != true {
		t.Errorf("VAULT_TOKEN events %v", ev)
	}
}
