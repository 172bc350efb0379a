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
	p := splitter{s: s}
	for p.i < len(s) {
		if err := p.step(); err != nil {
			return nil, err
		}
	}
	p.endWord()
	if len(p.words) == 0 || p.words[0] == "" {
		return nil, fmt.Errorf("empty command")
	}
	return p.words, nil
}

// splitter is one run of SplitCommand: the input, the offset of the next
// byte, the words so far and the one being built.
type splitter struct {
	s      string
	i      int
	words  []string
	cur    strings.Builder
	inWord bool
}

// step consumes the byte at p.i, or the escape or quoted text it starts.
func (p *splitter) step() error {
	switch c := p.s[p.i]; c {
	case ' ', '\t', '\n', '\r':
		p.endWord()
		p.i++
	case '\\':
		return p.escaped()
	case '\'':
		return p.singleQuoted()
	case '"':
		return p.doubleQuoted()
	case 0:
		return fmt.Errorf("NUL byte at byte %d", p.i)
	default:
		p.inWord = true
		p.cur.WriteByte(c)
		p.i++
	}
	return nil
}

// endWord ends the word being built, if any.
func (p *splitter) endWord() {
	if p.inWord {
		p.words = append(p.words, p.cur.String())
		p.cur.Reset()
		p.inWord = false
	}
}

// escaped takes the byte after a backslash literally; a backslash-newline
// is a line continuation and adds nothing.
func (p *splitter) escaped() error {
	p.inWord = true
	if p.i+1 >= len(p.s) {
		return fmt.Errorf("trailing backslash at byte %d", p.i)
	}
	if next := p.s[p.i+1]; next != '\n' {
		p.cur.WriteByte(next)
	}
	p.i += 2
	return nil
}

// singleQuoted takes '...' literally.
func (p *splitter) singleQuoted() error {
	p.inWord = true
	end := strings.IndexByte(p.s[p.i+1:], '\'')
	if end < 0 {
		return fmt.Errorf("unterminated single quote at byte %d", p.i)
	}
	p.cur.WriteString(p.s[p.i+1 : p.i+1+end])
	p.i += end + 2
	return nil
}

// doubleQuoted takes "...", where a backslash escapes only " \ $ ` and a
// newline (a line continuation) and is kept before anything else.
func (p *splitter) doubleQuoted() error {
	p.inWord = true
	for j := p.i + 1; j < len(p.s); j++ {
		switch c := p.s[j]; {
		case c == '"':
			p.i = j + 1
			return nil
		case c == '\\' && j+1 < len(p.s) && strings.IndexByte("\"\\$`\n", p.s[j+1]) >= 0:
			j++
			if p.s[j] != '\n' {
				p.cur.WriteByte(p.s[j])
			}
		default:
			p.cur.WriteByte(c)
		}
	}
	return fmt.Errorf("unterminated double quote at byte %d", p.i)
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
