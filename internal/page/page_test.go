package page_test

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"voicetoken/internal/page"
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
