//go:build !unix

package credential

// lockDir is a no-op where flock does not exist; concurrent rotates still
// never corrupt the file, the last rename wins.
func lockDir(string, bool) (func(), error) { return func() {}, nil }
