// Package page finds and replaces a token hardcoded in an HTML or
// JavaScript page, as in `const TOKEN = 'eyJ...';`. Such pages are what
// voicetoken exists to retire; until they are, `verify --html` reads their
// token and `check --fix` rewrites it in place, leaving every other byte
// as it was.
package page

import (
	"errors"
	"fmt"
	"regexp"
	"sync"
)

// ErrNoToken means the page holds no `const TOKEN = '...'` assignment.
var ErrNoToken = errors.New("no hardcoded token found (looked for const/let/var NAME = '<jwt>' with NAME containing TOKEN)")

// assignment matches `const TOKEN = '...'`, `let livekitToken = "..."`,
// `var TOKEN=`...“: a declaration of a name containing "token" (any case)
// assigned a quoted string that looks like a JWT (three base64url parts).
var assignment = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)\b(?:const|let|var)\s+[\w$]*token[\w$]*\s*=\s*(['"` + "`" + `])([A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)(['"` + "`" + `])`)
})

// Match is one hardcoded token and where its text sits in the page.
type Match struct {
	Token      string
	Start, End int // byte offsets of the token text (inside the quotes)
}

// Find returns every hardcoded token in page, in order.
func Find(page []byte) ([]Match, error) {
	var out []Match
	for _, m := range assignment().FindAllSubmatchIndex(page, -1) {
		if page[m[2]] != page[m[6]] { // opening and closing quote must agree
			continue
		}
		out = append(out, Match{Token: string(page[m[4]:m[5]]), Start: m[4], End: m[5]})
	}
	if len(out) == 0 {
		return nil, ErrNoToken
	}
	return out, nil
}

// Replace returns a copy of page with the token text of m replaced by tok.
// Everything outside the token's bytes is kept exactly.
func Replace(page []byte, m Match, tok string) ([]byte, error) {
	if m.Start < 0 || m.End > len(page) || m.Start > m.End || string(page[m.Start:m.End]) != m.Token {
		return nil, fmt.Errorf("replace token: the page changed since it was read")
	}
	out := make([]byte, 0, len(page)-len(m.Token)+len(tok))
	out = append(out, page[:m.Start]...)
	out = append(out, tok...)
	return append(out, page[m.End:]...), nil
}
