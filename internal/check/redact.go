package check

import (
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"voicetoken/internal/token"
)

// jwtLike matches anything shaped like a compact JWS whose header starts
// as JSON does ("eyJ" is base64url for `{"`). LiveKit echoes the whole
// token in some 401 answers ("invalid token: eyJ..., error: ...").
var jwtLike = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`)
})

// maxDetail bounds a detail line, in runes.
const maxDetail = 300

// Redact replaces every JWT-looking substring of s with its fingerprint.
func Redact(s string) string {
	return jwtLike().ReplaceAllStringFunc(s, func(t string) string {
		return "<token " + token.Fingerprint(t) + ">"
	})
}

// sanitize makes a detail safe to print: no tokens, one line of printable
// runes, at most maxDetail runes.
func sanitize(s string) string {
	s = Redact(s)
	var b strings.Builder
	space := false
	n := 0
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			if !space && b.Len() > 0 {
				space = true
			}
			continue
		}
		need := 1
		if space {
			need++
		}
		if n+need > maxDetail {
			b.WriteString("...")
			break
		}
		if space {
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// bodyMessage extracts the human message from an HTTP error body: Twirp's
// {"code","msg"}, our own {"error","code"}, or the first line of plain
// text. The result is sanitized; "" when the body says nothing useful.
func bodyMessage(body []byte) string {
	var j struct {
		Code  string `json:"code"`
		Msg   string `json:"msg"`
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &j) == nil {
		msg := j.Msg
		if msg == "" {
			msg = j.Error
		}
		if msg != "" {
			if j.Code != "" {
				msg = j.Code + ": " + msg
			}
			return sanitize(msg)
		}
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	return sanitize(line)
}
