package main

import "voicetoken/internal/token"

// Exit codes of voicetoken, documented in the README. They are the
// command line's contract, so they live here and not in the packages
// whose answers they report.
const (
	exitValid   = 0 // VALID; every other command: success
	exitExpired = 1 // EXPIRED, or EXPIRING within --warn; every other command: failure
	exitInvalid = 2 // BAD SIGNATURE, MALFORMED, NOT YET VALID
	exitUsage   = 3 // the command line itself is wrong
)

// verdictExit maps a verdict of `verify` to its exit code.
func verdictExit(v token.Verdict) int {
	switch v {
	case token.Valid:
		return exitValid
	case token.Expiring, token.Expired:
		return exitExpired
	default:
		return exitInvalid
	}
}
