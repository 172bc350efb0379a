package keys_test

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"voicetoken/internal/keys"
	"voicetoken/internal/token"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoad(t *testing.T) {
	// LiveKit wants secrets of 32 characters or more; the fixtures' are.
	const long = "-0123456789abcdefghijklmnopqrstu"
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dotenv := write(".env", "# livekit-agent\nexport LIVEKIT_URL=ws://localhost:7880\nLIVEKIT_API_KEY=APIenv\nLIVEKIT_API_SECRET=\"envfile-secret"+long+"\" # quoted\n", 0o600)
	keyFile := write("keys.yaml", "# LiveKit key file\nAPInew: new-secret"+long+"\nAPIold: 'old-secret"+long+"'\n", 0o600)
	looseKeyFile := write("loose.yaml", "APIx: x-secret"+long+"\n", 0o644)
	badKeyFile := write("bad.yaml", "APIx x-secret\n", 0o600)
	badEnvFile := write("bad.env", "LIVEKIT_API_KEY=APIenv\nLIVEKIT_API_SECRET\n", 0o600)

	tests := []struct {
		name     string
		cfg      keys.Config
		wantKeys []string // IDs, primary first
		wantDev  bool
		warn     string
		err      error
	}{
		{name: "flags", cfg: keys.Config{APIKey: "APIflag", APISecret: "flag-secret" + long}, wantKeys: []string{"APIflag"}},
		{name: "env", cfg: keys.Config{Getenv: env(map[string]string{"LIVEKIT_API_KEY": "APIenv", "LIVEKIT_API_SECRET": "s" + long})}, wantKeys: []string{"APIenv"}},
		{name: "flag beats env", cfg: keys.Config{APIKey: "APIflag", Getenv: env(map[string]string{"LIVEKIT_API_KEY": "APIenv", "LIVEKIT_API_SECRET": "s" + long})}, wantKeys: []string{"APIflag"}},
		{name: "env file", cfg: keys.Config{EnvFile: dotenv}, wantKeys: []string{"APIenv"}},
		{name: "key file, several keys", cfg: keys.Config{KeyFile: keyFile}, wantKeys: []string{"APInew", "APIold"}},
		{name: "key file from env", cfg: keys.Config{Getenv: env(map[string]string{"VOICETOKEN_KEY_FILE": keyFile})}, wantKeys: []string{"APInew", "APIold"}},
		{name: "LIVEKIT_KEYS", cfg: keys.Config{Getenv: env(map[string]string{"LIVEKIT_KEYS": "APIa: a-secret" + long + ", APIb: b-secret" + long})}, wantKeys: []string{"APIa", "APIb"}},
		{name: "primary chosen", cfg: keys.Config{KeyFile: keyFile, Primary: "APIold"}, wantKeys: []string{"APIold", "APInew"}},
		{name: "unknown primary", cfg: keys.Config{KeyFile: keyFile, Primary: "APInope"}, err: errors.New("no such API key")},
		{name: "dev fallback", cfg: keys.Config{AllowDev: true}, wantKeys: []string{"devkey"}, wantDev: true, warn: "NOT SAFE FOR PRODUCTION"},
		{name: "no keys", cfg: keys.Config{}, err: keys.ErrNoKeys},
		{name: "key without secret", cfg: keys.Config{APIKey: "APIx", AllowDev: true}, err: keys.ErrIncomplete},
		{name: "secret without key", cfg: keys.Config{Getenv: env(map[string]string{"LIVEKIT_API_SECRET": "s" + long}), AllowDev: true}, err: keys.ErrIncomplete},
		{name: "the dev pair given is not short", cfg: keys.Config{APIKey: "devkey", APISecret: "secret"}, wantKeys: []string{"devkey"}},
		{name: "short secret warns", cfg: keys.Config{APIKey: "APIshort", APISecret: "short"}, wantKeys: []string{"APIshort"},
			warn: "API key APIshort: its secret is 5 characters; LiveKit's server wants at least 32"},
		{name: "loose key file warns", cfg: keys.Config{KeyFile: looseKeyFile}, wantKeys: []string{"APIx"}, warn: "chmod 600"},
		{name: "bad key file", cfg: keys.Config{KeyFile: badKeyFile}, err: errors.New("line 1")},
		{name: "missing key file", cfg: keys.Config{KeyFile: filepath.Join(dir, "nope")}, err: os.ErrNotExist},
		{name: "bad LIVEKIT_KEYS", cfg: keys.Config{Getenv: env(map[string]string{"LIVEKIT_KEYS": "APIa a-secret" + long})}, err: errors.New("LIVEKIT_KEYS: line 1")},
		{name: "bad env file", cfg: keys.Config{EnvFile: badEnvFile}, err: errors.New("bad.env: line 2: want KEY=VALUE")},
		{name: "missing env file", cfg: keys.Config{EnvFile: filepath.Join(dir, "nope.env")}, err: os.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, err := keys.Load(tc.cfg)
			if tc.err != nil {
				if err == nil || !(errors.Is(err, tc.err) || strings.Contains(err.Error(), tc.err.Error())) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				for _, s := range []string{"flag-secret", "new-secret", "x-secret", "envfile-secret"} {
					if strings.Contains(err.Error(), s) {
						t.Fatalf("error shows a secret: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			got = append(got, set.Primary().ID)
			for _, k := range set.Keys() {
				if k != set.Primary() {
					got = append(got, k.ID)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.wantKeys, ",") {
				t.Errorf("keys %v, want %v", got, tc.wantKeys)
			}
			if set.Dev != tc.wantDev {
				t.Errorf("Dev = %v", set.Dev)
			}
			if w := strings.Join(set.Warnings, "\n"); !strings.Contains(w, tc.warn) || (tc.warn == "" && w != "") {
				t.Errorf("warnings %q, want %q", w, tc.warn)
			}
			if short := strings.Contains(tc.warn, "characters"); short != (len(set.ShortSecrets) > 0) {
				t.Errorf("ShortSecrets %v", set.ShortSecrets)
			}
		})
	}
}

func TestSetVerifiesWithTheKeyIssNames(t *testing.T) {
	set, err := keys.NewSet(keys.Pair{Key: "APInew", Secret: "new"}, keys.Pair{Key: "APIold", Secret: "old"})
	if err != nil {
		t.Fatal(err)
	}
	old, _ := set.Key("APIold")
	raw, err := old.Mint(token.Claims{Subject: "u"}, nowForTest, 3600e9)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := token.Verify(raw, set, nowForTest); err != nil {
		t.Fatalf("a token of the old key fails during rotation: %v", err)
	}
}

func TestParseKeyFile(t *testing.T) {
	tests := []struct {
		name, in string
		want     []keys.Pair
		err      string
	}{
		{name: "pairs, quotes, comments", in: "---\n# c\nAPIa: a-secret # c\n'APIb': \"b # not a comment\"\n",
			want: []keys.Pair{{Key: "APIa", Secret: "a-secret"}, {Key: "APIb", Secret: "b # not a comment"}}},
		{name: "a key twice", in: "APIa: s1\nAPIb: s2\nAPIa: s3\n", err: "line 3: API key APIa is already on line 1"},
		{name: "a list", in: "APIa: [1]\n", err: "line 1: want \"key: secret\", not a list or mapping"},
		{name: "a mapping", in: "APIa: {x: y}\n", err: "not a list or mapping"},
		{name: "unterminated quote", in: "APIa: 'secret\n", err: "line 1: unterminated quote"},
		{name: "no colon", in: "APIa secret\n", err: "line 1: want \"key: secret\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := keys.ParseKeyFile([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestParseEnvFile(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]string
		err      string
	}{
		{name: "plain, export, comments", in: "# c\nexport A=1\nB=plain # c\nC=\n",
			want: map[string]string{"A": "1", "B": "plain", "C": ""}},
		// A quoted value followed by a comment was read whole, quotes and
		// comment included: a wrong secret, and every token refused.
		{name: "quoted, then a comment", in: "S=\"the-secret\" # quoted\nT='x # y' # c\n",
			want: map[string]string{"S": "the-secret", "T": "x # y"}},
		{name: "unterminated quote", in: "LIVEKIT_API_KEY=\"APIx\n", err: "line 1: LIVEKIT_API_KEY: unterminated quote"},
		{name: "text after the quote", in: "A=\"x\"y\n", err: "line 1: A: text after the closing quote"},
		{name: "no equals", in: "LIVEKIT_API_KEY\n", err: "line 1: want KEY=VALUE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := keys.ParseEnvFile([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !maps.Equal(got, tc.want) {
				t.Errorf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func FuzzParseKeyFile(f *testing.F) {
	f.Add([]byte("APIkey: secret\n# c\n'a': \"b\"\n"))
	f.Add([]byte("---\nk: v # comment\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pairs, _ := keys.ParseKeyFile(data)
		for _, p := range pairs {
			if p.Key == "" || p.Secret == "" {
				t.Fatalf("empty pair from %q", data)
			}
		}
	})
}

func FuzzParseEnvFile(f *testing.F) {
	f.Add([]byte("export A=1\nB='x # y'\nC=\"q\" # c\n#D=4\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, _ := keys.ParseEnvFile(data)
		for k := range m {
			if k == "" || strings.ContainsAny(k, " \t\n") {
				t.Fatalf("bad key %q from %q", k, data)
			}
		}
	})
}

var nowForTest = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func TestLiveKitURL(t *testing.T) {
	files := map[string]string{
		"dev.env":    "LIVEKIT_URL=wss://from-file.example\nLIVEKIT_API_KEY=k\n",
		"nourl.env":  "LIVEKIT_API_KEY=k\n",
		"broken.env": "LIVEKIT_URL='unterminated\n",
	}
	read := func(p string) ([]byte, error) {
		if s, ok := files[p]; ok {
			return []byte(s), nil
		}
		return nil, os.ErrNotExist
	}
	tests := []struct {
		name    string
		env     map[string]string
		envFile string
		want    string
		wantErr bool
	}{
		{name: "nothing", want: ""},
		{name: "the env file", envFile: "dev.env", want: "wss://from-file.example"},
		{name: "the environment wins", env: map[string]string{"LIVEKIT_URL": "ws://env.example"}, envFile: "dev.env", want: "ws://env.example"},
		{name: "a file without it", envFile: "nourl.env", want: ""},
		{name: "a missing file", envFile: "missing.env", wantErr: true},
		{name: "a broken file", envFile: "broken.env", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := keys.LiveKitURL(keys.Config{EnvFile: tt.envFile, ReadFile: read, Getenv: func(k string) string { return tt.env[k] }})
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("LiveKitURL = %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
