package main

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// configCase is one row of a command's config-step table: its flags and
// environment, the problems it must report (one line each, none for a
// good config) and, for a good one, what to check in the config.
type configCase[C any] struct {
	name    string
	args    []string
	environ map[string]string
	want    []string
	check   func(t *testing.T, c C)
}

// runConfigCases runs parse on every row of tests.
func runConfigCases[C any](t *testing.T, parse func(*env, []string) (C, error), tests []configCase[C]) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := configEnv(tc.environ)
			c, err := parse(e, tc.args)
			wantProblems(t, err, tc.want)
			if tc.check != nil && err == nil {
				tc.check(t, c)
			}
		})
	}
}

// configEnv is an env for a command's config step: the given environment,
// nothing else.
func configEnv(environ map[string]string) (*env, *bytes.Buffer) {
	var errb bytes.Buffer
	return &env{
		stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &errb,
		getenv: func(k string) string { return environ[k] },
	}, &errb
}

// wantProblems checks that err is a usage error whose lines are exactly
// want, in order: every problem reported, each on its own line.
func wantProblems(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitUsage {
		t.Fatalf("error %v, want a usage error (exit %d)", err, exitUsage)
	}
	if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
