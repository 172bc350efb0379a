// Package smoke joins a real LiveKit room with two participants and does
// a data round trip between them: the seed runbook's step 4 ("WebSocket
// connects, joins, greets, one round trip") as a command with a clear
// answer.
//
// # Design
//
// Run mints two short-lived tokens for a fresh room, then takes the steps
// of a LiveKit client one by one, each reported as a check.Result with
// its time: participant A joins, B joins, both peer connections of each
// come up with their data channels open, each sees the other, A sends B a
// message on the reliable data channel, B answers (the round trip), an
// agent dispatched by A's token joins (optional), A hears its greeting,
// speaks an utterance and hears its reply (the voice round trip, whose
// reply latency is the figure voice agents are judged by), and both
// leave, B seeing A go. After a failed step the rest are
// skipped and whoever joined leaves. Results go through check.Runner, so
// a detail is one printable line with anything JWT-shaped replaced by its
// fingerprint, and check's table and JSON writers print them.
//
// The client is written here rather than taken from LiveKit's Go SDK:
// the SDK does not build against the livekit/protocol version this module
// tests with, and the voicetoken binary must not link livekit/protocol at
// all. It follows the SDK's flow (protocol 16): a WebSocket to /rtc with
// the token in the Authorization header (never in a URL, so no error or
// log line can carry it), LiveKit's JoinResponse, a publisher peer
// connection we offer with a "_reliable" data channel, a subscriber peer
// connection LiveKit offers, ICE candidates trickled both ways, and a
// LeaveRequest at the end. When the WebSocket upgrade is refused, GET
// /rtc/validate gives LiveKit's own reason, as LiveKit's JS client does.
//
// The protobuf messages are encoded and decoded by hand with protowire
// (wire.go), only the fields this needs. The oracle tests compare them,
// both ways, with livekit/protocol's generated types, which only tests
// import; a fuzz test checks that decoding never panics and agrees with
// the generated code on every input the latter accepts.
//
// WebRTC is pion. For a LiveKit on loopback only loopback candidates are
// gathered and LiveKit's STUN servers are not used, so a local run sends
// nothing off the machine; elsewhere LiveKit's ICE servers are used as
// its SDKs do. B negotiates no media (auto_subscribe=0). With an agent, A
// joins with auto_subscribe=1, so LiveKit offers it the agent's audio on
// the subscriber connection, and announces its own Opus track
// (AddTrackRequest) before its first offer.
//
// Hearing needs no Opus decoder: whether the agent speaks is decided per
// RTP packet (voice.go: the RFC 6464 level when the SFU forwards it, else
// the Opus payload's size, with DTX frames as proof of silence), and a
// stretch of speech needs 250 ms of it. Times are taken when packets
// arrive; lengths come from RTP timestamps. The utterance is an Ogg/Opus
// clip (embedded, or Config.Say) read with pion's oggreader and sent
// packet by packet at its own pace; --record writes what was heard with
// pion's oggwriter, without decoding. RunRooms runs sessions in parallel
// and Summarize gives p50/p95/max of join, greeting and reply latency.
package smoke
