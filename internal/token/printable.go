package token

import (
	"strconv"
	"unicode/utf8"
)

// Printable returns s as it may be shown to a person at a terminal:
// unchanged when every rune is visible, else quoted the way strconv.Quote
// escapes (without the surrounding quotes), so the escapes show. Claims
// are the token holder's text: control characters (C0, DEL, C1) could
// redraw the screen ("\x1b[1A\x1b[2KVALID" over a BAD SIGNATURE line),
// invalid UTF-8 garbles it, and the invisible runes (Invisible) make one
// string read as another: "support-agent\u200b" looks like
// "support-agent", and U+202E turns "tnega" into "agent".
func Printable(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError || Invisible(r) {
			q := strconv.Quote(s)
			return q[1 : len(q)-1]
		}
	}
	return s
}

// Invisible reports whether r takes no space or reorders the text around
// it: the bidirectional embeddings, overrides and isolates (U+202A-U+202E,
// U+2066-U+2069), the marks (U+200E, U+200F, U+061C), and the zero-width
// characters (U+200B-U+200D, U+2060, U+FEFF).
func Invisible(r rune) bool {
	switch {
	case r >= 0x200b && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return r == 0x061c || r == 0x2060 || r == 0xfeff
}

// EscapeInvisible rewrites every Invisible rune of JSON text as a \uXXXX
// escape: the same JSON value (such runes only appear inside strings), but
// one a terminal shows as it is. encoding/json already escapes control
// characters; it leaves these as they are.
func EscapeInvisible(js []byte) []byte {
	out := make([]byte, 0, len(js))
	for i := 0; i < len(js); {
		r, n := utf8.DecodeRune(js[i:])
		if Invisible(r) {
			out = append(out, `\u`...)
			out = append(out, "0123456789abcdef"[r>>12&0xf], "0123456789abcdef"[r>>8&0xf], "0123456789abcdef"[r>>4&0xf], "0123456789abcdef"[r&0xf])
		} else {
			out = append(out, js[i:i+n]...)
		}
		i += n
	}
	return out
}
