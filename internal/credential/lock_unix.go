//go:build unix

package credential

import (
	"os"
	"syscall"
)

// lockDir takes an exclusive flock on dir (shared for a dry run) so two
// rotates of one directory do not interleave. The lock dies with the
// process, so a crash never leaves it held.
func lockDir(dir string, shared bool) (func(), error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	how := syscall.LOCK_EX
	if shared {
		how = syscall.LOCK_SH
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}
