package policy

import (
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"voicetoken/internal/hostlist"
)

// SafeName reports whether s is a safe room, agent or key name: 1-128
// bytes of A-Z a-z 0-9 _ . -, starting with a letter or digit. Such names
// need no escaping in URLs, logs, JSON or LiveKit's fields.
func SafeName(s string) bool { return safeName(s, false) }

// SafeIdentity is SafeName that also allows @ and : (e-mail addresses,
// "user:42"). It is the built-in identity rule; a policy's pattern can
// only narrow it.
func SafeIdentity(s string) bool { return safeName(s, true) }

func safeName(s string, identity bool) bool {
	if len(s) == 0 || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i == 0:
			return false
		case c == '_' || c == '.' || c == '-':
		case identity && (c == '@' || c == ':'):
		default:
			return false
		}
	}
	return true
}

// ValidText reports whether s is valid UTF-8 of at most n bytes without
// control characters other than tab and newline.
func ValidText(s string, n int) bool {
	if len(s) > n || !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f {
			return false
		}
	}
	return true
}

// NormalizeOrigin turns "https://App.Example.com:443/" into
// "https://app.example.com": scheme://host[:port], default ports dropped.
func NormalizeOrigin(o string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(o))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", fmt.Errorf("origin %q: want scheme://host[:port], e.g. https://app.example.com", o)
	}
	host := strings.ToLower(u.Host)
	if (u.Scheme == "http" && strings.HasSuffix(host, ":80")) || (u.Scheme == "https" && strings.HasSuffix(host, ":443")) {
		host = host[:strings.LastIndexByte(host, ':')]
	}
	return u.Scheme + "://" + host, nil
}

// HostName is host (a Host header or a configured name) without its port,
// in lower case, brackets removed from IPv6 literals (hostlist.Name).
func HostName(host string) string { return hostlist.Name(host) }

// ValidHost reports whether h can be listed in hosts: a name, no scheme,
// no path (hostlist.Valid).
func ValidHost(h string) bool { return hostlist.Valid(h) }

// Quote quotes caller input for an error message, cut to 64 bytes, with
// control characters, quotes and backslashes shown as '?'.
func Quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return `"` + strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' {
			return '?'
		}
		return r
	}, s) + `"`
}
