package check_test

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"voicetoken/internal/check"
	"voicetoken/internal/credential"
	"voicetoken/internal/keys"
	"voicetoken/internal/logscan"
	"voicetoken/internal/page"
	"voicetoken/internal/token"
	"voicetoken/internal/vault/vaulttest"
)

// runOne runs c and scans its detail for every secret the check tests
// use (logscan).
func runOne(t *testing.T, c check.Check) check.Result {
	t.Helper()
	l := logscan.New(t)
	l.Secret(testSecrets...)
	r := (&check.Runner{Now: fixedNow}).Run(context.Background(), []check.Check{c})[0]
	l.Text("check "+r.Name+" detail", r.Detail)
	return r
}

// testSecrets are every API secret the check tests create.
var testSecrets = []string{testSecret, "the-wrong-secret-0123456789abcdef", "other-secret-0123456789abcdef", "else-secret-0123456789abcdef"}

func writeFile(t *testing.T, dir, name, data string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // umask
		t.Fatal(err)
	}
	return p
}

func TestLiveKitToken(t *testing.T) {
	k := testKey(t)
	other, _ := token.NewKey("APIcheck", "another-secret-0123456789abcdef")
	stranger, _ := token.NewKey("APIstranger", "stranger-secret-0123456789abcdef")
	dev, _ := keys.NewSet(keys.Pair{Key: keys.DevKey, Secret: keys.DevSecret})
	valid := mint(t, k, testNow, 24*time.Hour)
	expiring := mint(t, k, testNow.Add(-23*time.Hour), 24*time.Hour)
	expired := mint(t, k, testNow.Add(-27*time.Hour), 24*time.Hour)
	future := mint(t, k, testNow.Add(time.Hour), 24*time.Hour)
	forged := mint(t, other, testNow, 24*time.Hour)
	foreign := mint(t, stranger, testNow, 24*time.Hour)
	misspelt, _ := k.Mint(token.Claims{Identity: "user1", Video: &token.VideoGrant{RoomJoin: true, Room: "test-room", CanPublishSources: []string{"mic"}}}, testNow, 24*time.Hour)
	dir := t.TempDir()
	pageTwo := writeFile(t, dir, "two.html", "<script>\nconst TOKEN = '"+valid+"';\nlet backupToken = \""+expired+"\";\n</script>\n", 0o644)
	noToken := writeFile(t, dir, "none.html", "<html></html>", 0o644)
	tokFile := writeFile(t, dir, "token", valid+"\n", 0o600)
	huge := writeFile(t, dir, "huge", strings.Repeat("a", 1<<20+1), 0o600)

	opts := check.TokenOptions{Keys: k, Warn: 2 * time.Hour, Now: fixedNow}
	tests := []struct {
		name   string
		read   func() ([]page.Match, error)
		opts   check.TokenOptions
		status check.Status
		detail string // substring
	}{
		{name: "valid", read: check.Literal(valid), opts: opts, status: check.OK,
			detail: "VALID: user1 in test-room, expires in 24h (2026-11-24 12:00 UTC); signed by APIcheck"},
		{name: "valid, but LiveKit misreads a source", read: check.Literal(misspelt), opts: opts, status: check.Warn,
			detail: `VALID, but canPublishSources "mic" is not a LiveKit track source: LiveKit allows nothing for it: user1 in test-room, expires in 24h`},
		{name: "expiring within warn", read: check.Literal(expiring), opts: opts, status: check.Warn,
			detail: "EXPIRING: user1 in test-room, expires in 1h (2026-11-23 13:00 UTC), within --warn 2h"},
		{name: "expiring without warn", read: check.Literal(expiring), opts: check.TokenOptions{Keys: k, Now: fixedNow}, status: check.OK},
		{name: "expired", read: check.Literal(expired), opts: opts, status: check.Fail,
			detail: "EXPIRED: user1 in test-room, expired 3h ago (2026-11-23 09:00 UTC)"},
		{name: "not yet valid", read: check.Literal(future), opts: opts, status: check.Fail, detail: "NOT YET VALID"},
		{name: "bad signature", read: check.Literal(forged), opts: opts, status: check.Fail, detail: "BAD SIGNATURE"},
		{name: "unknown key", read: check.Literal(foreign), opts: opts, status: check.Fail, detail: `BAD SIGNATURE: user1 in test-room, no secret known for the token's API key: "APIstranger"`},
		{name: "unknown key, dev fallback", read: check.Literal(foreign), opts: check.TokenOptions{Keys: dev, OnlyKnownKeys: true, Now: fixedNow},
			status: check.OK, detail: `signature not checked (no secret for API key "APIstranger")`},
		{name: "no keys", read: check.Literal(valid), opts: check.TokenOptions{Now: fixedNow}, status: check.OK,
			detail: "signature not checked (no API secret configured)"},
		{name: "malformed", read: check.Literal("not-a-token"), opts: opts, status: check.Fail, detail: "MALFORMED"},
		{name: "file", read: check.TokenFile(tokFile), opts: opts, status: check.OK, detail: "VALID"},
		{name: "missing file", read: check.TokenFile(filepath.Join(dir, "nope")), opts: opts, status: check.Fail, detail: "cannot read the token"},
		{name: "huge file", read: check.TokenFile(huge), opts: opts, status: check.Fail, detail: "input too large"},
		{name: "page reports its worst token", read: check.PageTokens(pageTwo), opts: opts, status: check.Fail, detail: "token 2 of 2 (line 3): EXPIRED"},
		{name: "page without token", read: check.PageTokens(noToken), opts: opts, status: check.Fail, detail: "no hardcoded token found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runOne(t, check.LiveKitToken("token", tt.read, tt.opts))
			if got.Status != tt.status || !strings.Contains(got.Detail, tt.detail) {
				t.Errorf("got %s %q, want %s containing %q", got.Status, got.Detail, tt.status, tt.detail)
			}
		})
	}
}

func TestTokenFileTooLarge(t *testing.T) {
	huge := writeFile(t, t.TempDir(), "huge", strings.Repeat("a", 1<<20+1), 0o600)
	_, err := check.TokenFile(huge)()
	if !errors.Is(err, check.ErrTooLarge) {
		t.Errorf("err = %v, want ErrTooLarge", err)
	}
}

// upstream builds a token as a third-party platform would: RS256 header,
// a signature we cannot check.
func upstream(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","typ":"JWT","kid":"podium-1"}`)) + "." + enc([]byte(claims)) + "." + enc([]byte("not-our-signature"))
}

func TestCredential(t *testing.T) {
	dir := t.TempDir()
	exp := func(d time.Duration) string { return strconv.FormatInt(testNow.Add(d).Unix(), 10) }
	good := upstream(`{"sub":"agent-7","iss":"podium","exp":` + exp(24*time.Hour) + `}`)
	soon := upstream(`{"sub":"agent-7","exp":` + exp(30*time.Minute) + `}`)
	old := upstream(`{"sub":"agent-7","exp":` + exp(-3*time.Hour) + `}`)
	noExp := upstream(`{"sub":"agent-7"}`)
	later := upstream(`{"sub":"agent-7","nbf":` + exp(time.Hour) + `,"exp":` + exp(48*time.Hour) + `}`)
	kv := vaulttest.New(t)
	kv.AddToken("hvs.check-read", false)
	kv.Put(t, "podium", map[string]any{"token": good})
	kv.Put(t, "old", map[string]any{"jwt": old})
	env := map[string]string{"PODIUM_TOKEN": good, "OLD_TOKEN": old, "VAULT_ADDR": kv.URL, "VAULT_TOKEN": "hvs.check-read"}
	getenv := func(k string) string { return env[k] }
	spec := func(kind, ref string) credential.Spec {
		t.Helper()
		s, err := credential.ParseSpec(kind + ":" + ref)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	bare := func(p string) credential.Spec {
		t.Helper()
		s, err := credential.ParseSpec(p)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	script := writeFile(t, dir, "print-token.sh", "#!/bin/sh\nprintf '%s\\n' \"$1\"\n", 0o700)
	tests := []struct {
		name   string
		spec   credential.Spec
		status check.Status
		detail string
	}{
		{name: "file ok", spec: spec("file", writeFile(t, dir, "good", good+"\n", 0o600)), status: check.OK,
			detail: "VALID: expires in 24h (2026-11-24 12:00 UTC), alg RS256, sub agent-7, iss podium, token " + token.Fingerprint(good)},
		{name: "file readable by others", spec: spec("file", writeFile(t, dir, "loose", good, 0o644)), status: check.Warn, detail: "readable by the owner only (chmod 600"},
		// What proxy, run and rotate accept, check accepts (one parser, one reader).
		{name: "bare path", spec: bare(filepath.Join(dir, "good")), status: check.OK, detail: "VALID: expires in 24h"},
		{name: "file://localhost URL", spec: bare("file://localhost" + filepath.Join(dir, "good")), status: check.OK, detail: "VALID: expires in 24h"},
		{name: "exec: command", spec: spec("exec", script+" "+good), status: check.OK, detail: "VALID: expires in 24h"},
		{name: "exec: command fails", spec: spec("exec", script+"-missing"), status: check.Fail, detail: "credential command failed"},
		{name: "a FIFO, refused at once", spec: spec("file", fifo), status: check.Fail, detail: "not a regular file"},
		{name: "expiring", spec: spec("file", writeFile(t, dir, "soon", soon, 0o600)), status: check.Warn, detail: "EXPIRING: expires in 30m"},
		{name: "expired", spec: spec("file", writeFile(t, dir, "old", old, 0o600)), status: check.Fail, detail: "EXPIRED: expired 3h ago"},
		{name: "no exp", spec: spec("file", writeFile(t, dir, "noexp", noExp, 0o600)), status: check.Warn, detail: "no exp claim"},
		{name: "not yet valid", spec: spec("file", writeFile(t, dir, "later", later, 0o600)), status: check.Fail, detail: "NOT YET VALID: valid from 2026-11-23 13:00 UTC"},
		{name: "not a JWT", spec: spec("file", writeFile(t, dir, "opaque", "sk-live-abcdef", 0o600)), status: check.Fail, detail: "not a JWT"},
		{name: "a Bearer header", spec: spec("file", writeFile(t, dir, "bearer", "Bearer "+good+"\n", 0o600)), status: check.Fail, detail: `holds "Bearer <token>"; store the token alone`},
		{name: "a byte order mark", spec: spec("file", writeFile(t, dir, "bom", "\uFEFF"+good+"\r\n", 0o600)), status: check.Fail, detail: "byte order mark"},
		{name: "missing file", spec: spec("file", filepath.Join(dir, "nope")), status: check.Fail, detail: "cannot read the credential"},
		{name: "env ok", spec: spec("env", "PODIUM_TOKEN"), status: check.OK, detail: "VALID"},
		{name: "env expired", spec: spec("env", "OLD_TOKEN"), status: check.Fail, detail: "EXPIRED"},
		{name: "env unset", spec: spec("env", "UNSET"), status: check.Fail, detail: "variable UNSET is unset or empty"},
		{name: "vault ok", spec: spec("vault", "secret/podium#token"), status: check.OK, detail: "VALID: expires in 24h"},
		{name: "vault other field, expired", spec: spec("vault", "secret/old#jwt"), status: check.Fail, detail: "EXPIRED"},
		{name: "vault no such field", spec: spec("vault", "secret/old#token"), status: check.Fail, detail: `has no field "token"; it has fields jwt`},
		{name: "vault no such secret", spec: spec("vault", "secret/nope#token"), status: check.Fail, detail: "no such secret in Vault: secret/nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runOne(t, check.Credential("credential", tt.spec, getenv, 2*time.Hour, fixedNow))
			if got.Status != tt.status || !strings.Contains(got.Detail, tt.detail) {
				t.Errorf("got %s %q, want %s containing %q", got.Status, got.Detail, tt.status, tt.detail)
			}
			for _, raw := range []string{good, soon, old, noExp} {
				if strings.Contains(got.Detail, raw) {
					t.Fatal("detail shows the token")
				}
			}
		})
	}
}

func TestFileMode(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		path   string
		loose  check.Status
		status check.Status
		detail string
	}{
		{name: "private", path: writeFile(t, dir, "keys.yaml", "k: s\n", 0o600), loose: check.Fail, status: check.OK, detail: "has mode 0600"},
		{name: "key file readable by others", path: writeFile(t, dir, "loose.yaml", "k: s\n", 0o644), loose: check.Fail, status: check.Fail, detail: "chmod 600"},
		{name: "env file readable by group", path: writeFile(t, dir, ".env", "A=b\n", 0o640), loose: check.Warn, status: check.Warn, detail: "mode 0640"},
		{name: "missing", path: filepath.Join(dir, "nope"), loose: check.Fail, status: check.Fail, detail: "does not exist"},
		{name: "directory", path: dir, loose: check.Fail, status: check.Fail, detail: "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runOne(t, check.FileMode("key file", tt.path, tt.loose))
			if got.Status != tt.status || !strings.Contains(got.Detail, tt.detail) {
				t.Errorf("got %s %q, want %s containing %q", got.Status, got.Detail, tt.status, tt.detail)
			}
		})
	}
}
