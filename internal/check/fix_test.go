package check_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	lkauth "github.com/livekit/protocol/auth"

	"voicetoken/internal/check"
	"voicetoken/internal/keys"
	"voicetoken/internal/page"
	"voicetoken/internal/token"
)

// legacyPage is the seed's voice-agent-selector.html as
// update_voice_token.sh left it: CRLF lines, an emoji, no final newline,
// and a devkey token that expired on 2025-12-20 17:51:58 UTC.
const legacyPage = "testdata/voice-agent-selector.html"

func devKeys(t *testing.T) *keys.Set {
	t.Helper()
	s, err := keys.NewSet(keys.Pair{Key: keys.DevKey, Secret: keys.DevSecret})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// copyPage copies the legacy page into a temp dir with the given mode.
func copyPage(t *testing.T, mode os.FileMode) (path string, orig []byte) {
	t.Helper()
	orig, err := os.ReadFile(legacyPage)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, t.TempDir(), "voice-agent-selector.html", string(orig), mode), orig
}

func TestFixPageRewritesExpiredToken(t *testing.T) {
	path, orig := copyPage(t, 0o640)
	oldMatch := mustFind(t, orig)
	oldTok, err := token.Parse(oldMatch.Token)
	if err != nil {
		t.Fatal(err)
	}

	res, err := check.FixPage(path, check.FixOptions{Keys: devKeys(t), Warn: 2 * time.Hour, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if res.Fixed != 1 || res.Tokens != 1 || res.Backup != path+".bak" || !res.Expiry.Equal(testNow.Add(24*time.Hour)) {
		t.Errorf("result = %+v", res)
	}

	got, _ := os.ReadFile(path)
	m := mustFind(t, got)
	// Everything but the token's bytes is unchanged.
	if !bytes.Equal(got[:m.Start], orig[:oldMatch.Start]) || !bytes.Equal(got[m.End:], orig[oldMatch.End:]) {
		t.Errorf("bytes outside the token changed:\n%q", got)
	}
	// The backup is the old page, byte for byte, with the page's mode.
	if bak, _ := os.ReadFile(res.Backup); !bytes.Equal(bak, orig) {
		t.Error("backup differs from the original page")
	}
	for _, p := range []string{path, res.Backup} {
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
			t.Errorf("%s has mode %#o, want 0640", p, fi.Mode().Perm())
		}
	}
	// The new token verifies with the same key and has the same claims,
	// and the old token's lifetime (exp - nbf: it had no iat).
	nt, err := token.Verify(m.Token, devKeys(t), testNow)
	if err != nil {
		t.Fatalf("new token: %v", err)
	}
	if nt.Claims.ExpiresAt-nt.Claims.NotBefore != oldTok.Claims.ExpiresAt-oldTok.Claims.NotBefore {
		t.Errorf("lifetime %ds, want %ds", nt.Claims.ExpiresAt-nt.Claims.NotBefore, oldTok.Claims.ExpiresAt-oldTok.Claims.NotBefore)
	}
	oc, nc := &oldTok.Claims, &nt.Claims
	if nc.ParticipantIdentity() != oc.ParticipantIdentity() || nc.Room() != oc.Room() || nc.Name != oc.Name || nc.Issuer != oc.Issuer ||
		strings.Join(token.GrantNames(nc), " ") != strings.Join(token.GrantNames(oc), " ") || !reflect.DeepEqual(nc.Video, oc.Video) {
		ob, _ := oc.MarshalJSON()
		nb, _ := nc.MarshalJSON()
		t.Errorf("claims changed:\n old %s\n new %s", ob, nb)
	}

	// A second run finds nothing to do and touches nothing.
	res2, err := check.FixPage(path, check.FixOptions{Keys: devKeys(t), Warn: 2 * time.Hour, Now: fixedNow})
	if err != nil || res2.Fixed != 0 || res2.Backup != "" {
		t.Errorf("second run: %+v, %v", res2, err)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, got) {
		t.Error("second run changed the page")
	}
	if bak, _ := os.ReadFile(path + ".bak"); !bytes.Equal(bak, orig) {
		t.Error("second run changed the backup")
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*.tmp")); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}

// LiveKit's own verifier (livekit/protocol, the test oracle) accepts the
// re-minted token. It reads the real clock, so the fix uses it too.
func TestFixPageLiveKitAccepts(t *testing.T) {
	path, _ := copyPage(t, 0o600)
	if _, err := check.FixPage(path, check.FixOptions{Keys: devKeys(t), Warn: 2 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	v, err := lkauth.ParseAPIToken(mustFind(t, got).Token)
	if err != nil {
		t.Fatal(err)
	}
	_, g, err := v.Verify(keys.DevSecret)
	if err != nil {
		t.Fatalf("LiveKit refuses the fixed token: %v", err)
	}
	if g.Identity != "user1" || g.Video == nil || g.Video.Room != "test-room" || !g.Video.RoomJoin || g.Name != "User" {
		t.Errorf("grants = %+v", g)
	}
}

func TestFixPageCases(t *testing.T) {
	k := testKey(t)
	other, _ := token.NewKey("APIcheck", "another-secret-0123456789abcdef")
	valid := mint(t, k, testNow, 24*time.Hour)
	expiring := mint(t, k, testNow.Add(-5*time.Hour), 6*time.Hour) // 6h lifetime, 1h left
	forged := mint(t, other, testNow.Add(-30*time.Hour), 24*time.Hour)
	epoch := time.Unix(1, 0) // iat 1970: an inherited lifetime of 56 years
	since1970 := mint(t, k, epoch, testNow.Sub(epoch)+time.Hour)
	month := mint(t, k, testNow.Add(-30*24*time.Hour), 30*24*time.Hour+time.Hour)
	// A 1h token inside a 2h warn window: re-minted with the same 1h it
	// would stay EXPIRING and be re-minted on every cron run.
	short := mint(t, k, testNow.Add(-30*time.Minute), time.Hour)
	pageOf := func(toks ...string) string {
		var b strings.Builder
		b.WriteString("<script>\n")
		for i, tk := range toks {
			b.WriteString("  const TOKEN_" + string(rune('A'+i)) + " = \"" + tk + "\";\n")
		}
		b.WriteString("</script>\n")
		return b.String()
	}
	tests := []struct {
		name    string
		page    string
		opts    check.FixOptions
		fixed   int
		wantErr error
		ttl     time.Duration // lifetime of the fixed tokens
	}{
		{name: "valid token is left alone", page: pageOf(valid), opts: check.FixOptions{Keys: k, Warn: 2 * time.Hour}, fixed: 0},
		{name: "expiring within warn", page: pageOf(expiring), opts: check.FixOptions{Keys: k, Warn: 2 * time.Hour}, fixed: 1, ttl: 6 * time.Hour},
		{name: "expiring, --ttl", page: pageOf(expiring), opts: check.FixOptions{Keys: k, Warn: 2 * time.Hour, TTL: 48 * time.Hour}, fixed: 1, ttl: 48 * time.Hour},
		{name: "expiring, outside warn", page: pageOf(expiring), opts: check.FixOptions{Keys: k, Warn: 30 * time.Minute}, fixed: 0},
		{name: "issued in 1970: lifetime capped", page: pageOf(since1970), opts: check.FixOptions{Keys: k, Warn: 2 * time.Hour}, fixed: 1, ttl: check.MaxInheritedTTL},
		{name: "30-day lifetime capped", page: pageOf(month), opts: check.FixOptions{Keys: k, Warn: 2 * time.Hour}, fixed: 1, ttl: check.MaxInheritedTTL},
		{name: "issued in 1970, --ttl", page: pageOf(since1970), opts: check.FixOptions{Keys: k, Warn: 2 * time.Hour, TTL: 10 * 24 * time.Hour}, fixed: 1, ttl: 10 * 24 * time.Hour},
		{name: "two tokens, one old", page: pageOf(valid, expiring), opts: check.FixOptions{Keys: k, Warn: 2 * time.Hour}, fixed: 1, ttl: 6 * time.Hour},
		{name: "lifetime within warn: lengthened to clear it", page: pageOf(short), opts: check.FixOptions{Keys: k, Warn: 2 * time.Hour}, fixed: 1, ttl: 3 * time.Hour},
		{name: "lifetime within a warn of 7d: cut to 7d", page: pageOf(short), opts: check.FixOptions{Keys: k, Warn: check.MaxInheritedTTL}, fixed: 1, ttl: check.MaxInheritedTTL},
		{name: "lifetime within warn, --ttl is kept", page: pageOf(short), opts: check.FixOptions{Keys: k, Warn: 2 * time.Hour, TTL: time.Hour}, fixed: 1, ttl: time.Hour},
		{name: "bad signature is not papered over", page: pageOf(forged), opts: check.FixOptions{Keys: k, Warn: 2 * time.Hour}, wantErr: check.ErrCannotFix},
		{name: "no secret for the token's key", page: pageOf(expiring), opts: check.FixOptions{Keys: devKeys(t), Warn: 2 * time.Hour}, wantErr: check.ErrCannotFix},
		{name: "no keys", page: pageOf(expiring), opts: check.FixOptions{Warn: 2 * time.Hour}, wantErr: check.ErrCannotFix},
		{name: "no token in the page", page: "<html></html>", opts: check.FixOptions{Keys: k}, wantErr: page.ErrNoToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "page.html", tt.page, 0o644)
			tt.opts.Now = fixedNow
			res, err := check.FixPage(path, tt.opts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			got, _ := os.ReadFile(path)
			_, bakErr := os.Stat(path + ".bak")
			if tt.fixed == 0 {
				if string(got) != tt.page || bakErr == nil {
					t.Errorf("page changed or backup written although nothing was fixed")
				}
				return
			}
			if res.Fixed != tt.fixed || bakErr != nil {
				t.Errorf("fixed %d (backup: %v), want %d", res.Fixed, bakErr, tt.fixed)
			}
			ms, _ := page.Find(got)
			for _, m := range ms {
				nt, err := token.Verify(m.Token, k, testNow)
				if err != nil {
					t.Errorf("token in the fixed page: %v", err)
					continue
				}
				if m.Token != valid && time.Duration(nt.Claims.ExpiresAt-nt.Claims.IssuedAt)*time.Second != tt.ttl {
					t.Errorf("lifetime %ds, want %s", nt.Claims.ExpiresAt-nt.Claims.IssuedAt, tt.ttl)
				}
			}
		})
	}
}

func TestFixPageFollowsSymlink(t *testing.T) {
	path, orig := copyPage(t, 0o644)
	link := filepath.Join(t.TempDir(), "current.html")
	if err := os.Symlink(path, link); err != nil {
		t.Skip("no symlinks here:", err)
	}
	res, err := check.FixPage(link, check.FixOptions{Keys: devKeys(t), Warn: 2 * time.Hour, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the symlink was replaced by a file")
	}
	if got, _ := os.ReadFile(path); bytes.Equal(got, orig) {
		t.Error("the link's target was not fixed")
	}
	if res.Backup != path+".bak" {
		t.Errorf("backup %s, want next to the target", res.Backup)
	}
}

func TestFixCheck(t *testing.T) {
	path, _ := copyPage(t, 0o644)
	got := runOne(t, check.Fix("fix", path, check.FixOptions{Keys: devKeys(t), Warn: 2 * time.Hour, Now: fixedNow}))
	want := "re-minted 1 of 1 token(s): new expiry 2026-11-24 12:00:00 UTC (in 24h); backup " + path + ".bak"
	if got.Status != check.OK || got.Detail != want {
		t.Errorf("got %s %q, want ok %q", got.Status, got.Detail, want)
	}
	got = runOne(t, check.Fix("fix", path, check.FixOptions{Keys: devKeys(t), Warn: 2 * time.Hour, Now: fixedNow}))
	if got.Status != check.OK || !strings.HasPrefix(got.Detail, "nothing to fix: the page's token expires 2026-11-24 12:00:00 UTC") {
		t.Errorf("second run: %s %q", got.Status, got.Detail)
	}
	// An inherited lifetime over MaxInheritedTTL is cut, with a warning
	// that says how to choose one.
	epoch := time.Unix(1, 0)
	old := "<script>const TOKEN = '" + mint(t, testKey(t), epoch, testNow.Sub(epoch)+time.Hour) + "';</script>"
	capped := writeFile(t, t.TempDir(), "page.html", old, 0o644)
	got = runOne(t, check.Fix("fix", capped, check.FixOptions{Keys: testKey(t), Warn: 2 * time.Hour, Now: fixedNow}))
	if got.Status != check.Warn || !strings.HasSuffix(got.Detail, "the old token's lifetime (20780d 12h) was cut to 7d: pass --ttl to choose one") {
		t.Errorf("capped lifetime: %s %q", got.Status, got.Detail)
	}
	// A lifetime within --warn: the new token clears the window, and the
	// next run has nothing to fix.
	shortPage := writeFile(t, t.TempDir(), "page.html", "<script>const TOKEN = '"+mint(t, testKey(t), testNow.Add(-30*time.Minute), time.Hour)+"';</script>", 0o644)
	got = runOne(t, check.Fix("fix", shortPage, check.FixOptions{Keys: testKey(t), Warn: 2 * time.Hour, Now: fixedNow}))
	if got.Status != check.OK || !strings.HasSuffix(got.Detail, "the old token's lifetime (1h) is within --warn 2h, so the new one lives 2h longer, to clear the warn window") {
		t.Errorf("short lifetime: %s %q", got.Status, got.Detail)
	}
	got = runOne(t, check.Fix("fix", shortPage, check.FixOptions{Keys: testKey(t), Warn: 2 * time.Hour, Now: fixedNow}))
	if got.Status != check.OK || !strings.HasPrefix(got.Detail, "nothing to fix") {
		t.Errorf("the run after: %s %q, want nothing to fix", got.Status, got.Detail)
	}
	// When nothing --fix may give clears --warn, it says so and why.
	tests := []struct {
		name string
		opts check.FixOptions
		want string
	}{
		{name: "--ttl within --warn", opts: check.FixOptions{Warn: 2 * time.Hour, TTL: time.Hour},
			want: "--ttl 1h is within --warn 2h, so the page stays EXPIRING and is re-minted on every run: pass a --ttl longer than --warn"},
		{name: "--warn of 8d", opts: check.FixOptions{Warn: 8 * 24 * time.Hour},
			want: "--warn 8d is at least the longest lifetime --fix gives (7d), so the page stays EXPIRING: pass a smaller --warn, or --ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "page.html", "<script>const TOKEN = '"+mint(t, testKey(t), testNow.Add(-30*time.Minute), time.Hour)+"';</script>", 0o644)
			tt.opts.Keys, tt.opts.Now = testKey(t), fixedNow
			got := runOne(t, check.Fix("fix", p, tt.opts))
			if got.Status != check.Warn || !strings.HasSuffix(got.Detail, tt.want) {
				t.Errorf("%s %q, want warn ...%q", got.Status, got.Detail, tt.want)
			}
		})
	}
	got = runOne(t, check.Fix("fix", filepath.Join(t.TempDir(), "missing.html"), check.FixOptions{Keys: devKeys(t)}))
	if got.Status != check.Fail || !strings.Contains(got.Detail, "no such file") {
		t.Errorf("missing page: %s %q", got.Status, got.Detail)
	}
}

func mustFind(t *testing.T, data []byte) page.Match {
	t.Helper()
	ms, err := page.Find(data)
	if err != nil || len(ms) != 1 {
		t.Fatalf("page.Find: %d matches, %v", len(ms), err)
	}
	return ms[0]
}
