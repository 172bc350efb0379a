package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"voicetoken/internal/logscan"
)

// corpusDir is the attack corpus of internal/token (TestAttackCorpus).
const corpusDir = "../../internal/token/testdata/tokens"

// corpusNow is the corpus' iat: its valid tokens are judged when minted.
var corpusNow = time.Unix(1_795_444_049, 0).Add(time.Minute)

// corpusVerdict is the verdict `voicetoken verify` must print for each
// corpus file with LiveKit's dev key configured; internal/token's
// corpusVerdicts says why. A corpus file missing here fails the test.
var corpusVerdict = map[string]string{
	"seed-browser.jwt": "VALID", "agent-dispatch.jwt": "VALID", "admin.jwt": "VALID",
	"control-identity-signed.jwt": "VALID", "room-path-glob-signed.jwt": "VALID",
	"alg-none.jwt": "MALFORMED", "alg-NONE.jwt": "MALFORMED", "alg-None.jwt": "MALFORMED",
	"alg-rs256-kid.jwt": "MALFORMED", "alg-rs256-hs-signed.jwt": "MALFORMED", "alg-es256-hs-signed.jwt": "MALFORMED",
	"alg-hs512.jwt": "MALFORMED", "alg-lowercase.jwt": "MALFORMED", "alg-duplicate.jwt": "MALFORMED",
	"crit-header.jwt": "MALFORMED", "header-array.jwt": "MALFORMED",
	"jku-x5u.jwt": "BAD SIGNATURE", "kid-injection.jwt": "BAD SIGNATURE",
	"empty-signature.jwt": "MALFORMED", "signature-of-another.jwt": "BAD SIGNATURE",
	"payload-swapped.jwt": "BAD SIGNATURE", "padded-signature.jwt": "MALFORMED",
	"duplicate-exp.jwt": "MALFORMED", "iss-duplicate.jwt": "MALFORMED", "exp-string.jwt": "MALFORMED",
	"exp-huge.jwt": "MALFORMED", "exp-negative.jwt": "EXPIRED", "exp-missing.jwt": "MALFORMED",
	"payload-array.jwt": "MALFORMED", "nested-bomb.jwt": "MALFORMED",
	"non-utf8.jwt": "BAD SIGNATURE", "control-identity.jwt": "BAD SIGNATURE", "room-path-glob.jwt": "BAD SIGNATURE",
	"two-segments.jwt": "MALFORMED", "five-segments.jwt": "MALFORMED", "space-inside.jwt": "MALFORMED",
}

// exitFor is the documented exit code of each verdict.
func exitFor(verdict string) int {
	switch verdict {
	case "VALID":
		return 0
	case "EXPIRED", "EXPIRING":
		return 1
	}
	return 2
}

// runAt runs the command in-process at now with LiveKit's dev key pair
// configured explicitly, scanning its output with logscan.
func runAt(t *testing.T, now time.Time, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	environ := map[string]string{"LIVEKIT_API_KEY": "devkey", "LIVEKIT_API_SECRET": "secret"}
	code := run(context.Background(), args, &env{
		stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb,
		getenv: func(k string) string { return environ[k] },
		now:    func() time.Time { return now },
	})
	l := logscan.New(t)
	l.Secret(testSecret)
	l.Text(args[0]+": stdout", out.String())
	l.Text(args[0]+": stderr", errb.String())
	return result{code, out.String(), errb.String()}
}

func corpusFiles(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.jwt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in %s: %v", corpusDir, err)
	}
	out := map[string]string{}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = strings.TrimSpace(string(b))
	}
	return out
}

// TestAdversarialVerifyCorpus runs `voicetoken verify` (text and --json)
// on every corpus token, as an argument and on stdin, plus 10 MB tokens:
// the verdict and the exit code must be the documented ones.
func TestAdversarialVerifyCorpus(t *testing.T) {
	tried, failed := 0, 0
	check := func(name string, f func(t *testing.T)) {
		tried++
		if !t.Run(name, f) {
			failed++
		}
	}
	for name, raw := range corpusFiles(t) {
		want, ok := corpusVerdict[name]
		check(name, func(t *testing.T) {
			if !ok {
				t.Fatalf("no expected verdict for %s: add it to corpusVerdict", name)
			}
			r := runAt(t, corpusNow, "", "verify", raw)
			if r.code != exitFor(want) || !strings.HasPrefix(r.stdout, want) {
				t.Errorf("verify: exit %d, stdout %.80q; want exit %d and %s", r.code, r.stdout, exitFor(want), want)
			}
			r = runAt(t, corpusNow, raw+"\n", "verify", "--json", "-")
			var rep struct {
				Verdict  string `json:"verdict"`
				ExitCode int    `json:"exit_code"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
				t.Fatalf("verify --json: %v\n%s", err, r.stdout)
			}
			if r.code != exitFor(want) || rep.Verdict != want || rep.ExitCode != r.code {
				t.Errorf("verify --json -: exit %d, %+v; want %s exit %d", r.code, rep, want, exitFor(want))
			}
		})
	}
	big := "eyJhbGciOiJIUzI1NiJ9." + strings.Repeat("A", 10<<20) + ".sig"
	check("10 MB token as an argument", func(t *testing.T) {
		if r := runAt(t, corpusNow, "", "verify", big); r.code != 2 || !strings.Contains(r.stdout, "token too large") {
			t.Errorf("exit %d, stdout %.100q", r.code, r.stdout)
		}
	})
	check("10 MB token on stdin", func(t *testing.T) {
		if r := runAt(t, corpusNow, big, "verify", "-"); r.code != 2 || !strings.Contains(r.stdout+r.stderr, "too large") {
			t.Errorf("exit %d, stdout %.100q stderr %.100q", r.code, r.stdout, r.stderr)
		}
	})
	t.Logf("ADVERSARIAL scenario=hostile-tokens-cli tried=voicetoken-verify-attack-corpus-exit-codes times=%d held=%d failed=%d", tried, tried-failed, failed)
}

// TestAdversarialVerifyTerminalEscapes: a token's claims are the
// attacker's text. verify and inspect print them for a person at a
// terminal, so an identity of "\x1b[1A\x1b[2KVALID" must not redraw the
// verdict line, set the window title or ring the bell: no control byte
// other than newline reaches stdout or stderr.
func TestAdversarialVerifyTerminalEscapes(t *testing.T) {
	files := corpusFiles(t)
	tried, failed := 0, 0
	for _, name := range []string{"control-identity-signed.jwt", "control-identity.jwt", "room-path-glob-signed.jwt", "non-utf8.jwt"} {
		for _, args := range [][]string{{"verify"}, {"inspect"}, {"verify", "--json"}, {"inspect", "--json"}} {
			tried++
			ok := t.Run(name+"/"+strings.Join(args, " "), func(t *testing.T) {
				r := runAt(t, corpusNow, "", append(args, files[name])...)
				for _, out := range []string{r.stdout, r.stderr} {
					for i := 0; i < len(out); i++ {
						if c := out[i]; (c < 0x20 && c != '\n') || c == 0x7f {
							t.Fatalf("control byte %#x at %d reaches the terminal: %q", c, i, out[max(i-20, 0):min(i+20, len(out))])
						}
					}
				}
			})
			if !ok {
				failed++
			}
		}
	}
	t.Logf("ADVERSARIAL scenario=terminal-escapes-in-claims tried=verify-and-inspect-with-control-chars times=%d held=%d failed=%d", tried, tried-failed, failed)
}
