package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// completionScript writes `voicetoken completion SHELL` to a file.
func completionScript(t *testing.T, shell string) string {
	t.Helper()
	r := runCLI(t, nil, "", "completion", shell)
	if r.code != 0 || r.stdout == "" {
		t.Fatalf("completion %s: exit %d %s", shell, r.code, r.stderr)
	}
	p := filepath.Join(t.TempDir(), "voicetoken."+shell)
	if err := os.WriteFile(p, []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// helpFlags returns the flags `voicetoken CMD -h` prints.
func helpFlags(t *testing.T, cmd string) []string {
	t.Helper()
	r := runCLI(t, nil, "", cmd, "-h")
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z][a-z0-9-]*)(?:[ \t]|$)`).FindAllStringSubmatch(r.stderr, -1) {
		out = append(out, "--"+m[1])
	}
	slices.Sort(out)
	return out
}

// bashComplete runs the bash completion function on a command line whose
// last word is being completed and returns the words it offers.
func bashComplete(t *testing.T, script string, words ...string) []string {
	t.Helper()
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = "'" + w + "'"
	}
	prog := `source "$1"; COMP_WORDS=(` + strings.Join(quoted, " ") + `); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _voicetoken; printf '%s\n' "${COMPREPLY[@]}"`
	out, err := exec.Command("bash", "-c", prog, "bash", script).CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	return strings.Fields(string(out))
}

func TestCompletionBash(t *testing.T) {
	script := completionScript(t, "bash")
	out, err := exec.Command("bash", "-c", `source "$1"; complete -p voicetoken`, "bash", script).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "complete -o default -F _voicetoken voicetoken") {
		t.Fatalf("complete -p: %v %s", err, out)
	}
	tests := []struct {
		name  string
		words []string
		want  []string
	}{
		{name: "subcommands", words: []string{"voicetoken", "ve"}, want: []string{"verify", "version"}},
		{name: "mint's sip flags", words: []string{"voicetoken", "mint", "--sip"}, want: []string{"--sip-admin", "--sip-call"}},
		{name: "after a value flag: files, not flags", words: []string{"voicetoken", "verify", "--html", ""}, want: nil},
		{name: "after a bool flag: flags again", words: []string{"voicetoken", "version", "--json", "--j"}, want: []string{"--json"}},
		{name: "shells", words: []string{"voicetoken", "completion", ""}, want: []string{"bash", "zsh", "fish"}},
		{name: "help's commands", words: []string{"voicetoken", "help", "sm"}, want: []string{"smoke"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := bashComplete(t, script, tt.words...); !slices.Equal(got, tt.want) {
				t.Errorf("%q: offered %q, want %q", tt.words, got, tt.want)
			}
		})
	}
	// Every command offers exactly the flags its -h lists.
	for _, c := range commands() {
		t.Run("flags of "+c.name, func(t *testing.T) {
			got := bashComplete(t, script, "voicetoken", c.name, "-")
			slices.Sort(got)
			if want := helpFlags(t, c.name); !slices.Equal(got, want) {
				t.Errorf("completion offers %q\n-h lists %q", got, want)
			}
		})
	}
}

// zsh and fish parse their scripts (-n) and, where the shell can say so
// without a terminal, register them. Skipped when the shell is missing.
func TestCompletionZshFish(t *testing.T) {
	for _, tt := range []struct {
		shell string
		check string // a command that fails unless the script registered
	}{
		{"zsh", `autoload -Uz compinit && compinit -u -D && source "$1" && [[ ${_comps[voicetoken]} == _voicetoken ]]`},
		{"fish", `source $argv[1]; and complete -C'voicetoken mint --sip' | string match -q -- '--sip-admin*'`},
	} {
		t.Run(tt.shell, func(t *testing.T) {
			if _, err := exec.LookPath(tt.shell); err != nil {
				t.Skipf("%s is not installed (apt-get install %s)", tt.shell, tt.shell)
			}
			script := completionScript(t, tt.shell)
			if out, err := exec.Command(tt.shell, "-n", script).CombinedOutput(); err != nil {
				t.Fatalf("%s -n: %v\n%s", tt.shell, err, out)
			}
			cmd := exec.Command(tt.shell, "-c", tt.check, tt.shell, script)
			if tt.shell == "fish" {
				cmd = exec.Command("fish", "-c", tt.check, script)
			}
			cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir(), "XDG_DATA_HOME="+t.TempDir())
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s: %v\n%s", tt.check, err, out)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"-v"}, {"--version"}, {"-version"}} {
		r := runCLI(t, nil, "", args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "voicetoken ") || !strings.Contains(r.stdout, "go1.") {
			t.Errorf("%q: exit %d %q", args, r.code, r.stdout)
		}
	}
	r := runCLI(t, nil, "", "version", "--json")
	for _, key := range []string{`"version":`, `"go": "go1.`, `"platform":`} {
		if !strings.Contains(r.stdout, key) {
			t.Errorf("version --json lacks %s:\n%s", key, r.stdout)
		}
	}
	if r := runCLI(t, nil, "", "version", "extra"); r.code != 3 {
		t.Errorf("version extra: exit %d", r.code)
	}
}

func TestHealth(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.Error(w, "no", http.StatusServiceUnavailable)
		}
	}))
	defer ok.Close()
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{name: "healthy", args: []string{ok.URL + "/healthz"}, code: 0},
		{name: "not 200", args: []string{ok.URL + "/readyz"}, code: 1, stderr: "answered 503 Service Unavailable, want 200"},
		{name: "nothing listening", args: []string{"http://127.0.0.1:1/healthz"}, code: 1, stderr: "is not answering"},
		{name: "two URLs", args: []string{"a", "b"}, code: 3, stderr: "at most one URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, nil, "", append([]string{"health"}, tt.args...)...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", r.code, tt.code, r.stderr, tt.stderr)
			}
		})
	}
}
