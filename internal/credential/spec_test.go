package credential_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"voicetoken/internal/credential"
	"voicetoken/internal/vault"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    credential.Spec
		wantErr error
	}{
		{name: "file", in: "file:/run/secrets/podium_token", want: credential.Spec{Kind: credential.KindFile, Path: "/run/secrets/podium_token"}},
		{name: "file URL", in: "file:///run/secrets/x", want: credential.Spec{Kind: credential.KindFile, Path: "/run/secrets/x"}},
		{name: "file localhost URL", in: "file://localhost/run/x", want: credential.Spec{Kind: credential.KindFile, Path: "/run/x"}},
		{name: "file relative cleaned", in: "file:a/../b/tok", want: credential.Spec{Kind: credential.KindFile, Path: "b/tok"}},
		{name: "bare absolute path", in: "/etc/podium/token", want: credential.Spec{Kind: credential.KindFile, Path: "/etc/podium/token"}},
		{name: "bare relative path", in: "./tok", want: credential.Spec{Kind: credential.KindFile, Path: "tok"}},
		{name: "uppercase scheme", in: "FILE:/x", want: credential.Spec{Kind: credential.KindFile, Path: "/x"}},
		{name: "env", in: "env:PODIUM_TOKEN", want: credential.Spec{Kind: credential.KindEnv, Var: "PODIUM_TOKEN"}},
		{name: "exec", in: `exec:vault kv get -field=token "secret/podium voice"`, want: credential.Spec{Kind: credential.KindExec, Argv: []string{"vault", "kv", "get", "-field=token", "secret/podium voice"}}},
		{name: "exec single quotes", in: `exec:sh -c 'cat /run/x'`, want: credential.Spec{Kind: credential.KindExec, Argv: []string{"sh", "-c", "cat /run/x"}}},
		{name: "file remote host", in: "file://evil/x", wantErr: credential.ErrSpec},
		{name: "file empty", in: "file:", wantErr: credential.ErrSpec},
		{name: "env empty", in: "env:", wantErr: credential.ErrSpec},
		{name: "env bad name", in: "env:1ABC", wantErr: credential.ErrSpec},
		{name: "env with equals", in: "env:A=B", wantErr: credential.ErrSpec},
		{name: "exec empty", in: "exec:  ", wantErr: credential.ErrSpec},
		{name: "exec unterminated", in: `exec:vault "x`, wantErr: credential.ErrSpec},
		{name: "vault", in: "vault:secret/podium#jwt", want: credential.Spec{Kind: credential.KindVault, Vault: vault.Ref{Mount: "secret", Path: "podium", Field: "jwt"}}},
		{name: "vault default field", in: "vault:kv/agents/podium", want: credential.Spec{Kind: credential.KindVault, Vault: vault.Ref{Mount: "kv", Path: "agents/podium", Field: "token"}}},
		{name: "vault without a path", in: "vault:secret", wantErr: credential.ErrSpec},
		{name: "vault with ..", in: "vault:secret/../sys", wantErr: credential.ErrSpec},
		{name: "unknown kind", in: "aws:podium/token", wantErr: credential.ErrSpec},
		{name: "no kind", in: "podium_token", wantErr: credential.ErrSpec},
		{name: "empty", in: "", wantErr: credential.ErrSpec},
		{name: "NUL", in: "file:/x\x00y", wantErr: credential.ErrSpec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := credential.ParseSpec(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseSpec(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got.Kind != tt.want.Kind || got.Path != tt.want.Path || got.Var != tt.want.Var || got.Vault != tt.want.Vault || !slices.Equal(got.Argv, tt.want.Argv) {
				t.Errorf("ParseSpec(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestSpecStringHidesExecArgs(t *testing.T) {
	s, err := credential.ParseSpec("exec:/usr/bin/vault kv get -token=hunter2 secret/x")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.String(); strings.Contains(got, "hunter2") || got != "exec:vault (4 args)" {
		t.Errorf("String() = %q, want the program and argument count only", got)
	}
}

func TestSpecErrorHidesExecArgs(t *testing.T) {
	_, err := credential.ParseSpec(`exec:vault -token=hunter2 "unterminated`)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v must exist and not repeat the command", err)
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"file:/run/secrets/podium_token", "file:///x", "env:PODIUM_TOKEN", "exec:vault kv get -field=token 'a b'",
		`exec:a "b\"c" d\ e`, "/abs", "./rel", "file://host/x", "exec:'", "env:", ":", "file:..", "exec:\\", "vault:secret/podium#token", "vault:kv/a/b", "vault:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := credential.ParseSpec(in)
		if err != nil {
			if !errors.Is(err, credential.ErrSpec) {
				t.Fatalf("error %v does not wrap ErrSpec", err)
			}
			if rest, ok := strings.CutPrefix(in, "exec:"); ok && len(rest) > 16 && strings.Contains(err.Error(), rest) {
				t.Fatalf("error repeats the exec command")
			}
			return
		}
		switch s.Kind {
		case credential.KindFile, credential.KindEnv:
			again, err := credential.ParseSpec(s.String())
			if err != nil || again.Kind != s.Kind || again.Path != s.Path || again.Var != s.Var {
				t.Fatalf("round trip of %q: %+v, %v; want %+v", s.String(), again, err, s)
			}
		case credential.KindVault:
			again, err := credential.ParseSpec(s.String())
			if err != nil || again.Kind != s.Kind || again.Vault != s.Vault {
				t.Fatalf("round trip of %q: %+v, %v; want %+v", s.String(), again, err, s)
			}
		case credential.KindExec:
			if len(s.Argv) == 0 || s.Argv[0] == "" {
				t.Fatalf("exec spec with no program: %q", in)
			}
		default:
			t.Fatalf("kind %q", s.Kind)
		}
	})
}

func FuzzSplitCommand(f *testing.F) {
	for _, s := range []string{`a b c`, `'a b' "c\"d" e\ f`, `"$HOME" '\'`, "a\\\nb", `""`, `''x`, "  \t", `a"b"'c'`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		words, err := credential.SplitCommand(in)
		if err != nil {
			return
		}
		// Quote each word and split again: the words must survive.
		var b strings.Builder
		for i, w := range words {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString("'" + strings.ReplaceAll(w, "'", `'\''`) + "'")
		}
		again, err := credential.SplitCommand(b.String())
		if err != nil || !slices.Equal(again, words) {
			t.Fatalf("re-split of %q = %q, %v; want %q", b.String(), again, err, words)
		}
	})
}
