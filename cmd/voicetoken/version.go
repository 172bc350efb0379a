package main

import (
	"context"
	"encoding/json"
	"fmt"

	buildinfo "voicetoken/internal/version"
)

const versionUsage = `Usage: voicetoken version [--json]

Prints the version, the commit and commit time it was built from, and the
Go toolchain. Release builds (scripts/build.sh) stamp them; a 'go build'
in a clone reads them from git; 'go run' says (devel).
-v, -version and --version are aliases.`

func runVersion(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "version", versionUsage)
	asJSON := fs.Bool("json", false, "print {version, commit, date, modified, go, platform} as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q: version takes --json only", fs.Arg(0))
	}
	in := buildinfo.Get()
	if !*asJSON {
		fmt.Fprintln(e.stdout, "voicetoken", in)
		return nil
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(in)
}

// version is the build's version, for serve's /api/config and smoke's
// report.
func version() string { return buildinfo.Get().Version }
