package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lkauth "github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"

	"voicetoken/internal/logscan"
	"voicetoken/internal/token"
)

var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

const testSecret = "cli-test-secret-0123456789abcdef"

type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the command in-process with a fixed clock and environment.
func runCLI(t *testing.T, environ map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &env{
		stdin:  strings.NewReader(stdin),
		stdout: &out,
		stderr: &errb,
		getenv: func(k string) string { return environ[k] },
		now:    func() time.Time { return testNow },
	})
	r := result{code, out.String(), errb.String()}
	l := logscan.New(t)
	l.Secret(testSecret, "secret-in-a-file")
	l.Text(strings.Join(args, " ")+": stdout", r.stdout)
	l.Text(strings.Join(args, " ")+": stderr", r.stderr)
	return r
}

var prodEnv = map[string]string{"LIVEKIT_API_KEY": "APIprod", "LIVEKIT_API_SECRET": testSecret}

func mintAt(t *testing.T, at time.Time, ttl time.Duration) string {
	t.Helper()
	k, _ := token.NewKey("APIprod", testSecret)
	raw, err := k.Mint(token.Claims{Subject: "user1", Video: &token.VideoGrant{RoomJoin: true, Room: "test-room"}}, at, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestVerifyExitCodes(t *testing.T) {
	valid := mintAt(t, testNow, 24*time.Hour)
	parts := strings.Split(valid, ".")
	other, _ := token.NewKey("APIprod", "some-other-secret")
	wrongSecret, _ := other.Mint(token.Claims{Subject: "u"}, testNow, time.Hour)
	dir := t.TempDir()
	html := filepath.Join(dir, "voice-agent-selector.html")
	os.WriteFile(html, []byte("<script>\n  const TOKEN = '"+valid+"';\n</script>\n"), 0o600)
	tokFile := filepath.Join(dir, "token")
	os.WriteFile(tokFile, []byte(valid+"\n"), 0o600)
	notepadFile := filepath.Join(dir, "token-notepad") // a byte order mark and CRLF
	os.WriteFile(notepadFile, []byte("\uFEFF"+valid+"\r\n"), 0o600)
	prod, _ := token.NewKey("APIprod", testSecret)
	misspelt, _ := prod.Mint(token.Claims{Subject: "u", Kind: "alien", Video: &token.VideoGrant{RoomJoin: true, Room: "r", CanPublishSources: []string{"mic"}}}, testNow, time.Hour)

	tests := []struct {
		name   string
		env    map[string]string
		stdin  string
		args   []string
		code   int
		stdout string // substring
		stderr string // substring
	}{
		{name: "valid", env: prodEnv, args: []string{valid}, code: 0, stdout: "VALID"},
		{name: "valid shows expiry", env: prodEnv, args: []string{valid}, code: 0, stdout: "expires in 24h"},
		{name: "valid from stdin", env: prodEnv, stdin: valid + "\n", args: []string{"-"}, code: 0, stdout: "VALID"},
		{name: "valid from file", env: prodEnv, args: []string{"--file", tokFile}, code: 0, stdout: "VALID"},
		{name: "valid from a Notepad file", env: prodEnv, args: []string{"--file", notepadFile}, code: 0, stdout: "VALID"},
		{name: "valid as a Bearer header", env: prodEnv, args: []string{"Bearer " + valid}, code: 0, stdout: "VALID"},
		{name: "valid as a Bearer header on stdin", env: prodEnv, stdin: "Bearer " + valid + "\n", args: []string{"-"}, code: 0, stdout: "VALID"},
		{name: "valid from html", env: prodEnv, args: []string{"--html", html}, code: 0, stdout: "identity   user1"},
		{name: "valid, but LiveKit misreads a source", env: prodEnv, args: []string{misspelt}, code: 0, stdout: `  warning    canPublishSources "mic" is not a LiveKit track source: LiveKit allows nothing for it`},
		{name: "valid, but LiveKit misreads the kind", env: prodEnv, args: []string{"--json", misspelt}, code: 0, stdout: `"kind \"alien\" is not a LiveKit participant kind: LiveKit reads it as standard"`},
		{name: "expiring within warn", env: prodEnv, args: []string{"--warn", "25h", valid}, code: 1, stdout: "EXPIRING"},
		{name: "expired", env: prodEnv, args: []string{mintAt(t, testNow.Add(-27*time.Hour-12*time.Minute), 24*time.Hour)}, code: 1, stdout: "EXPIRED: token is expired 3h 12m ago"},
		{name: "not yet valid", env: prodEnv, args: []string{mintAt(t, testNow.Add(time.Hour), time.Hour)}, code: 2, stdout: "NOT YET VALID"},
		{name: "wrong secret", env: prodEnv, args: []string{wrongSecret}, code: 2, stdout: "BAD SIGNATURE"},
		{name: "unknown key", env: map[string]string{"LIVEKIT_API_KEY": "APIother", "LIVEKIT_API_SECRET": testSecret}, args: []string{valid}, code: 2, stdout: "no secret known"},
		{name: "empty token", env: prodEnv, args: []string{""}, code: 2, stdout: "MALFORMED: malformed token: empty token"},
		{name: "two segments", env: prodEnv, args: []string{parts[0] + "." + parts[1]}, code: 2, stdout: "this has 2"},
		{name: "bad base64", env: prodEnv, args: []string{parts[0] + ".%%%." + parts[2]}, code: 2, stdout: "not base64url"},
		{name: "bad json", env: prodEnv, args: []string{parts[0] + "." + b64("{nope") + "." + parts[2]}, code: 2, stdout: "MALFORMED"},
		{name: "alg none", env: prodEnv, args: []string{b64(`{"alg":"none"}`) + "." + parts[1] + "."}, code: 2, stdout: "unsupported signing algorithm: \"none\""},
		{name: "huge stdin", env: prodEnv, stdin: strings.Repeat("a", 1<<20), args: []string{"-"}, code: 2, stdout: "token too large"},
		{name: "no key configured", args: []string{valid}, code: 0, stdout: "signature NOT checked"},
		{name: "dev token checked with dev key", args: []string{devToken(t)}, code: 0, stdout: "signature  ok, key devkey"}, // no NOT SAFE warning: verify signs nothing (TestVerifyFrictions)
		{name: "no token", env: prodEnv, args: []string{}, code: 3, stderr: "give exactly one token"},
		{name: "two tokens", env: prodEnv, args: []string{valid, valid}, code: 3, stderr: "give exactly one token"},
		{name: "unknown flag", env: prodEnv, args: []string{"--nope", valid}, code: 3, stderr: "flag provided but not defined"},
		{name: "negative warn", env: prodEnv, args: []string{"--warn", "-1h", valid}, code: 3, stderr: "--warn"},
		{name: "missing file", env: prodEnv, args: []string{"--file", filepath.Join(dir, "nope")}, code: 1, stderr: "no such file"},
		{name: "incomplete key", env: map[string]string{"LIVEKIT_API_KEY": "APIx"}, args: []string{valid}, code: 3, stderr: "LIVEKIT_API_SECRET is not"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.env, tc.stdin, append([]string{"verify"}, tc.args...)...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stdout %q\nstderr %q\nwant %q / %q", r.stdout, r.stderr, tc.stdout, tc.stderr)
			}
		})
	}
}

func devToken(t *testing.T) string {
	k, _ := token.NewKey("devkey", "secret")
	raw, _ := k.Mint(token.Claims{Subject: "u", Video: &token.VideoGrant{RoomJoin: true, Room: "r"}}, testNow, time.Hour)
	return raw
}

// verify's summary names what a participant token carries (kind,
// metadata, attributes, dispatched agents, roomConfig settings) in one
// line each, long values cut, and shows no egress contents: they may hold
// a storage secret.
func TestVerifyShowsParticipantClaims(t *testing.T) {
	k, _ := token.NewKey("APIprod", testSecret)
	const storageSecret = "egress-storage-secret"
	raw, err := k.Mint(token.Claims{Subject: "agent-1", Kind: "agent", Name: "Host Bot",
		Metadata:   `{"persona":"host","greeting":"Welcome to the outpost, everyone, glad you are here"}`,
		Attributes: map[string]string{"role": "cohost", "lang": "en"},
		Video:      &token.VideoGrant{RoomJoin: true, Room: "outpost-7"},
		RoomConfig: json.RawMessage(`{"agents":[{"agentName":"scribe","metadata":"{\"lang\":\"en\"}"}],"emptyTimeout":300,"egress":{"room":{"fileOutputs":[{"s3":{"secret":"` + storageSecret + `","bucket":"b"}}]}}}`),
	}, testNow, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, prodEnv, "", "verify", raw)
	for _, want := range []string{
		"\n  name       Host Bot\n",
		"\n  kind       agent\n",
		"\n  metadata   {\"persona\":\"host\",\"greeting\":\"Welcome to the outpost, everyo… (83 bytes)\n",
		"\n  attributes lang=en role=cohost\n",
		"\n  agent      scribe (job metadata {\"lang\":\"en\"})\n",
		"\n  roomConfig egress (room); emptyTimeout=300\n",
		"\n  warning    roomConfig holds a credential (egress.room.fileOutputs[0].s3.secret)",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("verify lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, storageSecret) {
		t.Error("verify shows the egress storage secret")
	}
}

func TestVerifyJSON(t *testing.T) {
	r := runCLI(t, prodEnv, "", "verify", "--json", "--warn", "2h", mintAt(t, testNow, time.Hour))
	if r.code != 1 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var got struct {
		Verdict          string   `json:"verdict"`
		ExitCode         int      `json:"exit_code"`
		SignatureChecked bool     `json:"signature_checked"`
		Identity         string   `json:"identity"`
		Room             string   `json:"room"`
		Grants           []string `json:"grants"`
		ExpiresIn        int64    `json:"expires_in_seconds"`
		Fingerprint      string   `json:"token_fingerprint"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	if got.Verdict != "EXPIRING" || got.ExitCode != 1 || !got.SignatureChecked || got.Identity != "user1" ||
		got.Room != "test-room" || got.ExpiresIn != 3600 || len(got.Fingerprint) != 8 || len(got.Grants) == 0 {
		t.Errorf("report %+v", got)
	}
}

func TestMint(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		code   int
		stderr string
		check  func(t *testing.T, grants *lkauth.ClaimGrants)
	}{
		{name: "seed defaults", env: prodEnv, args: []string{"--room", "test-room", "--identity", "user1"}, check: func(t *testing.T, g *lkauth.ClaimGrants) {
			if !g.Video.RoomJoin || g.Video.Room != "test-room" || !g.Video.GetCanPublish() || !g.Video.GetCanSubscribe() || !g.Video.GetCanPublishData() {
				t.Errorf("video %+v", g.Video)
			}
		}},
		{name: "listen only", env: prodEnv, args: []string{"--room", "r", "--identity", "u", "--publish=false"}, check: func(t *testing.T, g *lkauth.ClaimGrants) {
			if g.Video.GetCanPublish() || !g.Video.GetCanSubscribe() {
				t.Errorf("video %+v", g.Video)
			}
		}},
		{name: "attributes metadata agent", env: prodEnv, args: []string{"--room", "r", "--identity", "u", "--name", "Zoë", "--attribute", "a=1", "--attribute", "b=x=y", "--metadata", `{"m":1}`, "--agent", "host-bot", "--job-metadata", "hi"}, check: func(t *testing.T, g *lkauth.ClaimGrants) {
			if g.Name != "Zoë" || g.Attributes["a"] != "1" || g.Attributes["b"] != "x=y" || g.Metadata != `{"m":1}` {
				t.Errorf("grants %+v", g)
			}
			if ag := g.GetRoomConfiguration().GetAgents(); len(ag) != 1 || ag[0].AgentName != "host-bot" || ag[0].Metadata != "hi" {
				t.Errorf("agents %v", ag)
			}
		}},
		{name: "admin api token", env: prodEnv, args: []string{"--list", "--create", "--identity", "ops"}, check: func(t *testing.T, g *lkauth.ClaimGrants) {
			if !g.Video.RoomList || !g.Video.RoomCreate || g.Video.RoomJoin {
				t.Errorf("video %+v", g.Video)
			}
		}},
		{name: "grant json", env: prodEnv, args: []string{"--room", "r", "--identity", "u", "--grant", `{"canPublishSources":["microphone"],"hidden":true}`}, check: func(t *testing.T, g *lkauth.ClaimGrants) {
			if !g.Video.Hidden || len(g.Video.CanPublishSources) != 1 {
				t.Errorf("video %+v", g.Video)
			}
		}},
		{name: "kind and sources in LiveKit's spelling", env: prodEnv, args: []string{"--room", "r", "--identity", "u", "--kind", "AGENT", "--allow-source", "Microphone"}, check: func(t *testing.T, g *lkauth.ClaimGrants) {
			// Written in lower case, as LiveKit's SDKs do: its
			// GetCanPublishSource compares the strings exactly.
			if g.GetParticipantKind() != livekit.ParticipantInfo_AGENT || g.Kind != "agent" || !g.Video.GetCanPublishSource(livekit.TrackSource_MICROPHONE) {
				t.Errorf("kind %q, sources %q", g.Kind, g.Video.CanPublishSources)
			}
		}},
		{name: "unknown kind", env: prodEnv, args: []string{"--room", "r", "--identity", "u", "--kind", "alien"}, code: 3, stderr: `--kind: participant kind "alien": want standard, agent`},
		{name: "unknown source", env: prodEnv, args: []string{"--room", "r", "--identity", "u", "--allow-source", "mic"}, code: 3, stderr: `track source "mic": want camera, microphone`},
		{name: "unknown source in --grant", env: prodEnv, args: []string{"--room", "r", "--identity", "u", "--grant", `{"canPublishSources":["camera","screen"]}`}, code: 3, stderr: `track source "screen"`},
		{name: "sip admin and call", env: prodEnv, args: []string{"--identity", "telephony", "--sip-admin", "--sip-call"}, check: func(t *testing.T, g *lkauth.ClaimGrants) {
			if g.SIP == nil || !g.SIP.Admin || !g.SIP.Call || g.Video != nil {
				t.Errorf("sip %+v video %+v", g.SIP, g.Video)
			}
		}},
		{name: "agent admin, inference, observability", env: prodEnv, args: []string{"--identity", "ops", "--agent-admin", "--inference", "--observability"}, check: func(t *testing.T, g *lkauth.ClaimGrants) {
			if g.Agent == nil || !g.Agent.Admin || g.Inference == nil || !g.Inference.Perform || g.Observability == nil || !g.Observability.Write {
				t.Errorf("agent %+v inference %+v observability %+v", g.Agent, g.Inference, g.Observability)
			}
		}},
		{name: "lk's flag names", env: prodEnv, args: []string{"--room", "r", "--identity", "u", "--egress", "--ingress", "--allow-update-metadata", "--valid-for", "10m", "--agent", "a", "--deployment", "staging"}, check: func(t *testing.T, g *lkauth.ClaimGrants) {
			if !g.Video.RoomRecord || !g.Video.IngressAdmin || !g.Video.GetCanUpdateOwnMetadata() {
				t.Errorf("video %+v", g.Video)
			}
			if ag := g.GetRoomConfiguration().GetAgents(); len(ag) != 1 || ag[0].AgentName != "a" || ag[0].Deployment != "staging" {
				t.Errorf("agents %v", ag)
			}
		}},
		{name: "grant per object", env: prodEnv, args: []string{"--identity", "ops", "--grant", `sip={"call":true}`, "--grant", `agent={"admin":true,"dispatchAdmin":true}`, "--grant", `inference={"perform":true}`, "--grant", `observability={"write":true}`, "--grant", `agentEndpoint={"call":true,"agentName":"bot"}`}, check: func(t *testing.T, g *lkauth.ClaimGrants) {
			if g.SIP == nil || !g.SIP.Call || g.SIP.Admin || g.Agent == nil || !g.Agent.Admin || !g.Agent.DispatchAdmin ||
				!g.Inference.Perform || !g.Observability.Write || !g.AgentEndpoint.Allows("bot", "") {
				t.Errorf("grants %+v", g)
			}
		}},
		{name: "grant merges over flags", env: prodEnv, args: []string{"--room", "r", "--identity", "u", "--sip-admin", "--grant", `{"canPublish":false}`, "--grant", `sip={"call":true}`}, check: func(t *testing.T, g *lkauth.ClaimGrants) {
			if g.Video.GetCanPublish() || !g.Video.RoomJoin || !g.SIP.Admin || !g.SIP.Call {
				t.Errorf("video %+v sip %+v", g.Video, g.SIP)
			}
		}},
		{name: "typo in --grant refused", env: prodEnv, args: []string{"--room", "r", "--identity", "u", "--grant", `{"canPublsh":false}`}, code: 3, stderr: `--grant: video grant: unknown grant key "canPublsh" (keys: agent, canManageAgentSession, canPublish,`},
		{name: "case in --grant refused", env: prodEnv, args: []string{"--room", "r", "--identity", "u", "--grant", `{"canpublish":false}`}, code: 3, stderr: `unknown grant key "canpublish"; did you mean "canPublish"?`},
		{name: "sip inside the video grant", env: prodEnv, args: []string{"--identity", "u", "--grant", `{"sip":{"admin":true}}`}, code: 3, stderr: `unknown grant key "sip"; for the sip grant write sip='{...}'`},
		{name: "agent object inside the video grant", env: prodEnv, args: []string{"--identity", "u", "--grant", `{"agent":{"admin":true}}`}, code: 3, stderr: `agent: want a bool, got a JSON object; for the agent grant write agent='{...}'`},
		{name: "unknown key in sip", env: prodEnv, args: []string{"--identity", "u", "--grant", `sip={"admin":true,"calls":true}`}, code: 3, stderr: `--grant: sip grant: unknown grant key "calls" (keys: admin, call)`},
		{name: "unknown grant object", env: prodEnv, args: []string{"--identity", "u", "--grant", `egress={"admin":true}`}, code: 3, stderr: `--grant: unknown grant "egress": want one of video, sip, agent`},
		{name: "wrong type in grant", env: prodEnv, args: []string{"--identity", "u", "--grant", `sip={"admin":"yes"}`}, code: 3, stderr: `sip grant: admin: want a bool, got a JSON string`},
		{name: "job metadata without agent", env: prodEnv, args: []string{"--room", "r", "--identity", "u", "--job-metadata", "x"}, code: 3, stderr: "--deployment and --job-metadata need --agent NAME"},
		{name: "join without identity", env: prodEnv, args: []string{"--room", "r"}, code: 3, stderr: "identity is required"},
		{name: "grants nothing", env: prodEnv, args: []string{"--identity", "u"}, code: 3, stderr: "grants nothing"},
		{name: "bad ttl", env: prodEnv, args: []string{"--room", "r", "--identity", "u", "--ttl", "forever"}, code: 3, stderr: "ttl"},
		{name: "zero ttl", env: prodEnv, args: []string{"--room", "r", "--identity", "u", "--ttl", "0"}, code: 3, stderr: `invalid value "0" for flag -ttl: invalid ttl: "0" hours; it must be positive`},
		{name: "bad grant json", env: prodEnv, args: []string{"--room", "r", "--identity", "u", "--grant", "{"}, code: 3, stderr: "--grant"},
		{name: "bad attribute", env: prodEnv, args: []string{"--room", "r", "--identity", "u", "--attribute", "novalue"}, code: 3, stderr: "key=value"},
		{name: "stray argument", env: prodEnv, args: []string{"--room", "r", "--identity", "u", "extra"}, code: 3, stderr: "unexpected argument"},
		{name: "dev key warns", args: []string{"--room", "r", "--identity", "u"}, stderr: "devkey/secret: NOT SAFE FOR PRODUCTION"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.env, "", append([]string{"mint"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", r.code, tc.code, r.stderr, tc.stderr)
			}
			if tc.check == nil || r.code != 0 {
				return
			}
			raw := strings.TrimSpace(r.stdout)
			v, err := lkauth.ParseAPIToken(raw)
			if err != nil {
				t.Fatal(err)
			}
			// LiveKit's verifier uses the real clock: judge the token at the fixed test time via our verifier, and LiveKit's signature check on a token re-minted now.
			if _, err := token.Verify(raw, mustKey(t, v.APIKey()), testNow); err != nil {
				t.Fatal(err)
			}
			_, g, err := reMintNow(t, tc.env, tc.args)
			if err != nil {
				t.Fatalf("LiveKit rejects the minted token: %v", err)
			}
			tc.check(t, g)
		})
	}
}

func mustKey(t *testing.T, id string) *token.Key {
	secret := testSecret
	if id == "devkey" {
		secret = "secret"
	}
	k, err := token.NewKey(id, secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// reMintNow mints with the real clock so that LiveKit's verifier, which
// reads time.Now itself, judges a current token.
func reMintNow(t *testing.T, environ map[string]string, args []string) (string, *lkauth.ClaimGrants, error) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"mint"}, args...), &env{
		stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		getenv: func(k string) string { return environ[k] }, now: time.Now,
	})
	if code != 0 {
		t.Fatalf("mint: %s", errb.String())
	}
	raw := strings.TrimSpace(out.String())
	v, err := lkauth.ParseAPIToken(raw)
	if err != nil {
		return raw, nil, err
	}
	secret := environ["LIVEKIT_API_SECRET"]
	if secret == "" {
		secret = "secret"
	}
	_, g, err := v.Verify(secret)
	return raw, g, err
}

func TestMintJSON(t *testing.T) {
	r := runCLI(t, prodEnv, "", "mint", "--room", "test-room", "--identity", "user1", "--ttl", "48", "--json")
	var got struct {
		Token      string          `json:"token"`
		Identity   string          `json:"identity"`
		Room       string          `json:"room"`
		ExpiresAt  time.Time       `json:"expires_at"`
		TTLSeconds int64           `json:"ttl_seconds"`
		Grants     json.RawMessage `json:"grants"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("mint --json output is not JSON: %v", err)
	}
	var grants bytes.Buffer
	json.Compact(&grants, got.Grants)
	if got.Identity != "user1" || got.Room != "test-room" || got.TTLSeconds != 48*3600 || !got.ExpiresAt.Equal(testNow.Add(48*time.Hour)) || grants.String() != `{"roomJoin":true,"room":"test-room"}` {
		t.Errorf("identity %q room %q ttl %d expires %s grants %s", got.Identity, got.Room, got.TTLSeconds, got.ExpiresAt, grants.String())
	}
	if r := runCLI(t, prodEnv, "", "verify", got.Token); r.code != 0 {
		t.Errorf("minted token does not verify: %s", r.stdout)
	}
}

func TestInspect(t *testing.T) {
	raw := b64(`{"alg":"RS256","typ":"JWT"}`) + "." + b64(`{"sub":"podium-agent","exp":1795000000,"outpost":"o-1"}`) + ".c2ln"
	r := runCLI(t, nil, "", "inspect", raw)
	if r.code != 0 || !strings.Contains(r.stdout, "NOT VERIFIED") || !strings.Contains(r.stdout, "podium-agent") || !strings.Contains(r.stdout, `"outpost": "o-1"`) {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, nil, "", "inspect", "garbage"); r.code != 2 || !strings.Contains(r.stderr, "cannot decode") {
		t.Errorf("exit %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, nil, raw, "inspect", "--json", "-"); r.code != 0 || !strings.Contains(r.stdout, `"verified": false`) {
		t.Errorf("exit %d %s", r.code, r.stdout)
	}
}

func TestTopLevel(t *testing.T) {
	if r := runCLI(t, nil, "", "nope"); r.code != 3 || !strings.Contains(r.stderr, "unknown command") {
		t.Errorf("%+v", r)
	}
	if r := runCLI(t, nil, ""); r.code != 3 || !strings.Contains(r.stdout, "Commands:") {
		t.Errorf("%+v", r)
	}
	if r := runCLI(t, nil, "", "help"); r.code != 0 {
		t.Errorf("%+v", r)
	}
	if r := runCLI(t, nil, "", "mint", "-h"); r.code != 0 || !strings.Contains(r.stderr, "Examples:") {
		t.Errorf("%+v", r)
	}
	if r := runCLI(t, nil, "", "help", "verify"); r.code != 0 || !strings.HasPrefix(r.stderr, "Usage: voicetoken verify") {
		t.Errorf("help verify: %+v", r)
	}
	if r := runCLI(t, nil, "", "help", "nope"); r.code != 3 || !strings.Contains(r.stderr, `unknown command "nope"`) {
		t.Errorf("help nope: %+v", r)
	}
}

// A flag mistake is one line naming the flag and pointing at -h, for every
// command; -h prints the whole usage and exits 0.
func TestFlagErrorsAreOneLine(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"mint", "--room", "r", "--identity", "u", "--ttl", "10x"}, `voicetoken mint: invalid value "10x" for flag -ttl: invalid ttl: "10x" is neither a duration (10m, 6h) nor a number of hours; run 'voicetoken mint -h' for help`},
		{[]string{"verify", "--nope"}, "voicetoken verify: flag provided but not defined: -nope; run 'voicetoken verify -h' for help"},
		{[]string{"inspect", "--json=maybe"}, `voicetoken inspect: invalid boolean value "maybe" for -json: parse error; run 'voicetoken inspect -h' for help`},
		{[]string{"serve", "--addr"}, "voicetoken serve: flag needs an argument: -addr; run 'voicetoken serve -h' for help"},
		{[]string{"check", "--warn", "soon"}, `voicetoken check: invalid value "soon" for flag -warn: parse error; run 'voicetoken check -h' for help`},
		{[]string{"rotate", "--backups", "x"}, `voicetoken rotate: invalid value "x" for flag -backups: parse error; run 'voicetoken rotate -h' for help`},
		{[]string{"proxy", "--nope"}, "voicetoken proxy: flag provided but not defined: -nope; run 'voicetoken proxy -h' for help"},
		{[]string{"smoke", "--timeout", "-"}, `voicetoken smoke: invalid value "-" for flag -timeout: parse error; run 'voicetoken smoke -h' for help`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCLI(t, prodEnv, "", tt.args...)
			if r.code != exitUsage || r.stderr != tt.want+"\n" {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 3 and the one line\n%s", r.code, r.stderr, tt.want)
			}
		})
	}
	r := runCLI(t, prodEnv, "", "mint", "-h")
	if r.code != 0 || !strings.HasPrefix(r.stderr, "Usage: voicetoken mint") || !strings.Contains(r.stderr, "-ttl") {
		t.Errorf("mint -h: exit %d, stderr %.200q", r.code, r.stderr)
	}
}

// Flags may follow the arguments (`verify TOKEN --json`), and "--" ends
// the flags.
func TestFlagsAfterArguments(t *testing.T) {
	valid := mintAt(t, testNow, time.Hour)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{name: "flag after the token", args: []string{"verify", valid, "--json"}, stdout: `"verdict": "VALID"`},
		{name: "flags on both sides", args: []string{"verify", "--warn", "2h", valid, "--json"}, code: 1, stdout: `"verdict": "EXPIRING"`},
		{name: "stdin then a flag", args: []string{"verify", "-", "--json"}, stdout: `"verdict": "VALID"`},
		{name: "-- ends the flags", args: []string{"verify", "--", valid}, stdout: "VALID"},
		{name: "after --, --json is an argument", args: []string{"verify", "--", valid, "--json"}, code: 3, stderr: "give exactly one token"},
		{name: "a bad flag after the token", args: []string{"verify", valid, "--nope"}, code: 3, stderr: "flag provided but not defined: -nope"},
		{name: "mint with a stray argument", args: []string{"mint", "r1", "--identity", "u"}, code: 3, stderr: `unexpected argument "r1": mint takes flags only`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, prodEnv, valid, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stdout, tt.stdout) || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("exit %d, stdout %.200q, stderr %q\nwant exit %d, %q / %q", r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}

func TestStampShowsLocalTimeOnlyWhenItDiffers(t *testing.T) {
	const sec = 1795487796 // 2026-11-24 02:36:36 UTC
	tests := []struct {
		name string
		loc  *time.Location
		want string
	}{
		{name: "UTC", loc: time.UTC, want: "2026-11-24 02:36:36 UTC"},
		{name: "zero offset under another name", loc: time.FixedZone("GMT", 0), want: "2026-11-24 02:36:36 UTC"},
		{name: "east", loc: time.FixedZone("CET", 3600), want: "2026-11-24 02:36:36 UTC (2026-11-24 03:36:36 CET)"},
		{name: "west", loc: time.FixedZone("EST", -5*3600), want: "2026-11-24 02:36:36 UTC (2026-11-23 21:36:36 EST)"},
	}
	for _, tc := range tests {
		if got := stampIn(sec, tc.loc); got != tc.want {
			t.Errorf("%s: stampIn = %q, want %q", tc.name, got, tc.want)
		}
	}
}
