// Package credential holds an agent's upstream token: the JWT that a
// platform such as Podium signed for an AI co-host, which voicetoken cannot
// mint and can only store, validate, serve, rotate and watch.
//
// # Design
//
// A [Source] reads the token from one place named by a [Spec]:
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
// exp in the future, optionally an expected iss and aud. A bad value is
// refused with a CREDENTIAL_REJECTED event and the old one stays in use.
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
