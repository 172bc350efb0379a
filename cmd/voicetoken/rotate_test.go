package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"voicetoken/internal/logscan"
	"voicetoken/internal/testkit"
	"voicetoken/internal/token"
	"voicetoken/internal/vault/vaulttest"
)

// upstreamToken returns a stand-in upstream token with the given jti,
// expiring ttl after testNow.
func upstreamToken(t *testing.T, ttl time.Duration, jti string) string {
	t.Helper()
	return testkit.Token(t, map[string]any{"iss": "podium", "sub": "cohost", "exp": testNow.Add(ttl).Unix(), "jti": jti})
}

// expect checks a command's exit code, that stdout holds every string in
// stdout and stderr holds stderr, and that neither shows a secret.
func (r result) expect(t *testing.T, code int, stdout []string, stderr string, secrets ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range secrets {
		if strings.Contains(r.stdout+r.stderr, s) {
			t.Fatal("output shows a token")
		}
	}
	for _, want := range stdout {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout %q lacks %q", r.stdout, want)
		}
	}
	if !strings.Contains(r.stderr, stderr) {
		t.Errorf("stderr %q lacks %q", r.stderr, stderr)
	}
}

func TestRotateCommand(t *testing.T) {
	oldTok := upstreamToken(t, time.Hour, "old")
	newTok := upstreamToken(t, 24*time.Hour, "new")
	expired := upstreamToken(t, -time.Hour, "expired")
	tests := []struct {
		name      string
		args      func(dir string) []string
		env       func(dir string) map[string]string
		stdin     string
		code      int
		stdout    []string // substrings
		stderr    string
		wantToken string // file content after; "" = the old token
		wantBak   bool
		wantHook  bool
	}{
		{name: "rotate from stdin", args: func(d string) []string { return []string{"--to", "file:" + filepath.Join(d, "podium_token")} },
			stdin: newTok + "\n", stdout: []string{"rotated", "old  " + token.Fingerprint(oldTok), "new  " + token.Fingerprint(newTok), "expires 2026-11-24T12:00:00Z (in 24h", "backup"},
			stderr: `"event":"CREDENTIAL_ROTATED"`, wantToken: newTok, wantBak: true},
		{name: "PODIUM_TOKEN_FILE is the default target", args: func(string) []string { return nil },
			env: func(d string) map[string]string {
				return map[string]string{"PODIUM_TOKEN_FILE": filepath.Join(d, "podium_token")}
			},
			stdin: newTok, stdout: []string{"rotated"}, wantToken: newTok, wantBak: true},
		{name: "dry run", args: func(d string) []string {
			return []string{"--to", "file:" + filepath.Join(d, "podium_token"), "--dry-run"}
		},
			stdin: newTok, stdout: []string{"dry run: would rotate", token.Fingerprint(newTok)}},
		{name: "no backups", args: func(d string) []string { return []string{"--to", filepath.Join(d, "podium_token"), "--backups", "0"} },
			stdin: newTok, stdout: []string{"rotated"}, wantToken: newTok},
		{name: "token as an argument is refused", args: func(d string) []string { return []string{"--to", "file:" + filepath.Join(d, "podium_token"), newTok} },
			code: 3, stderr: "never from arguments"},
		{name: "expired token", args: func(d string) []string { return []string{"--to", "file:" + filepath.Join(d, "podium_token")} },
			stdin: expired, code: 2, stderr: "expired"},
		{name: "garbage", args: func(d string) []string { return []string{"--to", "file:" + filepath.Join(d, "podium_token")} },
			stdin: "hello world", code: 2, stderr: "malformed"},
		{name: "wrong issuer", args: func(d string) []string {
			return []string{"--to", "file:" + filepath.Join(d, "podium_token"), "--iss", "other"}
		},
			stdin: newTok, code: 2, stderr: "issuer"},
		{name: "env target", args: func(string) []string { return []string{"--to", "env:PODIUM_TOKEN"} }, stdin: newTok, code: 3, stderr: "not a file"},
		{name: "no target", args: func(string) []string { return nil }, stdin: newTok, code: 3, stderr: "--to"},
		{name: "dotenv refused", args: func(d string) []string { return []string{"--to", "file:" + filepath.Join(d, ".env.local")} },
			stdin: newTok, code: 2, stderr: "dotenv"},
		{name: "exec hook gets fingerprints, not the token", args: func(d string) []string {
			return []string{"--to", "file:" + filepath.Join(d, "podium_token"), "--exec", `sh -c 'echo "$VOICETOKEN_OLD_FINGERPRINT $VOICETOKEN_NEW_FINGERPRINT" > "$0"' ` + filepath.Join(d, "hook.out")}
		}, stdin: newTok, stdout: []string{"rotated"}, wantToken: newTok, wantBak: true, wantHook: true},
		{name: "failing exec hook", args: func(d string) []string {
			return []string{"--to", "file:" + filepath.Join(d, "podium_token"), "--exec", "false"}
		},
			stdin: newTok, code: 1, stderr: "--exec failed", wantToken: newTok, wantBak: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "podium_token")
			if err := os.WriteFile(p, []byte(oldTok+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			var environ map[string]string
			if tt.env != nil {
				environ = tt.env(dir)
			}
			r := runCLI(t, environ, tt.stdin, append([]string{"rotate"}, tt.args(dir)...)...)
			r.expect(t, tt.code, tt.stdout, tt.stderr, oldTok, newTok, expired)
			want := tt.wantToken
			if want == "" {
				want = oldTok
			}
			got, _ := os.ReadFile(p)
			if strings.TrimSpace(string(got)) != want {
				t.Errorf("file holds the wrong token")
			}
			_, err := os.Stat(p + ".bak")
			if (err == nil) != tt.wantBak {
				t.Errorf("backup exists = %v, want %v", err == nil, tt.wantBak)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "hook.out")); (err == nil) != tt.wantHook {
				t.Errorf("hook ran = %v, want %v", err == nil, tt.wantHook)
			} else if err == nil {
				if strings.TrimSpace(string(b)) != token.Fingerprint(oldTok)+" "+token.Fingerprint(newTok) {
					t.Errorf("hook saw %q", b)
				}
			}
		})
	}
}

// TestRotateVaultCommand rotates into Vault's own KV v2 engine.
func TestRotateVaultCommand(t *testing.T) {
	oldTok := upstreamToken(t, time.Hour, "old")
	newTok := upstreamToken(t, 24*time.Hour, "new")
	const writer, reader = "hvs.rotate-writer", "hvs.rotate-reader"
	tests := []struct {
		name      string
		vaultTok  string
		args      []string
		stdin     string
		code      int
		stdout    []string
		stderr    string
		wantToken string // the secret's token after; "" = the old one
		wantHook  string
	}{
		{name: "new version", vaultTok: writer, args: []string{"--to", "vault:secret/podium#token"}, stdin: newTok,
			stdout: []string{"rotated vault:secret/podium#token (version 2)", "old  " + token.Fingerprint(oldTok), "new  " + token.Fingerprint(newTok),
				"backup version 1, kept by Vault (vault kv rollback -mount=secret -version=1 podium)"},
			stderr: `"version":2`, wantToken: newTok},
		{name: "dry run", vaultTok: writer, args: []string{"--to", "vault:secret/podium", "--dry-run"}, stdin: newTok,
			stdout: []string{"dry run: would rotate vault:secret/podium#token"}},
		{name: "exec hook gets the source", vaultTok: writer, wantToken: newTok,
			args:  []string{"--to", "vault:secret/podium#token", "--exec", `sh -c 'echo "$VOICETOKEN_TOKEN_SOURCE $VOICETOKEN_TOKEN_FILE." > "$0"' HOOK`},
			stdin: newTok, stdout: []string{"rotated"}, wantHook: "vault:secret/podium#token ."},
		{name: "read-only Vault token", vaultTok: reader, args: []string{"--to", "vault:secret/podium#token"}, stdin: newTok,
			code: 1, stderr: "needs create and update on secret/data/podium"},
		{name: "no Vault token", args: []string{"--to", "vault:secret/podium#token"}, stdin: newTok,
			code: 3, stderr: "set VAULT_TOKEN, or run 'vault login'"},
		{name: "an invalid token is not written", vaultTok: writer, args: []string{"--to", "vault:secret/podium#token"}, stdin: "garbage",
			code: 2, stderr: "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := vaulttest.New(t)
			kv.AddToken(writer, true)
			kv.AddToken(reader, false)
			kv.Put(t, "podium", map[string]any{"token": oldTok})
			hook := filepath.Join(t.TempDir(), "hook.out")
			args := []string{"rotate"}
			for _, a := range tt.args {
				args = append(args, strings.ReplaceAll(a, "HOOK", hook))
			}
			r := runCLI(t, map[string]string{"VAULT_ADDR": kv.URL, "VAULT_TOKEN": tt.vaultTok, "HOME": t.TempDir()}, tt.stdin, args...)
			r.expect(t, tt.code, tt.stdout, tt.stderr, oldTok, newTok, writer, reader)
			want := tt.wantToken
			if want == "" {
				want = oldTok
			}
			if got, _ := kv.Get(t, "podium", 0)["token"].(string); got != want {
				t.Errorf("the secret holds %s, want %s", token.Fingerprint(got), token.Fingerprint(want))
			}
			if b, err := os.ReadFile(hook); (err == nil) != (tt.wantHook != "") || (err == nil && strings.TrimSpace(string(b)) != tt.wantHook) {
				t.Errorf("hook output %q, %v; want %q", b, err, tt.wantHook)
			}
		})
	}
}

// TestVaultRoundTrip: what rotate writes into Vault, check reads back.
func TestVaultRoundTrip(t *testing.T) {
	newTok := upstreamToken(t, 24*time.Hour, "new")
	kv := vaulttest.New(t)
	kv.AddToken("hvs.ops", true)
	environ := map[string]string{"VAULT_ADDR": kv.URL, "VAULT_TOKEN": "hvs.ops", "HOME": t.TempDir()}
	if r := runCLI(t, environ, newTok, "rotate", "--to", "vault:secret/agents/podium#jwt"); r.code != 0 {
		t.Fatalf("rotate: exit %d: %s", r.code, r.stderr)
	}
	r := runCLI(t, environ, "", "check", "--credential", "vault:secret/agents/podium#jwt")
	if r.code != 0 || !strings.Contains(r.stdout, "credential vault:secret/agents/podium#jwt") || !strings.Contains(r.stdout, "VALID: expires in 24h") {
		t.Errorf("check: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The Vault token's own life is one row, however many secrets it reads.
	kv.SetTokenTTL("hvs.ops", 48*time.Hour, 0, true)
	r = runCLI(t, environ, "", "check", "--credential", "vault:secret/agents/podium#jwt", "--credential", "vault:secret/agents/podium#jwt")
	if n := strings.Count(r.stdout, "vault token"); n != 1 || !strings.Contains(r.stdout, "expires in 47h") || r.code != 0 {
		t.Errorf("check: exit %d, %d vault token rows\n%s%s", r.code, n, r.stdout, r.stderr)
	}
}

// TestVaultMounts: a nested KV v2 mount takes rotations; a KV version 1
// mount is read by check but refused by rotate, which says why.
func TestVaultMounts(t *testing.T) {
	tok := upstreamToken(t, 24*time.Hour, "new")
	kv := vaulttest.New(t)
	kv.AddToken("hvs.ops", true)
	kv.AddMount(t, "team/kv", 2)
	kv.AddMount(t, "kv1", 1)
	kv.PutAt(t, "kv1", "podium", map[string]any{"token": tok})
	environ := map[string]string{"VAULT_ADDR": kv.URL, "VAULT_TOKEN": "hvs.ops", "HOME": t.TempDir()}

	runCLI(t, environ, tok, "rotate", "--to", "vault:team/kv/podium").expect(t, 0, []string{"rotated vault:team/kv/podium#token (version 1)"}, "", tok)
	if got, _ := kv.GetAt(t, "team/kv", "podium", 0)["token"].(string); got != tok {
		t.Error("the nested mount's secret does not hold the token")
	}
	other := upstreamToken(t, 48*time.Hour, "other")
	runCLI(t, environ, other, "rotate", "--to", "vault:kv1/podium").expect(t, 2, nil, "kv1/ is a KV version 1 mount, which keeps no versions and cannot check-and-set", tok, other)
	for _, spec := range []string{"vault:team/kv/podium", "vault:kv1/podium"} {
		runCLI(t, environ, "", "check", "--credential", spec).expect(t, 0, []string{"VALID: expires in 24h"}, "", tok)
	}
}

// TestRotateProbe: --probe asks the platform first; a refusal writes
// nothing and exits 2 with the upstream's status.
func TestRotateProbe(t *testing.T) {
	l := logscan.New(t)
	oldTok := upstreamToken(t, time.Hour, "old")
	accepted := upstreamToken(t, 24*time.Hour, "accepted")
	revoked := upstreamToken(t, 24*time.Hour, "revoked")
	otherAccount := upstreamToken(t, 24*time.Hour, "other")
	l.Secret(oldTok, accepted, revoked, otherAccount)
	platform := httptest.NewServer(l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") {
		case accepted:
			if r.Header.Get("Upgrade") == "websocket" {
				if c, err := websocket.Accept(w, r, nil); err == nil {
					c.CloseNow()
				}
				return
			}
			w.Write([]byte(`{"id":"cohost"}`))
		case otherAccount:
			http.Error(w, "forbidden", http.StatusForbidden)
		default:
			http.Error(w, "revoked", http.StatusUnauthorized)
		}
	})))
	t.Cleanup(platform.Close)
	ws := "ws" + strings.TrimPrefix(platform.URL, "http")
	tests := []struct {
		name, probe, tok string
		code             int
		stderr           string
	}{
		{name: "REST 200 keeps it", probe: platform.URL + "/v1/me", tok: accepted, stderr: "the upstream accepted " + token.Fingerprint(accepted) + " (200"},
		{name: "WebSocket 101 keeps it", probe: ws + "/agent", tok: accepted, stderr: "(101"},
		{name: "REST 401 refuses it", probe: platform.URL + "/v1/me", tok: revoked, code: 2, stderr: "answered 401 Unauthorized; nothing was written"},
		{name: "REST 403 refuses it", probe: platform.URL + "/v1/me", tok: otherAccount, code: 2, stderr: "answered 403 Forbidden"},
		{name: "WebSocket 401 refuses it", probe: ws + "/agent", tok: revoked, code: 2, stderr: "answered 401"},
		{name: "a bad probe URL", probe: "ftp://x", tok: accepted, code: 3, stderr: "--probe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "podium_token")
			if err := os.WriteFile(p, []byte(oldTok+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			r := runCLI(t, nil, tt.tok, "rotate", "--to", "file:"+p, "--probe", tt.probe)
			l.Text("rotate output", r.stdout+r.stderr)
			r.expect(t, tt.code, nil, tt.stderr, accepted, revoked, otherAccount)
			got, _ := os.ReadFile(p)
			want := oldTok
			if tt.code == 0 {
				want = tt.tok
			}
			if strings.TrimSpace(string(got)) != want {
				t.Errorf("the file holds %s, want %s", token.Fingerprint(strings.TrimSpace(string(got))), token.Fingerprint(want))
			}
		})
	}
}

// TestRotateRefusals: targets rotate refuses with exit 2 and a line that
// says what to do, and --force where it applies.
func TestRotateRefusals(t *testing.T) {
	newTok := upstreamToken(t, 24*time.Hour, "new")
	const config = "agent:\n  name: support-agent\n"
	tests := []struct {
		name     string
		needRoot bool
		setup    func(t *testing.T, dir string) string // returns the --to path
		force    bool
		code     int
		stderr   string
		want     string // the file's content after; "" = the new token
	}{
		{name: "a config file is not overwritten", code: 2, stderr: "is not a token", want: config,
			setup: func(t *testing.T, d string) string { return writeFile(t, filepath.Join(d, "agent.yaml"), config) }},
		{name: "--force overwrites it", force: true,
			setup: func(t *testing.T, d string) string { return writeFile(t, filepath.Join(d, "agent.yaml"), config) }},
		{name: "a link planted in a 1777 directory", needRoot: true, code: 2, stderr: "can be written by others (mode 01777)", want: "root-only\n",
			setup: func(t *testing.T, d string) string {
				shared := filepath.Join(d, "tmp")
				if err := os.Mkdir(shared, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(shared, 0o777|os.ModeSticky); err != nil {
					t.Fatal(err)
				}
				link := filepath.Join(shared, "podium_token")
				if err := os.Symlink(writeFile(t, filepath.Join(d, "shadow"), "root-only\n"), link); err != nil {
					t.Fatal(err)
				}
				if err := os.Lchown(link, 65534, 65534); err != nil {
					t.Fatal(err)
				}
				return link
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.needRoot && os.Geteuid() != 0 {
				t.Skip("needs root to plant a link owned by nobody; CI runs as root")
			}
			dir := t.TempDir()
			p := tt.setup(t, dir)
			args := []string{"rotate", "--to", "file:" + p}
			if tt.force {
				args = append(args, "--force")
			}
			r := runCLI(t, nil, newTok, args...)
			r.expect(t, tt.code, nil, tt.stderr, newTok)
			want := tt.want
			if want == "" {
				want = newTok + "\n"
			}
			if got, _ := os.ReadFile(p); string(got) != want {
				t.Errorf("the file holds %d bytes, not what it should", len(got))
			}
		})
	}
}

func writeFile(t *testing.T, p, content string) string {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
