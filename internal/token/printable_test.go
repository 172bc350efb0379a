package token_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	"voicetoken/internal/token"
)

func TestPrintable(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "plain", in: "support-agent", want: "support-agent"},
		{name: "accents and emoji stay", in: "José 🎙", want: "José 🎙"},
		{name: "zero-width space", in: "support-agent\u200b", want: `support-agent\u200b`},
		{name: "right-to-left override", in: "\u202etnega", want: `\u202etnega`},
		{name: "isolate", in: "a\u2066b\u2069", want: `a\u2066b\u2069`},
		{name: "byte order mark", in: "\ufeffx", want: `\ufeffx`},
		{name: "escape", in: "\x1b[2K", want: `\x1b[2K`},
		{name: "invalid UTF-8", in: "a\xffb", want: `a\xffb`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := token.Printable(tt.in); got != tt.want {
				t.Errorf("Printable(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	js := token.EscapeInvisible([]byte(`{"sub":"support-agent` + "\u200b" + `","name":"é"}`))
	if string(js) != `{"sub":"support-agent\u200b","name":"é"}` || !utf8.Valid(js) {
		t.Errorf("EscapeInvisible = %s", js)
	}
}

// FuzzEscapeInvisible: escaping keeps JSON valid and its value the same,
// and leaves no invisible rune.
func FuzzEscapeInvisible(f *testing.F) {
	f.Add(`{"sub":"support-agent` + "\u200b" + `"}`)
	f.Add(`["` + "\u202e\u2066x\u2069\ufeff" + `", 1, null]`)
	f.Add("\"\xff\u200b\"")
	f.Fuzz(func(t *testing.T, in string) {
		out := token.EscapeInvisible([]byte(in))
		for _, r := range string(out) {
			if token.Invisible(r) {
				t.Fatalf("U+%04X left in %q", r, out)
			}
		}
		var a, b any
		if json.Unmarshal([]byte(in), &a) != nil {
			return
		}
		if err := json.Unmarshal(out, &b); err != nil {
			t.Fatalf("escaped JSON does not parse: %v", err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("value changed: %v -> %v", a, b)
		}
	})
}
