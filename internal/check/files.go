package check

import (
	"context"
	"errors"
	"io/fs"
	"os"

	"voicetoken/internal/secretfile"
)

// FileMode checks that a file holding secrets exists and that only its
// owner can read it. loose is the status when group or others can: Fail
// for LiveKit's key file (the server itself refuses it), Warn for a .env
// file.
func FileMode(name, path string, loose Status) Check {
	return Check{Name: name, Run: func(ctx context.Context) Result {
		fi, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return Failf("%s does not exist", path)
		case err != nil:
			return Failf("cannot stat: %v", err)
		case !fi.Mode().IsRegular():
			return Failf("%s is not a regular file", path)
		}
		if w := secretfile.ModeWarning(path); w != "" {
			return Result{Status: loose, Detail: w}
		}
		return Okf("%s has mode %#o", path, fi.Mode().Perm())
	}}
}
