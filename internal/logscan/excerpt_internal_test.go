package logscan

import (
	"strings"
	"testing"
)

// TestExcerpt: the failure message shows the line of the first hit with
// every secret found cut out whole, even when a part of one (a token's
// signature segment, registered with it) was found as well.
func TestExcerpt(t *testing.T) {
	const (
		tok = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJlLXNlZ21lbnQtaGVyZQ"
		sig = "c2lnbmF0dXJlLXNlZ21lbnQtaGVyZQ"
	)
	long := strings.Repeat("x", 100)
	for _, tc := range []struct {
		name  string
		text  string
		found []string
		want  string
	}{
		{name: "one secret", text: `{"token":"` + tok + `"}`, found: []string{tok}, want: `{"token":"<SECRET>"}`},
		{name: "a token and its own signature", text: `{"token":"` + tok + `"}`, found: []string{sig, tok}, want: `{"token":"<SECRET>"}`},
		{name: "only the line of the hit", text: "before\nkey=" + tok + "\nafter", found: []string{tok}, want: "key=<SECRET>"},
		{name: "the last line", text: "before\nkey=" + tok, found: []string{tok}, want: "key=<SECRET>"},
		{name: "60 bytes before the cut", text: long + tok, found: []string{tok}, want: long[:60] + "<SECRET>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := len(tc.text)
			for _, s := range tc.found {
				first = min(first, strings.Index(tc.text, s))
			}
			if got := excerpt([]byte(tc.text), first, tc.found); got != tc.want {
				t.Errorf("excerpt = %q, want %q", got, tc.want)
			}
		})
	}
}
