package secretfile_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"voicetoken/internal/secretfile"
)

func TestModeWarning(t *testing.T) {
	tests := []struct {
		name string
		mode os.FileMode
		want string // "" for no warning, else a substring
	}{
		{name: "owner only", mode: 0o600, want: ""},
		{name: "owner read-only", mode: 0o400, want: ""},
		{name: "group readable", mode: 0o640, want: "mode 0640"},
		{name: "world readable", mode: 0o644, want: "chmod 600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(p, []byte("s"), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, tt.mode); err != nil { // past the umask
				t.Fatal(err)
			}
			got := secretfile.ModeWarning(p)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("ModeWarning = %q, want %q", got, tt.want)
			}
		})
	}
	if got := secretfile.ModeWarning(filepath.Join(t.TempDir(), "missing")); got != "" {
		t.Errorf("missing file: %q, want no warning", got)
	}
}
