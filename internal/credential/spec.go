package credential

import (
	"fmt"
	"path/filepath"
	"strings"

	"voicetoken/internal/vault"
)

// Kind is where a credential comes from.
type Kind string

// The kinds of source.
const (
	KindFile Kind = "file"
	KindEnv  Kind = "env"
	KindExec Kind = "exec"
	// KindVault is one field of a Vault (or OpenBao) KV v2 secret.
	KindVault Kind = "vault"
)

// Spec names a credential source, parsed by [ParseSpec].
type Spec struct {
	Kind Kind
	// Path is the file for KindFile, cleaned.
	Path string
	// Var is the environment variable for KindEnv.
	Var string
	// Argv is the command and its arguments for KindExec. It is run
	// directly, without a shell.
	Argv []string
	// Vault is the secret and field for KindVault.
	Vault vault.Ref
}

// ParseSpec parses a credential spec:
//
//	file:/run/secrets/podium_token   (also file:///abs/path, or a bare path
//	                                  starting with / ./ or ../)
//	env:PODIUM_TOKEN
//	exec:vault kv get -field=token secret/podium
//	vault:secret/podium#token        (KV v2 mount secret, secret podium,
//	                                  field token, the default field)
//
// An exec: command is split into words like a shell would (single and
// double quotes, backslash escapes) but never run by one: no variables,
// globs or pipes. Errors wrap ErrSpec and never repeat an exec: command's
// arguments, which may hold a secret of their own.
func ParseSpec(s string) (Spec, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return Spec{}, fmt.Errorf("%w: contains a NUL byte", ErrSpec)
	}
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || strings.ContainsAny(scheme, "/.") {
		if p := filepath.Clean(s); strings.TrimSpace(p) != "" && (strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../")) {
			return Spec{Kind: KindFile, Path: p}, nil
		}
		return Spec{}, fmt.Errorf("%w: want %s", ErrSpec, Syntax())
	}
	d, ok := lookupKind(Kind(strings.ToLower(scheme)))
	if !ok {
		return Spec{}, fmt.Errorf("%w: unknown kind %q; want %s", ErrSpec, printable(scheme), Syntax())
	}
	return d.parse(rest)
}

// File returns the path of a file: spec, which can be handed to an agent
// as PODIUM_TOKEN_FILE, and false for the other kinds.
func (s Spec) File() (string, bool) {
	if s.Kind != KindFile {
		return "", false
	}
	return s.Path, true
}

// String returns the spec in a form safe to log: an exec: command shows
// its program and the number of arguments only.
func (s Spec) String() string {
	if d, ok := lookupKind(s.Kind); ok {
		return d.string(s)
	}
	return "unknown:"
}

// SplitCommand splits a command line into words the way a POSIX shell
// does for quoting only: whitespace separates words, '...' is literal,
// "..." allows \" \\ \$ \` escapes, and a backslash outside quotes escapes
// the next character. It expands nothing. Errors never repeat the input.
func SplitCommand(s string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\\':
			inWord = true
			if i+1 >= len(s) {
				return nil, fmt.Errorf("trailing backslash at byte %d", i)
			}
			i++
			if s[i] != '\n' { // backslash-newline is a line continuation
				cur.WriteByte(s[i])
			}
		case c == '\'':
			inWord = true
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated single quote at byte %d", i)
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
		case c == '"':
			inWord = true
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) && strings.IndexByte("\"\\$`\n", s[j+1]) >= 0 {
					j++
					if s[j] != '\n' {
						cur.WriteByte(s[j])
					}
					continue
				}
				cur.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated double quote at byte %d", i)
			}
			i = j
		case c == 0:
			return nil, fmt.Errorf("NUL byte at byte %d", i)
		default:
			inWord = true
			cur.WriteByte(c)
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(words) == 0 || words[0] == "" {
		return nil, fmt.Errorf("empty command")
	}
	return words, nil
}

// printable shortens and sanitises untrusted text for an error message.
func printable(s string) string {
	const max = 40
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
