// Package check turns the operator's runbook into checks with a clear
// answer. Each step of the seeds' manual procedure (is the token in the
// page still valid, is LiveKit up and accepting our key, does the token
// API answer with a token that verifies, is the key file private) is a
// Check: a name and a function that returns a Result with a Status (ok,
// warn, fail, skipped) and a one-line detail.
//
// # Design
//
// A Runner runs a list of checks in parallel, each under its own timeout.
// Checks may name earlier checks they need (Needs): "livekit api" needs
// "livekit", so when the server is down the table shows one clear failure
// and a skipped line, not the same connection error twice. Because a check
// may only need checks listed before it, the graph cannot have cycles.
// A check that ignores its context is abandoned after its timeout plus a
// grace period and reported as failed, so one hung step cannot hang cron.
//
// The runner, not each check, measures durations with an injected clock
// and makes every detail one printable line with anything that looks like
// a JWT replaced by its fingerprint: a token never reaches a terminal, a
// log or a metric label through this package, whatever a server echoes.
//
// Report writers take an io.Writer: an aligned table (colour only when the
// caller says the writer is a terminal) and JSON. Metrics exports results
// as Prometheus gauges on a registry the caller owns; Watch re-runs a
// round on an interval until its context ends.
//
// FixPage is the one check that writes: it re-mints an expiring token
// hardcoded in a legacy page with the same claims and lifetime, and
// replaces the page atomically (temp file, fsync, rename) with a backup,
// every other byte unchanged.
//
// Checks do their own I/O with size limits; they use the token and keys
// packages and nothing else of ours.
package check
