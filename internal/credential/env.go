package credential

import (
	"context"
	"fmt"
)

// envSource is env:NAME: an environment variable. The weakest option:
// the value is visible to anything that can read the process environment
// and cannot change without a restart.
type envSource struct {
	name   string
	getenv func(string) string
}

func parseEnv(rest string) (Spec, error) {
	if !validEnvName(rest) {
		return Spec{}, fmt.Errorf("%w: env: needs a variable name of letters, digits and _ (got %q)", ErrSpec, printable(rest))
	}
	return Spec{Kind: KindEnv, Var: rest}, nil
}

func openEnv(s Spec, cfg Config) (Reader, error) {
	return &envSource{name: s.Var, getenv: cfg.Getenv}, nil
}

func (e *envSource) String() string     { return "env:" + e.name }
func (e *envSource) Schedule() Schedule { return Once }

func (e *envSource) Read(context.Context) ([]byte, string, error) {
	v := e.getenv(e.name)
	if v == "" {
		return nil, "", fmt.Errorf("%w: variable %s is unset or empty", ErrEmpty, e.name)
	}
	return []byte(v), "", nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
