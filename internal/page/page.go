// Package page finds and replaces a token hardcoded in an HTML or
// JavaScript page, as in `const TOKEN = 'eyJ...';`. Such pages are what
// voicetoken exists to retire; until they are, `verify --html` and
// `check --html` judge their tokens by one rule (Find, then Worst) and
// `check --fix` rewrites them in place, leaving every other byte as it
// was.
package page

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"sync"

	"voicetoken/internal/token"
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
	// Line is the 1-based line the token starts on; 0 for a token that
	// did not come from a page.
	Line int
}

// Find returns every hardcoded token in page, in order, including those
// in HTML or JavaScript comments: a commented-out token is one keystroke
// from live, and a page's reader cannot tell at a glance which is which.
func Find(page []byte) ([]Match, error) {
	var out []Match
	line, counted := 1, 0
	for _, m := range assignment().FindAllSubmatchIndex(page, -1) {
		if page[m[2]] != page[m[6]] { // opening and closing quote must agree
			continue
		}
		line += bytes.Count(page[counted:m[4]], []byte("\n"))
		counted = m[4]
		out = append(out, Match{Token: string(page[m[4]:m[5]]), Start: m[4], End: m[5], Line: line})
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

// Worst returns the index of the worst of reports, -1 when there are
// none. It is the one rule `verify --html` and `check --html` share for a
// page's tokens: every token counts (Find), the worst verdict wins
// (VALID, EXPIRING, EXPIRED, NOT YET VALID, BAD SIGNATURE, MALFORMED, in
// token.Verdict's order), among equal verdicts one whose claims LiveKit
// would misread (token.Problems) wins, then the first on the page.
func Worst(reports []token.Report) int {
	worst := -1
	for i, r := range reports {
		if worst < 0 || severity(r) > severity(reports[worst]) {
			worst = i
		}
	}
	return worst
}

func severity(r token.Report) int {
	s := 2 * int(r.Verdict)
	if r.Token != nil && len(token.Problems(&r.Token.Claims)) > 0 {
		s++
	}
	return s
}
