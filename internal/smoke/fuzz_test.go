package smoke

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// seedSignalResponses are realistic messages for the fuzzer to mutate.
func seedSignalResponses(f *testing.F) {
	msgs := []*livekit.SignalResponse{
		{Message: &livekit.SignalResponse_Join{Join: &livekit.JoinResponse{
			Room:              &livekit.Room{Sid: "RM_1", Name: "smoke-1"},
			Participant:       sampleParticipant(identityB, livekit.ParticipantInfo_STANDARD),
			OtherParticipants: []*livekit.ParticipantInfo{sampleParticipant("agent", livekit.ParticipantInfo_AGENT, &livekit.TrackInfo{Sid: "TR_1", Type: livekit.TrackType_AUDIO})},
			IceServers:        []*livekit.ICEServer{{Urls: []string{"stun:127.0.0.1:3478"}}},
			ServerInfo:        &livekit.ServerInfo{Version: "1.13.5", Protocol: 17},
			PingInterval:      5, PingTimeout: 15, SubscriberPrimary: true,
		}}},
		{Message: &livekit.SignalResponse_Offer{Offer: &livekit.SessionDescription{Type: "offer", Sdp: "v=0\r\n", Id: 1}}},
		{Message: &livekit.SignalResponse_Trickle{Trickle: &livekit.TrickleRequest{CandidateInit: `{"candidate":"c"}`, Target: livekit.SignalTarget_SUBSCRIBER}}},
		{Message: &livekit.SignalResponse_Update{Update: &livekit.ParticipantUpdate{Participants: []*livekit.ParticipantInfo{{Identity: "a", State: livekit.ParticipantInfo_DISCONNECTED}}}}},
		{Message: &livekit.SignalResponse_Leave{Leave: &livekit.LeaveRequest{Reason: livekit.DisconnectReason_ROOM_DELETED}}},
		{Message: &livekit.SignalResponse_PongResp{PongResp: &livekit.Pong{LastPingTimestamp: 1, Timestamp: 2}}},
		{Message: &livekit.SignalResponse_SpeakersChanged{SpeakersChanged: &livekit.SpeakersChanged{Speakers: []*livekit.SpeakerInfo{{Sid: "PA_1", Level: 0.25, Active: true}}}}},
		{Message: &livekit.SignalResponse_TrackPublished{TrackPublished: &livekit.TrackPublishedResponse{Cid: "c", Track: &livekit.TrackInfo{Sid: "TR_1"}}}},
	}
	for _, m := range msgs {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x7f})
	f.Add(appendMessage(appendString(nil, 16, "tok"), 1, nil))
}

// FuzzDecodeSignalResponse: decoding any input never panics, fails only
// with ErrDecode, and whenever the generated decoder accepts the input
// ours accepts it too and reads the same values. Work is linear in the
// input: there is no recursion beyond the schema's fixed depth, and the
// WebSocket read limit (maxSignalMessage) bounds the input.
func FuzzDecodeSignalResponse(f *testing.F) {
	seedSignalResponses(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeSignalResponse(b)
		if err != nil && !errors.Is(err, ErrDecode) {
			t.Fatalf("error %v is not ErrDecode", err)
		}
		var oracle livekit.SignalResponse
		if proto.Unmarshal(b, &oracle) != nil {
			return // the generated decoder refuses it: any error of ours is fine
		}
		if err != nil {
			t.Fatalf("the generated decoder accepts %x, ours says %v", b, err)
		}
		if want := fromOracleSignalResponse(&oracle); !reflect.DeepEqual(sameNaN(got), sameNaN(want)) {
			t.Fatalf("input %x\ndecoded\n%s\noracle says\n%s", b, dump(got), dump(want))
		}
	})
}

// sameNaN makes a NaN level (the input's bits are kept, and NaN is not
// equal to itself) compare equal to NaN for reflect.DeepEqual.
func sameNaN(r *signalResponse) *signalResponse {
	if r == nil || r.SpeakersChanged == nil {
		return r
	}
	out := *r
	sc := &speakersChanged{Speakers: slices.Clone(r.SpeakersChanged.Speakers)}
	for i := range sc.Speakers {
		if l := sc.Speakers[i].Level; l != l {
			sc.Speakers[i].Level = -1
		}
	}
	out.SpeakersChanged = sc
	return &out
}

// FuzzDecodeDataPacket is the same for data channel messages, which
// come from other participants through LiveKit.
func FuzzDecodeDataPacket(f *testing.F) {
	topic := dataTopic
	for _, m := range []*livekit.DataPacket{
		{DestinationIdentities: []string{identityB}, Sequence: 1, ParticipantIdentity: identityA,
			Value: &livekit.DataPacket_User{User: &livekit.UserPacket{Payload: []byte("ping"), Topic: &topic, Nonce: make([]byte, 16)}}},
		{Value: &livekit.DataPacket_RpcRequest{RpcRequest: &livekit.RpcRequest{Id: "1", Method: "m"}}},
		{Kind: livekit.DataPacket_LOSSY, Value: &livekit.DataPacket_ChatMessage{ChatMessage: &livekit.ChatMessage{Message: "hi"}}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(protowire.AppendTag(nil, 2, protowire.BytesType))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeDataPacket(b)
		if err != nil && !errors.Is(err, ErrDecode) {
			t.Fatalf("error %v is not ErrDecode", err)
		}
		var oracle livekit.DataPacket
		if proto.Unmarshal(b, &oracle) != nil {
			return
		}
		if err != nil {
			t.Fatalf("the generated decoder accepts %x, ours says %v", b, err)
		}
		if want := fromOracleDataPacket(&oracle); !reflect.DeepEqual(got, want) {
			t.Fatalf("input %x\ndecoded\n%s\noracle says\n%s", b, dump(got), dump(want))
		}
	})
}
