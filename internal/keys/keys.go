// Package keys loads LiveKit API keys and secrets: from flags, the
// environment (LIVEKIT_API_KEY, LIVEKIT_API_SECRET, LIVEKIT_KEYS), a .env
// file as the LiveKit agent templates use, or LiveKit's own key file
// ("key: secret" per line). Several keys can be loaded at once so that an
// API secret can be rotated without downtime: mint with the primary key,
// verify with whichever key a token's iss names.
//
// Nothing here ever prints a secret: keys are shown as the key ID and the
// secret's fingerprint.
package keys

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"voicetoken/internal/secretfile"
	"voicetoken/internal/token"
)

// LiveKit's development pair, what `livekit-server --dev` accepts. Used
// only when nothing else is configured, always with a warning.
const (
	DevKey    = "devkey"
	DevSecret = "secret"
)

// Environment variables, LiveKit's names where LiveKit has one.
const (
	EnvAPIKey    = "LIVEKIT_API_KEY"
	EnvAPISecret = "LIVEKIT_API_SECRET"
	EnvKeys      = "LIVEKIT_KEYS" // "key: secret" pairs, as livekit-server reads them
	EnvKeyFile   = "VOICETOKEN_KEY_FILE"
	EnvURL       = "LIVEKIT_URL" // the server, which the agent templates' .env holds beside the keys
)

// MinSecretLen is the shortest API secret LiveKit's server accepts without
// logging an error ("secret is too short, should be at least 32 characters
// for security"); shorter ones get a warning here too.
const MinSecretLen = 32

// ErrNoKeys means no key was configured and the dev pair was not allowed.
var ErrNoKeys = errors.New("no LiveKit API key configured: set LIVEKIT_API_KEY and LIVEKIT_API_SECRET, --env-file or --key-file")

// ErrIncomplete means a key without a secret or a secret without a key.
var ErrIncomplete = errors.New("incomplete API key")

// Config says where keys come from. Flags win over the environment, the
// environment over the .env file; the key file adds keys after those.
type Config struct {
	APIKey    string // --api-key
	APISecret string // --api-secret
	EnvFile   string // --env-file: KEY=VALUE lines
	KeyFile   string // --key-file: LiveKit's "key: secret" file
	Primary   string // --key: which loaded key mints; default the first
	// Getenv reads the environment; nil means no environment.
	Getenv func(string) string
	// ReadFile reads files; nil means os.ReadFile.
	ReadFile func(string) ([]byte, error)
	// AllowDev permits falling back to LiveKit's dev pair.
	AllowDev bool
}

// Set is a loaded set of keys. It implements token.Keyring.
type Set struct {
	keys    []*token.Key
	byID    map[string]*token.Key
	primary *token.Key
	// Dev is true when the set is LiveKit's dev pair.
	Dev bool
	// Warnings are things an operator should fix (loose file modes, the
	// dev key, short secrets); callers print or log them.
	Warnings []string
	// ShortSecrets are the IDs of keys whose secret is shorter than
	// MinSecretLen (never the dev pair devkey/secret, given or fallen
	// back to: livekit-server --dev accepts it without a word).
	ShortSecrets []string
}

var _ token.Keyring = (*Set)(nil)

// Key returns the key with the given ID.
func (s *Set) Key(id string) (*token.Key, bool) {
	k, ok := s.byID[id]
	return k, ok
}

// Primary is the key that mints.
func (s *Set) Primary() *token.Key { return s.primary }

// Keys lists every loaded key, primary first.
func (s *Set) Keys() []*token.Key { return s.keys }

// NewSet builds a set from pairs, the first being primary.
func NewSet(pairs ...Pair) (*Set, error) {
	s := &Set{byID: map[string]*token.Key{}}
	for _, p := range pairs {
		if err := s.add(p); err != nil {
			return nil, err
		}
	}
	if len(s.keys) == 0 {
		return nil, ErrNoKeys
	}
	s.primary = s.keys[0]
	return s, nil
}

func (s *Set) add(p Pair) error {
	if _, dup := s.byID[p.Key]; dup {
		return nil // the earlier source wins, as flags win over files
	}
	k, err := token.NewKey(p.Key, p.Secret)
	if err != nil {
		return fmt.Errorf("key %q: %w", p.Key, err)
	}
	s.keys = append(s.keys, k)
	s.byID[p.Key] = k
	return nil
}

// Pair is one API key and its secret.
type Pair struct {
	Key    string
	Secret string
}

// Load reads keys as cfg says. Every problem found is returned at once.
func Load(cfg Config) (*Set, error) {
	l := newLoader(cfg)
	pairs := l.pairs()
	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	dev := len(pairs) == 0
	if dev {
		if !cfg.AllowDev {
			return nil, ErrNoKeys
		}
		pairs = []Pair{{DevKey, DevSecret}}
		l.warnings = append(l.warnings, "using LiveKit's development key pair devkey/secret: NOT SAFE FOR PRODUCTION; set LIVEKIT_API_KEY and LIVEKIT_API_SECRET")
	}
	s, err := NewSet(pairs...)
	if err != nil {
		return nil, err
	}
	if !dev {
		l.warnings = append(l.warnings, s.noteShortSecrets(pairs)...)
	}
	s.Dev, s.Warnings = dev, l.warnings
	if cfg.Primary == "" {
		return s, nil
	}
	k, ok := s.byID[cfg.Primary]
	if !ok {
		return nil, fmt.Errorf("--key %q: no such API key among the %d loaded", cfg.Primary, len(s.keys))
	}
	s.primary = k
	return s, nil
}

// loader reads Load's sources in order, keeping every problem and
// warning it meets on the way.
type loader struct {
	cfg      Config
	getenv   func(string) string
	readFile func(string) ([]byte, error)
	dotenv   map[string]string // the .env file's variables
	errs     []error
	warnings []string
}

func newLoader(cfg Config) *loader {
	l := &loader{cfg: cfg, getenv: cfg.Getenv, readFile: cfg.ReadFile}
	if l.getenv == nil {
		l.getenv = func(string) string { return "" }
	}
	if l.readFile == nil {
		l.readFile = os.ReadFile
	}
	return l
}

// pairs returns the pairs of every source, in order: the key pair, then
// LIVEKIT_KEYS, then the key file.
func (l *loader) pairs() []Pair {
	l.dotenv = l.envFile()
	var pairs []Pair
	if p, ok := l.keyPair(); ok {
		pairs = append(pairs, p)
	}
	pairs = append(pairs, l.envKeys()...)
	return append(pairs, l.keyFile()...)
}

// envFile returns the variables of the .env file, if one is configured.
func (l *loader) envFile() map[string]string {
	if l.cfg.EnvFile == "" {
		return nil
	}
	data, err := l.readFile(l.cfg.EnvFile)
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("read env file: %w", err))
		return nil
	}
	env, err := ParseEnvFile(data)
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("env file %s: %w", l.cfg.EnvFile, err))
	}
	return env
}

// keyPair returns the API key and secret from the flags, the environment
// or the .env file, each from the first that sets it; a key without its
// secret, or a secret without its key, is a problem.
func (l *loader) keyPair() (Pair, bool) {
	key := firstSet(l.cfg.APIKey, l.getenv(EnvAPIKey), l.dotenv[EnvAPIKey])
	secret := firstSet(l.cfg.APISecret, l.getenv(EnvAPISecret), l.dotenv[EnvAPISecret])
	switch {
	case key != "" && secret != "":
		return Pair{key, secret}, true
	case key != "":
		l.errs = append(l.errs, fmt.Errorf("%w: %s is set but %s is not", ErrIncomplete, EnvAPIKey, EnvAPISecret))
	case secret != "":
		l.errs = append(l.errs, fmt.Errorf("%w: %s is set but %s is not", ErrIncomplete, EnvAPISecret, EnvAPIKey))
	}
	return Pair{}, false
}

// envKeys returns the pairs of LIVEKIT_KEYS ("key: secret" pairs separated
// by commas) from the environment or the .env file.
func (l *loader) envKeys() []Pair {
	v := firstSet(l.getenv(EnvKeys), l.dotenv[EnvKeys])
	if v == "" {
		return nil
	}
	ps, err := ParseKeyFile([]byte(strings.ReplaceAll(v, ",", "\n")))
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("%s: %w", EnvKeys, err))
	}
	return ps
}

// keyFile returns the pairs of the key file named by the flag or the
// environment, warning about a mode that lets others read it.
func (l *loader) keyFile() []Pair {
	path := firstSet(l.cfg.KeyFile, l.getenv(EnvKeyFile))
	if path == "" {
		return nil
	}
	data, err := l.readFile(path)
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("read key file: %w", err))
		return nil
	}
	ps, err := ParseKeyFile(data)
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("key file %s: %w", path, err))
	}
	if w := secretfile.ModeWarning(path); w != "" {
		l.warnings = append(l.warnings, w)
	}
	return ps
}

// firstSet returns the first of vals that is not "".
func firstSet(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// noteShortSecrets records in s.ShortSecrets each key of pairs whose
// secret is shorter than MinSecretLen, and returns a warning for each.
// LiveKit's own dev pair, for livekit-server --dev, is not one.
func (s *Set) noteShortSecrets(pairs []Pair) []string {
	var warnings []string
	for _, p := range pairs {
		if p == (Pair{DevKey, DevSecret}) {
			continue
		}
		if n := len(p.Secret); n < MinSecretLen && !slices.Contains(s.ShortSecrets, p.Key) {
			s.ShortSecrets = append(s.ShortSecrets, p.Key)
			warnings = append(warnings, fmt.Sprintf("API key %s: its secret is %d characters; LiveKit's server wants at least %d (it logs an error for shorter ones outside --dev)", p.Key, n, MinSecretLen))
		}
	}
	return warnings
}

// LiveKitURL returns the LiveKit server URL that cfg's environment names:
// LIVEKIT_URL from Getenv, else from the .env file, as the livekit-agent
// templates keep it beside the keys; "" when neither sets it. The flag
// (--livekit-url) is the caller's and wins over both.
func LiveKitURL(cfg Config) (string, error) {
	if cfg.Getenv != nil {
		if v := cfg.Getenv(EnvURL); v != "" {
			return v, nil
		}
	}
	if cfg.EnvFile == "" {
		return "", nil
	}
	readFile := cfg.ReadFile
	if readFile == nil {
		readFile = os.ReadFile
	}
	data, err := readFile(cfg.EnvFile)
	if err != nil {
		return "", fmt.Errorf("read env file: %w", err)
	}
	env, err := ParseEnvFile(data)
	if err != nil {
		return "", fmt.Errorf("env file %s: %w", cfg.EnvFile, err)
	}
	return env[EnvURL], nil
}

// ParseKeyFile reads LiveKit's key file: YAML lines "key: secret", with
// comments and optional quotes.
func ParseKeyFile(data []byte) ([]Pair, error) {
	var pairs []Pair
	var errs []error
	seen := map[string]int{} // key ID -> line
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(stripComment(sc.Text()))
		if line == "" || line == "---" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		k, kok := unquote(strings.TrimSpace(k))
		v, vok := unquote(strings.TrimSpace(v))
		switch {
		case !kok || !vok:
			errs = append(errs, fmt.Errorf("line %d: unterminated quote", n))
		case !ok || k == "" || v == "":
			errs = append(errs, fmt.Errorf("line %d: want \"key: secret\"", n))
		case v[0] == '[' || v[0] == '{':
			// LiveKit reads this file as YAML: a list or mapping is not a
			// secret there, so it is not one here.
			errs = append(errs, fmt.Errorf("line %d: want \"key: secret\", not a list or mapping", n))
		case seen[k] != 0:
			// LiveKit refuses a key defined twice; which secret is meant?
			errs = append(errs, fmt.Errorf("line %d: API key %s is already on line %d", n, k, seen[k]))
		default:
			seen[k] = n
			pairs = append(pairs, Pair{Key: k, Secret: v})
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	return pairs, errors.Join(errs...)
}

// ParseEnvFile reads a .env file: KEY=VALUE lines, "export " prefixes,
// comments, single or double quotes.
func ParseEnvFile(data []byte) (map[string]string, error) {
	out := map[string]string{}
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			errs = append(errs, fmt.Errorf("line %d: want KEY=VALUE", n))
			continue
		}
		v, err := envValue(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %s: %w", n, k, err))
			continue
		}
		out[k] = v
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// The problems of a .env value.
var (
	errUnterminatedQuote = errors.New("unterminated quote")
	errAfterQuote        = errors.New("text after the closing quote")
)

// envValue returns a .env line's value: a quoted one without its quotes
// (a comment may follow it), else the text before a comment.
func envValue(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" || v[0] != '"' && v[0] != '\'' {
		return strings.TrimSpace(stripComment(v)), nil
	}
	end := strings.IndexByte(v[1:], v[0])
	if end < 0 {
		return "", errUnterminatedQuote
	}
	if rest := strings.TrimSpace(v[end+2:]); rest != "" && rest[0] != '#' {
		return "", errAfterQuote
	}
	return v[1 : end+1], nil
}

// stripComment drops a " #" comment that is not inside quotes.
func stripComment(s string) string {
	if strings.HasPrefix(strings.TrimSpace(s), "#") {
		return ""
	}
	var quote byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && i > 0 && (s[i-1] == ' ' || s[i-1] == '\t'):
			return s[:i]
		}
	}
	return s
}

// unquote strips matching single or double quotes; ok is false for a
// quote that opens and never closes.
func unquote(s string) (_ string, ok bool) {
	if len(s) == 0 || (s[0] != '"' && s[0] != '\'') {
		return s, true
	}
	if len(s) >= 2 && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1], true
	}
	return s, false
}
