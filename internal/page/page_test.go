package page_test

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"testing"

	"voicetoken/internal/page"
	"voicetoken/internal/token"
)

const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl"

func TestFind(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
		err  error
	}{
		{name: "single quotes", src: "const TOKEN = '" + jwt + "';", want: []string{jwt}},
		{name: "double quotes", src: `const TOKEN = "` + jwt + `";`, want: []string{jwt}},
		{name: "backticks", src: "let token=`" + jwt + "`", want: []string{jwt}},
		{name: "other name", src: "var livekitToken = '" + jwt + "'", want: []string{jwt}},
		{name: "two tokens", src: "const TOKEN = '" + jwt + "';\nconst ADMIN_TOKEN = \"" + jwt + "x\";", want: []string{jwt, jwt + "x"}},
		{name: "mismatched quotes", src: "const TOKEN = '" + jwt + "\";", err: page.ErrNoToken},
		{name: "not a jwt", src: "const TOKEN = 'hello';", err: page.ErrNoToken},
		{name: "no declaration", src: "TOKEN = '" + jwt + "'", err: page.ErrNoToken},
		{name: "empty", src: "", err: page.ErrNoToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := page.Find([]byte(tc.src))
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if len(ms) != len(tc.want) {
				t.Fatalf("found %d tokens, want %d", len(ms), len(tc.want))
			}
			for i, m := range ms {
				if m.Token != tc.want[i] || tc.src[m.Start:m.End] != m.Token {
					t.Errorf("match %d = %+v", i, m)
				}
			}
		})
	}
}

func TestReplaceKeepsEveryOtherByte(t *testing.T) {
	src, err := os.ReadFile("testdata/voice-agent-selector.html")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := page.Find(src)
	if err != nil {
		t.Fatal(err)
	}
	out, err := page.Replace(src, ms[0], "NEW.TOKEN.VALUE")
	if err != nil {
		t.Fatal(err)
	}
	want := append(append(append([]byte{}, src[:ms[0].Start]...), "NEW.TOKEN.VALUE"...), src[ms[0].End:]...)
	if !bytes.Equal(out, want) {
		t.Fatal("replace changed bytes outside the token")
	}
	if _, err := page.Replace(out, ms[0], "x"); err == nil {
		t.Error("replace with a stale match succeeded")
	}
}

func FuzzFind(f *testing.F) {
	if src, err := os.ReadFile("testdata/voice-agent-selector.html"); err == nil {
		f.Add(src)
	}
	f.Add([]byte("const TOKEN = '" + jwt + "';"))
	f.Add([]byte("let t = `a.b.c`; var TOKEN=\"x.y.z\""))
	f.Fuzz(func(t *testing.T, src []byte) {
		ms, err := page.Find(src)
		if err != nil {
			return
		}
		for _, m := range ms {
			if want := 1 + bytes.Count(src[:m.Start], []byte("\n")); m.Line != want {
				t.Fatalf("line %d, want %d", m.Line, want)
			}
			out, err := page.Replace(src, m, "A.B.C")
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != len(src)-len(m.Token)+5 || !bytes.Equal(out[:m.Start], src[:m.Start]) || !bytes.Equal(out[m.Start+5:], src[m.End:]) {
				t.Fatal("replace touched other bytes")
			}
		}
	})
}

func TestFindLines(t *testing.T) {
	src := "<html>\r\n<!-- const TOKEN = '" + jwt + "'; -->\n\n<script>\n  // let oldToken = \"" + jwt + "x\";\n  const TOKEN = `" + jwt + "y`;\n</script>"
	ms, err := page.Find([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, m := range ms {
		lines = append(lines, m.Line)
	}
	if want := []int{2, 5, 6}; !slices.Equal(lines, want) {
		t.Errorf("lines %v, want %v (tokens in comments count)", lines, want)
	}
}

func TestWorst(t *testing.T) {
	valid := token.Report{Verdict: token.Valid, Token: &token.Token{}}
	misread := token.Report{Verdict: token.Valid, Token: &token.Token{Claims: token.Claims{Kind: "alien", Video: &token.VideoGrant{RoomJoin: true, Room: "r"}}}}
	tests := []struct {
		name    string
		reports []token.Report
		want    int
	}{
		{name: "none", want: -1},
		{name: "one", reports: []token.Report{valid}, want: 0},
		{name: "expired after valid", reports: []token.Report{valid, valid, {Verdict: token.Expired}}, want: 2},
		{name: "bad signature beats expired", reports: []token.Report{{Verdict: token.BadSignature}, {Verdict: token.Expired}}, want: 0},
		{name: "malformed is worst", reports: []token.Report{{Verdict: token.NotYetValid}, {Verdict: token.Malformed}, {Verdict: token.BadSignature}}, want: 1},
		{name: "expiring beats valid", reports: []token.Report{valid, {Verdict: token.Expiring}}, want: 1},
		{name: "a valid token LiveKit misreads beats a clean one", reports: []token.Report{valid, misread}, want: 1},
		{name: "the first of equals", reports: []token.Report{{Verdict: token.Expired}, {Verdict: token.Expired}}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := page.Worst(tt.reports); got != tt.want {
				t.Errorf("Worst = %d, want %d", got, tt.want)
			}
		})
	}
}
