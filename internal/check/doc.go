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
// Plan decides which checks one run of `voicetoken check` makes from a
// PlanOptions, and what each needs: dependencies are named by constants
// (NameKeys, NameLiveKit, NameServeHealth), and a row that needs no key
// (the serve page, the LiveKit URL serve hands out) says so in the plan's
// table rather than in a special case. The command only resolves flags
// into PlanOptions.
//
// Checks do their own I/O with size limits. Of ours they use token (parse,
// verify, mint), keys (load the API keys), secretfile (is a key file
// private), page (the token in an HTML page), credential (read an agent's
// upstream token as proxy does) and vault (the Vault token's TTL): each
// check reads through the same code the command it checks runs, so a check
// cannot pass where the real path would fail. Nothing here imports server,
// upstream or the command.
package check
