// Package credential holds an agent's upstream token: the JWT that a
// platform such as Podium signed for an AI co-host, which voicetoken cannot
// mint and can only store, validate, serve, rotate and watch.
//
// # Design
//
// A [Spec] names one place the token lives; [Open] makes the [Reader]
// for it. Each kind of source is one small type in its own file behind
// that interface (file.go, env.go, exec.go, vault.go), registered in one
// table (kinds, in kind.go), in the manner of Vault Agent's
// auth.AuthMethod and sink.Sink: a Reader reads; a [Watcher] can also say
// when the value may have changed; a [Writer] is what `rotate` can
// replace; a [Keeper] has work of its own while the source runs (a vault:
// source renews its Vault token). [Source], `check`, `rotate`, `proxy`
// and `run` all go through this one model, so they accept and refuse the
// same specs. A [Source] keeps the current value of one Reader:
//
//   - file:PATH  a file, e.g. /run/secrets/podium_token or a Kubernetes
//     Secret volume. Reloaded without restart: the *directory* is watched
//     with fsnotify (so an editor's write-to-temp-and-rename and
//     Kubernetes' ..data symlink swap are both seen), contents are compared
//     by SHA-256 so unrelated events cost one small read, and a periodic
//     poll is a safety net for lost events. [Source.Reload] forces a read
//     (the command wires it to SIGHUP).
//   - env:NAME   an environment variable: the weakest option, since the
//     value is visible to anything that can read the process environment
//     and cannot change without a restart.
//   - vault:MOUNT/PATH#FIELD  one field of a Vault (or OpenBao) KV v2
//     secret, read over Vault's HTTP API (package vault) and re-read on
//     the exec: schedule below.
//   - exec:CMD ARGS...  a command whose stdout is the token, the way
//     kubectl's exec credential plugins and AWS credential_process reach a
//     secret store without linking its SDK. It is re-run on an interval
//     and before the token expires, with a timeout. Its stderr is never
//     logged (it may echo the secret): only its length and fingerprint.
//
// Every new value is validated by a [Policy] before it replaces the old
// one: JWT shape (any algorithm; the signature is the platform's to check),
// exp in the future, optionally an expected iss and aud, and then by
// Config.Accept when set (package probe asks the platform). A bad value is
// refused with a CREDENTIAL_REJECTED event and the old one stays in use.
// With Config.StartEmpty a Source starts without a valid value
// (CREDENTIAL_MISSING; Current is nil and Missing says why) and takes the
// first valid one that appears.
//
// Time is injected: Config.Now, and a [Ticker] for the poll and refresh
// (Config.Ticker) and for the Vault token's renewal (Config.RenewTicker),
// so a test drives one poll at a time and knows when it is done
// (credentialtest.Ticker, after setec's PollTicker).
// The current value sits behind an atomic pointer: readers never block and
// never see half a value.
//
// The token itself never reaches a log line, an error or a String method:
// a [Credential] prints as its fingerprint (the first 8 hex digits of its
// SHA-256, see token.Fingerprint). Events are JSON lines with stable
// "event" keys: CREDENTIAL_LOADED, CREDENTIAL_REJECTED, CREDENTIAL_EXPIRING.
//
// [Rotate] is the writing side, used by `voicetoken rotate`: validate,
// back up the previous value, then write the new one atomically (temporary
// file in the same directory, fsync, rename, fsync of the directory, mode
// 0600), so that a crash at any point leaves either the old or the new
// token in place, never a truncated file. [RotateVault] writes a new
// version of a Vault secret with check-and-set on the version read; Vault
// keeps the previous version.
//
// Files inside a git work tree, or named like .env / .env.local, are
// refused unless forced: the rotation SOP forbids tokens in files that can
// be committed.
package credential
