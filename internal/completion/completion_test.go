package completion_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"voicetoken/internal/completion"
)

func TestWrite(t *testing.T) {
	cmds := []completion.Command{{Name: "mint", Summary: "it's [odd]: quoted", Flags: []completion.Flag{
		{Name: "kind", Usage: "kind: 'a' or [b]\nsecond line", Values: []string{"agent", "sip"}},
		{Name: "json", Usage: "as JSON", Bool: true},
	}}}
	tests := []struct {
		shell string
		want  []string
	}{
		{shell: "bash", want: []string{`-kind|--kind) COMPREPLY=($(compgen -W 'agent sip' -- "$cur")); return ;;`, `compgen -W '--kind --json'`, "complete -o default -F _prog prog"}},
		{shell: "zsh", want: []string{`'mint:it'\''s \[odd\]\: quoted'`, `'--kind[kind\: '\''a'\'' or \[b\]]:kind:(agent sip)'`, `'--json[as JSON]'`}},
		{shell: "fish", want: []string{`-a 'mint' -d 'it\'s [odd]: quoted'`, `-l 'kind' -d 'kind: \'a\' or [b]' -x -a 'agent sip'`, `-l 'json' -d 'as JSON'` + "\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.shell, func(t *testing.T) {
			var b strings.Builder
			if err := completion.Write(&b, tt.shell, "prog", cmds); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("script lacks %s\n%s", w, b.String())
				}
			}
			if strings.Contains(b.String(), "second line") {
				t.Errorf("a usage's second line reached the script")
			}
			if sh, err := exec.LookPath(tt.shell); err == nil {
				if out, err := exec.Command(sh, "-n", "-c", b.String()).CombinedOutput(); tt.shell != "fish" && err != nil {
					t.Errorf("%s -n: %v %s", tt.shell, err, out)
				}
			}
		})
	}
	if err := completion.Write(&strings.Builder{}, "tcsh", "prog", cmds); !errors.Is(err, completion.ErrShell) {
		t.Errorf("tcsh: %v, want ErrShell", err)
	}
}
