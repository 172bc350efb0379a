package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"voicetoken/internal/token"
)

// TestAdversarialVerifyCheckParity: a page holds tokens live and in
// comments (HTML and JavaScript), one of them bad. `verify --html` and
// `check --html` must both judge every token, agree on the worst one
// (the same verdict, the same line) and exit accordingly: verify 0, 1 or
// 2 by the worst verdict, check fail for EXPIRED and worse, warn for
// EXPIRING. Before the shared rule, verify judged the first token only
// (even one in a comment) and said VALID where check failed.
func TestAdversarialVerifyCheckParity(t *testing.T) {
	valid := mintAt(t, testNow, 24*time.Hour)
	valid2 := mintAt(t, testNow.Add(-time.Hour), 24*time.Hour)
	valid3 := mintAt(t, testNow.Add(-2*time.Hour), 24*time.Hour)
	expired := mintAt(t, testNow.Add(-30*time.Hour), 24*time.Hour)
	expiring := mintAt(t, testNow.Add(-23*time.Hour), 24*time.Hour)
	other, _ := token.NewKey("APIprod", "not-the-secret-0123456789abcdef")
	forged, _ := other.Mint(token.Claims{Subject: "user1", Video: &token.VideoGrant{RoomJoin: true, Room: "test-room"}}, testNow, time.Hour)
	live := func(tok string) string { return "  const TOKEN = '" + tok + "';" }
	tests := []struct {
		name        string
		lines       []string // the page, one line each
		wantVerdict token.Verdict
		wantLine    int
		wantStatus  string // check's status for the page
	}{
		{name: "three valid tokens in comments, an expired live one last", wantVerdict: token.Expired, wantLine: 5, wantStatus: "fail",
			lines: []string{"<script>", "  // const TOKEN = '" + valid + "';", "  /* let oldToken = '" + valid2 + "'; */", "<!-- var backupToken = \"" + valid3 + "\" -->", live(expired), "</script>"}},
		{name: "a valid live token, an expired one in an HTML comment", wantVerdict: token.Expired, wantLine: 3, wantStatus: "fail",
			lines: []string{"<script>", live(valid), "<!-- const TOKEN = '" + expired + "'; -->", "</script>"}},
		{name: "a forged token commented out after a valid one", wantVerdict: token.BadSignature, wantLine: 3, wantStatus: "fail",
			lines: []string{"<script>", live(valid), "// const TOKEN = '" + forged + "';", "</script>"}},
		{name: "expired first, forged later: the worse one wins", wantVerdict: token.BadSignature, wantLine: 3, wantStatus: "fail",
			lines: []string{"<script>", live(expired), "// const adminToken = '" + forged + "';", "</script>"}},
		{name: "expiring within --warn in a comment", wantVerdict: token.Expiring, wantLine: 2, wantStatus: "warn",
			lines: []string{"<script>", "/* const TOKEN = '" + expiring + "'; */", live(valid), "</script>"}},
		{name: "every token valid", wantVerdict: token.Valid, wantLine: 2, wantStatus: "ok",
			lines: []string{"<script>", live(valid), "// const TOKEN = '" + valid2 + "';", "</script>"}},
	}
	held, failed := 0, 0
	for _, tt := range tests {
		ok := t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "page.html")
			if err := os.WriteFile(p, []byte(strings.Join(tt.lines, "\n")), 0o644); err != nil {
				t.Fatal(err)
			}
			// verify: the worst verdict, its exit code, every token listed with its line.
			v := runCLI(t, prodEnv, "", "verify", "--warn", "2h", "--json", "--html", p)
			var vj struct {
				Verdict string `json:"verdict"`
				Line    int    `json:"line"`
				Tokens  []struct {
					Line int `json:"line"`
				} `json:"tokens"`
			}
			if err := json.Unmarshal([]byte(v.stdout), &vj); err != nil {
				t.Fatalf("verify --json: %v", err)
			}
			if v.code != verdictExit(tt.wantVerdict) || vj.Verdict != tt.wantVerdict.String() || vj.Line != tt.wantLine {
				t.Errorf("verify: exit %d, %s on line %d; want exit %d, %s on line %d", v.code, vj.Verdict, vj.Line, verdictExit(tt.wantVerdict), tt.wantVerdict, tt.wantLine)
			}
			n := 0
			for _, l := range tt.lines {
				n += strings.Count(l, "TOKEN = ") + strings.Count(l, "Token = ")
			}
			if len(vj.Tokens) != n {
				t.Errorf("verify listed %d tokens, the page holds %d", len(vj.Tokens), n)
			}
			text := runCLI(t, prodEnv, "", "verify", "--warn", "2h", "--html", p)
			if !strings.HasPrefix(text.stdout, tt.wantVerdict.String()) || !strings.Contains(text.stdout, fmt.Sprintf("line %-6d %-14s", tt.wantLine, tt.wantVerdict)) {
				t.Errorf("verify's text does not lead with %s nor list line %d:\n%s", tt.wantVerdict, tt.wantLine, text.stdout)
			}
			// check: the same token is the worst, by the same rule.
			c := runCLI(t, prodEnv, "", "check", "--warn", "2h", "--json", "--html", p)
			var cj struct {
				Checks []struct {
					Name   string `json:"name"`
					Status string `json:"status"`
					Detail string `json:"detail"`
				} `json:"checks"`
			}
			if err := json.Unmarshal([]byte(c.stdout), &cj); err != nil {
				t.Fatalf("check --json: %v\n%s", err, c.stdout)
			}
			found := false
			for _, r := range cj.Checks {
				if r.Name != "token html:"+p {
					continue
				}
				found = true
				if r.Status != tt.wantStatus || !strings.Contains(r.Detail, fmt.Sprintf("(line %d): %s", tt.wantLine, tt.wantVerdict)) {
					t.Errorf("check: %s %q; want %s naming line %d, %s", r.Status, r.Detail, tt.wantStatus, tt.wantLine, tt.wantVerdict)
				}
			}
			if !found {
				t.Errorf("check has no row for the page: %s", c.stdout)
			}
		})
		if ok {
			held++
		} else {
			failed++
		}
	}
	t.Logf("ADVERSARIAL scenario=verify-check-parity tried=pages-with-tokens-in-html-and-js-comments-verify-vs-check-worst-verdict-and-line times=%d held=%d failed=%d", len(tests), held, failed)
}
