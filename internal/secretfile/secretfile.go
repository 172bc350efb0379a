// Package secretfile says whether a file that holds a secret (an API key
// file, an agent's token file) is private to its owner. It is its own
// package because keys, credential and check all ask the question and
// none of them owns the others' files.
//
// It only reports: a warning string that names the file and the chmod
// that fixes it. Refusing a loose file is the caller's decision (LiveKit's
// server refuses a key file readable by others; voicetoken warns).
package secretfile

import (
	"fmt"
	"os"
)

// ModeWarning returns a warning when the file at path can be read by
// group or others, and "" when it is private or cannot be stat'ed (the
// caller reading it reports that error).
func ModeWarning(path string) string {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return ""
	}
	return fmt.Sprintf("%s has mode %#o: secrets should be readable by the owner only (chmod 600 %s)", path, fi.Mode().Perm(), path)
}
