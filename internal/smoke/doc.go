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
// agent dispatched by A's token joins and publishes audio (optional),
// and both leave, B seeing A go. After a failed step the rest are
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
// its SDKs do. Media is not negotiated (auto_subscribe=0): the agent's
// audio is seen as a published track in the room's participant list.
package smoke
