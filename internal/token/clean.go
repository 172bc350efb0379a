package token

import "strings"

// Clean is the token a person means by text pasted or saved around one:
// surrounding white space, a UTF-8 byte order mark (Windows editors write
// one at the start of a file) and an Authorization header's "Bearer "
// prefix are removed. Every place that reads a token from text (an
// argument, a file, stdin, a secret) cleans it first, so that a file
// saved by Notepad or a header copied whole is not "malformed".
func Clean(s string) string {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "\uFEFF"))
	if len(s) > len("bearer ") && strings.EqualFold(s[:len("bearer ")], "bearer ") {
		s = strings.TrimSpace(s[len("bearer "):])
	}
	return s
}
