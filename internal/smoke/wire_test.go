package smoke

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

//lint:file-ignore SA1019 the codec still sends the deprecated DataPacket.kind and reads UserPacket.participant_identity, which LiveKit still sets (wire.go); these tests compare both with LiveKit's own messages.

// The oracle: livekit/protocol's generated types, in tests only. Our
// encoders must produce what the generated decoder reads as the message
// we meant; our decoders must read what the generated encoder wrote as
// the generated decoder does.

func TestEncodeSignalRequestOracle(t *testing.T) {
	tests := []struct {
		name string
		req  signalRequest
		want *livekit.SignalRequest
	}{
		{
			name: "offer",
			req:  signalRequest{Offer: &sessionDescription{Type: "offer", SDP: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}},
			want: &livekit.SignalRequest{Message: &livekit.SignalRequest_Offer{Offer: &livekit.SessionDescription{Type: "offer", Sdp: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}}},
		},
		{
			name: "answer with id",
			req:  signalRequest{Answer: &sessionDescription{Type: "answer", SDP: "v=0\r\n", ID: 7}},
			want: &livekit.SignalRequest{Message: &livekit.SignalRequest_Answer{Answer: &livekit.SessionDescription{Type: "answer", Sdp: "v=0\r\n", Id: 7}}},
		},
		{
			name: "empty answer is still the answer case",
			req:  signalRequest{Answer: &sessionDescription{}},
			want: &livekit.SignalRequest{Message: &livekit.SignalRequest_Answer{Answer: &livekit.SessionDescription{}}},
		},
		{
			name: "trickle for the subscriber",
			req:  signalRequest{Trickle: &trickle{CandidateInit: `{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host","sdpMid":"0","sdpMLineIndex":0}`, Target: targetSubscriber}},
			want: &livekit.SignalRequest{Message: &livekit.SignalRequest_Trickle{Trickle: &livekit.TrickleRequest{
				CandidateInit: `{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host","sdpMid":"0","sdpMLineIndex":0}`,
				Target:        livekit.SignalTarget_SUBSCRIBER,
			}}},
		},
		{
			name: "final trickle for the publisher",
			req:  signalRequest{Trickle: &trickle{Target: targetPublisher, Final: true}},
			want: &livekit.SignalRequest{Message: &livekit.SignalRequest_Trickle{Trickle: &livekit.TrickleRequest{Target: livekit.SignalTarget_PUBLISHER, Final: true}}},
		},
		{
			name: "leave",
			req:  signalRequest{Leave: &leaveRequest{Reason: reasonClientInitiated}},
			want: &livekit.SignalRequest{Message: &livekit.SignalRequest_Leave{Leave: &livekit.LeaveRequest{Reason: livekit.DisconnectReason_CLIENT_INITIATED}}},
		},
		{
			name: "leave with every field",
			req:  signalRequest{Leave: &leaveRequest{CanReconnect: true, Reason: 14, Action: 2}},
			want: &livekit.SignalRequest{Message: &livekit.SignalRequest_Leave{Leave: &livekit.LeaveRequest{
				CanReconnect: true, Reason: livekit.DisconnectReason_CONNECTION_TIMEOUT, Action: livekit.LeaveRequest_RECONNECT,
			}}},
		},
		{
			name: "add track: what smoke publishes",
			req:  signalRequest{AddTrack: &addTrackRequest{CID: "voicetoken-smoke-voice", Name: "voicetoken smoke", Type: trackAudio, Source: sourceMicrophone, DisableRED: true}},
			want: &livekit.SignalRequest{Message: &livekit.SignalRequest_AddTrack{AddTrack: &livekit.AddTrackRequest{
				Cid: "voicetoken-smoke-voice", Name: "voicetoken smoke", Type: livekit.TrackType_AUDIO, Source: livekit.TrackSource_MICROPHONE, DisableRed: true,
			}}},
		},
		{
			name: "add track muted, video, unknown source",
			req:  signalRequest{AddTrack: &addTrackRequest{CID: "c", Type: trackVideo, Muted: true, Source: 99}},
			want: &livekit.SignalRequest{Message: &livekit.SignalRequest_AddTrack{AddTrack: &livekit.AddTrackRequest{Cid: "c", Type: livekit.TrackType_VIDEO, Muted: true, Source: 99}}},
		},
		{
			name: "ping",
			req:  signalRequest{PingReq: &ping{Timestamp: 1795435200123, RTT: 12}},
			want: &livekit.SignalRequest{Message: &livekit.SignalRequest_PingReq{PingReq: &livekit.Ping{Timestamp: 1795435200123, Rtt: 12}}},
		},
		{
			name: "negative values as protobuf writes them",
			req:  signalRequest{PingReq: &ping{Timestamp: -1, RTT: -300}},
			want: &livekit.SignalRequest{Message: &livekit.SignalRequest_PingReq{PingReq: &livekit.Ping{Timestamp: -1, Rtt: -300}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.req.marshal()
			if err != nil {
				t.Fatal(err)
			}
			var got livekit.SignalRequest
			if err := proto.Unmarshal(b, &got); err != nil {
				t.Fatalf("the generated decoder refuses our bytes: %v", err)
			}
			if !proto.Equal(&got, tt.want) {
				t.Errorf("decoded as\n%v\nwant\n%v", &got, tt.want)
			}
			// Same bytes as the generated encoder: both write fields in
			// number order and skip zero values.
			want, err := proto.MarshalOptions{Deterministic: true}.Marshal(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != string(want) {
				t.Errorf("bytes\n%x\nwant\n%x", b, want)
			}
		})
	}
}

func TestSignalRequestNeedsOneCase(t *testing.T) {
	for _, tt := range []struct {
		name string
		req  signalRequest
	}{
		{name: "none", req: signalRequest{}},
		{name: "two", req: signalRequest{Offer: &sessionDescription{}, Leave: &leaveRequest{}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := tt.req.marshal(); err == nil {
				t.Errorf("marshal = %x, want an error", b)
			}
		})
	}
}

func strptr(s string) *string { return &s }

func TestEncodeDataPacketOracle(t *testing.T) {
	tests := []struct {
		name string
		dp   dataPacket
		want *livekit.DataPacket
	}{
		{
			name: "what smoke sends",
			dp: dataPacket{
				Kind: dataReliable, ParticipantIdentity: identityA, DestinationIdentities: []string{identityB},
				User:     &userPacket{Payload: []byte("voicetoken smoke ping 0a0b0c0d"), Topic: strptr(dataTopic), Nonce: []byte("0123456789abcdef")},
				Sequence: 1,
			},
			want: &livekit.DataPacket{
				Kind: livekit.DataPacket_RELIABLE, ParticipantIdentity: identityA, DestinationIdentities: []string{identityB},
				Value: &livekit.DataPacket_User{User: &livekit.UserPacket{
					Payload: []byte("voicetoken smoke ping 0a0b0c0d"), Topic: strptr(dataTopic), Nonce: []byte("0123456789abcdef"),
				}},
				Sequence: 1,
			},
		},
		{
			name: "empty topic is present",
			dp:   dataPacket{User: &userPacket{Topic: strptr(""), ID: strptr("m1")}, DestinationIdentities: []string{"x", "y"}},
			want: &livekit.DataPacket{DestinationIdentities: []string{"x", "y"}, Value: &livekit.DataPacket_User{User: &livekit.UserPacket{Topic: strptr(""), Id: strptr("m1")}}},
		},
		{
			name: "lossy, sid and deprecated identity",
			dp: dataPacket{Kind: 1, ParticipantSID: "PA_x", Sequence: 1 << 31,
				User: &userPacket{ParticipantIdentity: "old", Payload: []byte{0, 1, 2}}},
			want: &livekit.DataPacket{Kind: livekit.DataPacket_LOSSY, ParticipantSid: "PA_x", Sequence: 1 << 31,
				Value: &livekit.DataPacket_User{User: &livekit.UserPacket{ParticipantIdentity: "old", Payload: []byte{0, 1, 2}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got livekit.DataPacket
			if err := proto.Unmarshal(tt.dp.marshal(), &got); err != nil {
				t.Fatalf("the generated decoder refuses our bytes: %v", err)
			}
			if !proto.Equal(&got, tt.want) {
				t.Errorf("decoded as\n%v\nwant\n%v", &got, tt.want)
			}
			// And back through our decoder.
			back, err := decodeDataPacket(tt.dp.marshal())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, fromOracleDataPacket(tt.want)) {
				t.Errorf("round trip\n%s\nwant\n%s", dump(back), dump(fromOracleDataPacket(tt.want)))
			}
		})
	}
}

// sampleParticipant has every field we read and several we skip.
func sampleParticipant(identity string, kind livekit.ParticipantInfo_Kind, tracks ...*livekit.TrackInfo) *livekit.ParticipantInfo {
	return &livekit.ParticipantInfo{
		Sid: "PA_" + identity, Identity: identity, State: livekit.ParticipantInfo_ACTIVE, Tracks: tracks,
		Metadata: `{"role":"x"}`, JoinedAt: 1795435200, JoinedAtMs: 1795435200123, Name: "Name " + identity, Version: 3,
		Permission: &livekit.ParticipantPermission{CanSubscribe: true, CanPublish: true}, Region: "local",
		IsPublisher: len(tracks) > 0, Kind: kind, Attributes: map[string]string{"a": "b"},
		KindDetails: []livekit.ParticipantInfo_KindDetail{livekit.ParticipantInfo_CLOUD_AGENT}, ClientProtocol: 16,
	}
}

func TestDecodeSignalResponseOracle(t *testing.T) {
	audio := &livekit.TrackInfo{Sid: "TR_audio", Type: livekit.TrackType_AUDIO, Name: "greeting", Muted: true,
		Source: livekit.TrackSource_MICROPHONE, MimeType: "audio/opus", Mid: "1"}
	tests := []struct {
		name string
		msg  *livekit.SignalResponse
		want *signalResponse // nil: only compare with the oracle conversion
	}{
		{
			name: "join",
			msg: &livekit.SignalResponse{Message: &livekit.SignalResponse_Join{Join: &livekit.JoinResponse{
				Room:              &livekit.Room{Sid: "RM_1", Name: "smoke-1", EmptyTimeout: 300, NumParticipants: 2},
				Participant:       sampleParticipant(identityB, livekit.ParticipantInfo_STANDARD),
				OtherParticipants: []*livekit.ParticipantInfo{sampleParticipant(identityA, livekit.ParticipantInfo_STANDARD), sampleParticipant("agent-1", livekit.ParticipantInfo_AGENT, audio)},
				ServerVersion:     "1.13.5",
				IceServers:        []*livekit.ICEServer{{Urls: []string{"stun:127.0.0.1:3478", "turn:127.0.0.1:3478?transport=udp"}, Username: "u", Credential: "c"}},
				SubscriberPrimary: true,
				ClientConfiguration: &livekit.ClientConfiguration{
					ForceRelay: livekit.ClientConfigSetting_DISABLED,
				},
				ServerRegion: "local", PingTimeout: 15, PingInterval: 5,
				ServerInfo:  &livekit.ServerInfo{Edition: livekit.ServerInfo_Cloud, Version: "1.13.5", Protocol: 17, Region: "r", NodeId: "ND_1", DebugInfo: "dbg", AgentProtocol: 1},
				SifTrailer:  []byte{1, 2},
				FastPublish: true,
			}}},
			want: &signalResponse{Join: &joinResponse{
				Room:        &room{SID: "RM_1", Name: "smoke-1"},
				Participant: &participantInfo{SID: "PA_" + identityB, Identity: identityB, State: stateActive, Name: "Name " + identityB},
				OtherParticipants: []participantInfo{
					{SID: "PA_" + identityA, Identity: identityA, State: stateActive, Name: "Name " + identityA},
					{SID: "PA_agent-1", Identity: "agent-1", State: stateActive, Name: "Name agent-1", Kind: kindAgent,
						Tracks: []trackInfo{{SID: "TR_audio", Type: trackAudio, Name: "greeting", Muted: true, Source: 2}}},
				},
				ServerVersion:     "1.13.5",
				ICEServers:        []iceServer{{URLs: []string{"stun:127.0.0.1:3478", "turn:127.0.0.1:3478?transport=udp"}, Username: "u", Credential: "c"}},
				SubscriberPrimary: true, ServerRegion: "local", PingTimeout: 15, PingInterval: 5,
				ServerInfo:  &serverInfo{Edition: 1, Version: "1.13.5", Protocol: 17, Region: "r", NodeID: "ND_1"},
				FastPublish: true,
			}},
		},
		{
			name: "empty join",
			msg:  &livekit.SignalResponse{Message: &livekit.SignalResponse_Join{Join: &livekit.JoinResponse{}}},
			want: &signalResponse{Join: &joinResponse{}},
		},
		{
			name: "offer",
			msg:  &livekit.SignalResponse{Message: &livekit.SignalResponse_Offer{Offer: &livekit.SessionDescription{Type: "offer", Sdp: "v=0\r\n", Id: 3, MidToTrackId: map[string]string{"0": "TR_x"}}}},
			want: &signalResponse{Offer: &sessionDescription{Type: "offer", SDP: "v=0\r\n", ID: 3}},
		},
		{
			name: "answer",
			msg:  &livekit.SignalResponse{Message: &livekit.SignalResponse_Answer{Answer: &livekit.SessionDescription{Type: "answer", Sdp: "v=0\r\n"}}},
			want: &signalResponse{Answer: &sessionDescription{Type: "answer", SDP: "v=0\r\n"}},
		},
		{
			name: "trickle",
			msg:  &livekit.SignalResponse{Message: &livekit.SignalResponse_Trickle{Trickle: &livekit.TrickleRequest{CandidateInit: `{"candidate":"c"}`, Target: livekit.SignalTarget_SUBSCRIBER, Final: true}}},
			want: &signalResponse{Trickle: &trickle{CandidateInit: `{"candidate":"c"}`, Target: targetSubscriber, Final: true}},
		},
		{
			name: "participant update",
			msg: &livekit.SignalResponse{Message: &livekit.SignalResponse_Update{Update: &livekit.ParticipantUpdate{
				Participants: []*livekit.ParticipantInfo{{Identity: identityA, State: livekit.ParticipantInfo_DISCONNECTED, DisconnectReason: livekit.DisconnectReason_CLIENT_INITIATED}},
				FullSnapshot: true,
			}}},
			want: &signalResponse{Update: &participantUpdate{
				Participants: []participantInfo{{Identity: identityA, State: stateDisconnected, DisconnectReason: reasonClientInitiated}},
				FullSnapshot: true,
			}},
		},
		{
			name: "leave",
			msg:  &livekit.SignalResponse{Message: &livekit.SignalResponse_Leave{Leave: &livekit.LeaveRequest{CanReconnect: true, Reason: livekit.DisconnectReason_ROOM_DELETED, Action: livekit.LeaveRequest_RESUME, Regions: &livekit.RegionSettings{}}}},
			want: &signalResponse{Leave: &leaveRequest{CanReconnect: true, Reason: 5, Action: 1}},
		},
		{
			name: "refresh token: seen, not kept",
			msg:  &livekit.SignalResponse{Message: &livekit.SignalResponse_RefreshToken{RefreshToken: "eyJhbGciOiJIUzI1NiJ9.e30.sig"}},
			want: &signalResponse{RefreshToken: true},
		},
		{
			name: "pong response",
			msg:  &livekit.SignalResponse{Message: &livekit.SignalResponse_PongResp{PongResp: &livekit.Pong{LastPingTimestamp: 10, Timestamp: 11}}},
			want: &signalResponse{PongResp: &pong{LastPingTimestamp: 10, Timestamp: 11}},
		},
		{
			name: "old pong",
			msg:  &livekit.SignalResponse{Message: &livekit.SignalResponse_Pong{Pong: 99}},
			want: &signalResponse{Other: 18},
		},
		{
			name: "speakers changed",
			msg: &livekit.SignalResponse{Message: &livekit.SignalResponse_SpeakersChanged{SpeakersChanged: &livekit.SpeakersChanged{Speakers: []*livekit.SpeakerInfo{
				{Sid: "PA_1", Level: 0.5, Active: true}, {Sid: "PA_2"}, {Sid: "PA_3", Level: 1e-7},
			}}}},
			want: &signalResponse{SpeakersChanged: &speakersChanged{Speakers: []speakerInfo{{SID: "PA_1", Level: 0.5, Active: true}, {SID: "PA_2"}, {SID: "PA_3", Level: 1e-7}}}},
		},
		{
			name: "track published",
			msg: &livekit.SignalResponse{Message: &livekit.SignalResponse_TrackPublished{TrackPublished: &livekit.TrackPublishedResponse{
				Cid: "voicetoken-smoke-voice", Track: &livekit.TrackInfo{Sid: "TR_1", Type: livekit.TrackType_AUDIO, Name: "smoke", Source: livekit.TrackSource_MICROPHONE, MimeType: "audio/opus", Stereo: true},
			}}},
			want: &signalResponse{TrackPublished: &trackPublishedResponse{CID: "voicetoken-smoke-voice", Track: &trackInfo{SID: "TR_1", Type: trackAudio, Name: "smoke", Source: 2}}},
		},
		{
			name: "a case we do not act on",
			msg:  &livekit.SignalResponse{Message: &livekit.SignalResponse_ConnectionQuality{ConnectionQuality: &livekit.ConnectionQualityUpdate{Updates: []*livekit.ConnectionQualityInfo{{ParticipantSid: "PA_1", Score: 4}}}}},
			want: &signalResponse{Other: 12},
		},
		{
			name: "room moved (newest case)",
			msg:  &livekit.SignalResponse{Message: &livekit.SignalResponse_RoomMoved{RoomMoved: &livekit.RoomMovedResponse{Token: "t"}}},
			want: &signalResponse{Other: 24},
		},
		{
			name: "no case",
			msg:  &livekit.SignalResponse{},
			want: &signalResponse{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := proto.Marshal(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeSignalResponse(b)
			if err != nil {
				t.Fatal(err)
			}
			if want := fromOracleSignalResponse(tt.msg); !reflect.DeepEqual(got, want) {
				t.Errorf("decoded\n%s\noracle says\n%s", dump(got), dump(want))
			}
			if tt.want != nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decoded\n%s\nwant\n%s", dump(got), dump(tt.want))
			}
		})
	}
}

// TestDecodeProtobufRules feeds hand-built wire data that the generated
// encoder never writes but another encoder may: repeated scalars, repeated
// and switching oneof cases, wrong wire types, unknown fields. Each must
// decode as the generated decoder decodes it.
func TestDecodeProtobufRules(t *testing.T) {
	msg := func(num protowire.Number, body []byte) []byte {
		return appendMessage(nil, num, body)
	}
	join := func(fields ...[]byte) []byte { return msg(1, cat(fields...)) }
	tests := []struct {
		name string
		wire []byte
	}{
		{name: "last scalar wins", wire: join(appendString(nil, 4, "1.0"), appendString(nil, 4, "2.0"))},
		{name: "message field seen twice merges", wire: join(msg(1, appendString(nil, 1, "RM_1")), msg(1, appendString(nil, 2, "room")))},
		{name: "oneof case repeated merges", wire: cat(join(appendString(nil, 4, "v")), join(appendVarint(nil, 10, 15)))},
		{name: "oneof switches to the last case", wire: cat(join(appendString(nil, 4, "v")), msg(3, appendString(nil, 2, "sdp")))},
		{name: "oneof switches back", wire: cat(msg(3, appendString(nil, 2, "sdp")), join(appendString(nil, 4, "v")))},
		{name: "repeated appends across occurrences", wire: join(msg(3, appendString(nil, 2, "x")), appendString(nil, 4, "v"), msg(3, appendString(nil, 2, "y")))},
		{name: "unknown fields skipped", wire: cat(protowire.AppendTag(nil, 99, protowire.Fixed64Type), make([]byte, 8), join(protowire.AppendTag(nil, 1000, protowire.Fixed32Type), make([]byte, 4)))},
		{name: "wrong wire type for a case is unknown", wire: cat(msg(3, nil), protowire.AppendTag(nil, 1, protowire.VarintType), []byte{1})},
		{name: "wrong wire type inside a message", wire: join(protowire.AppendTag(nil, 6, protowire.BytesType), []byte{1, 1}, appendString(nil, 4, "v"))},
		{name: "scalar as varint for a string field", wire: join(appendVarint(nil, 4, 3))},
		{name: "non-canonical bool", wire: join(appendVarint(nil, 6, 7))},
		{name: "int32 from a 64-bit varint", wire: join(protowire.AppendTag(nil, 10, protowire.VarintType), protowire.AppendVarint(nil, 1<<40|5))},
		{name: "negative enum", wire: msg(5, msg(1, appendInt(nil, 14, -3)))},
		{name: "refresh token then join", wire: cat(appendString(nil, 16, "tok"), join())},
		{name: "pong as varint", wire: cat(join(), appendVarint(nil, 18, 5))},
		{name: "speaker level as a varint is unknown", wire: msg(10, msg(1, cat(appendString(nil, 1, "PA_1"), appendVarint(nil, 2, 5))))},
		{name: "speaker level twice: last wins", wire: msg(10, msg(1, cat(protowire.AppendFixed32(protowire.AppendTag(nil, 2, protowire.Fixed32Type), 0x3f000000), protowire.AppendFixed32(protowire.AppendTag(nil, 2, protowire.Fixed32Type), 0x3e800000))))},
		{name: "track published merges its track", wire: msg(6, cat(msg(2, appendString(nil, 1, "TR_1")), msg(2, appendInt(nil, 2, 1))))},
		{name: "group field skipped", wire: cat(protowire.AppendTag(nil, 50, protowire.StartGroupType), appendVarint(nil, 1, 1), protowire.AppendTag(nil, 50, protowire.EndGroupType), join())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want livekit.SignalResponse
			if err := proto.Unmarshal(tt.wire, &want); err != nil {
				t.Fatalf("the generated decoder refuses the input: %v", err)
			}
			got, err := decodeSignalResponse(tt.wire)
			if err != nil {
				t.Fatal(err)
			}
			if w := fromOracleSignalResponse(&want); !reflect.DeepEqual(got, w) {
				t.Errorf("decoded\n%s\noracle says\n%s", dump(got), dump(w))
			}
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	good, _ := proto.Marshal(&livekit.SignalResponse{Message: &livekit.SignalResponse_Join{Join: &livekit.JoinResponse{
		Room: &livekit.Room{Name: "smoke"}, OtherParticipants: []*livekit.ParticipantInfo{{Identity: "a"}},
	}}})
	tests := []struct {
		name string
		wire []byte
	}{
		{name: "truncated", wire: good[:len(good)-1]},
		{name: "length beyond the end", wire: []byte{0x0a, 0x7f, 0x00}},
		{name: "field number zero", wire: []byte{0x00, 0x01}},
		{name: "varint too long", wire: append([]byte{0x08}, []byte(strings.Repeat("\xff", 11))...)},
		{name: "end group without start", wire: []byte{0x0c}},
		{name: "nested truncated", wire: appendMessage(nil, 1, []byte{0x1a, 0x05, 0x12})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeSignalResponse(tt.wire); !errors.Is(err, ErrDecode) {
				t.Errorf("err = %v, want ErrDecode", err)
			}
			if err := proto.Unmarshal(tt.wire, &livekit.SignalResponse{}); err == nil {
				t.Errorf("the generated decoder accepts it: the case is not malformed")
			}
		})
	}
}

// dump shows a decoded message in full, pointers followed.
func dump(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// --- conversions from the generated types to ours ---

func fromOracleParticipant(p *livekit.ParticipantInfo) participantInfo {
	out := participantInfo{
		SID: p.Sid, Identity: p.Identity, State: participantState(p.State), Name: p.Name,
		Kind: participantKind(p.Kind), DisconnectReason: disconnectReason(p.DisconnectReason),
	}
	for _, t := range p.Tracks {
		out.Tracks = append(out.Tracks, trackInfo{SID: t.Sid, Type: trackType(t.Type), Name: t.Name, Muted: t.Muted, Source: int32(t.Source)})
	}
	return out
}

func fromOracleSD(s *livekit.SessionDescription) *sessionDescription {
	return &sessionDescription{Type: s.Type, SDP: s.Sdp, ID: s.Id}
}

func fromOracleSignalResponse(m *livekit.SignalResponse) *signalResponse {
	out := &signalResponse{}
	switch v := m.Message.(type) {
	case nil:
	case *livekit.SignalResponse_Join:
		j := v.Join
		o := &joinResponse{
			ServerVersion: j.ServerVersion, SubscriberPrimary: j.SubscriberPrimary, AlternativeURL: j.AlternativeUrl,
			ServerRegion: j.ServerRegion, PingTimeout: j.PingTimeout, PingInterval: j.PingInterval, FastPublish: j.FastPublish,
		}
		if j.Room != nil {
			o.Room = &room{SID: j.Room.Sid, Name: j.Room.Name}
		}
		if j.Participant != nil {
			p := fromOracleParticipant(j.Participant)
			o.Participant = &p
		}
		for _, p := range j.OtherParticipants {
			o.OtherParticipants = append(o.OtherParticipants, fromOracleParticipant(p))
		}
		for _, s := range j.IceServers {
			o.ICEServers = append(o.ICEServers, iceServer{URLs: s.Urls, Username: s.Username, Credential: s.Credential})
		}
		if s := j.ServerInfo; s != nil {
			o.ServerInfo = &serverInfo{Edition: int32(s.Edition), Version: s.Version, Protocol: s.Protocol, Region: s.Region, NodeID: s.NodeId}
		}
		out.Join = o
	case *livekit.SignalResponse_Answer:
		out.Answer = fromOracleSD(v.Answer)
	case *livekit.SignalResponse_Offer:
		out.Offer = fromOracleSD(v.Offer)
	case *livekit.SignalResponse_Trickle:
		out.Trickle = &trickle{CandidateInit: v.Trickle.CandidateInit, Target: signalTarget(v.Trickle.Target), Final: v.Trickle.Final}
	case *livekit.SignalResponse_Update:
		u := &participantUpdate{FullSnapshot: v.Update.FullSnapshot}
		for _, p := range v.Update.Participants {
			u.Participants = append(u.Participants, fromOracleParticipant(p))
		}
		out.Update = u
	case *livekit.SignalResponse_Leave:
		out.Leave = &leaveRequest{CanReconnect: v.Leave.CanReconnect, Reason: disconnectReason(v.Leave.Reason), Action: int32(v.Leave.Action)}
	case *livekit.SignalResponse_TrackPublished:
		tp := &trackPublishedResponse{CID: v.TrackPublished.Cid}
		if t := v.TrackPublished.Track; t != nil {
			tp.Track = &trackInfo{SID: t.Sid, Type: trackType(t.Type), Name: t.Name, Muted: t.Muted, Source: int32(t.Source)}
		}
		out.TrackPublished = tp
	case *livekit.SignalResponse_SpeakersChanged:
		sc := &speakersChanged{}
		for _, s := range v.SpeakersChanged.Speakers {
			sc.Speakers = append(sc.Speakers, speakerInfo{SID: s.Sid, Level: s.Level, Active: s.Active})
		}
		out.SpeakersChanged = sc
	case *livekit.SignalResponse_RefreshToken:
		out.RefreshToken = true
	case *livekit.SignalResponse_PongResp:
		out.PongResp = &pong{LastPingTimestamp: v.PongResp.LastPingTimestamp, Timestamp: v.PongResp.Timestamp}
	default:
		od := m.ProtoReflect().Descriptor().Oneofs().ByName("message")
		out.Other = m.ProtoReflect().WhichOneof(od).Number()
	}
	return out
}

func fromOracleDataPacket(m *livekit.DataPacket) *dataPacket {
	out := &dataPacket{
		Kind: dataKind(m.Kind), ParticipantIdentity: m.ParticipantIdentity, DestinationIdentities: m.DestinationIdentities,
		Sequence: m.Sequence, ParticipantSID: m.ParticipantSid,
	}
	switch v := m.Value.(type) {
	case nil:
	case *livekit.DataPacket_User:
		u := v.User
		out.User = &userPacket{ParticipantIdentity: u.ParticipantIdentity, Payload: u.Payload, Topic: u.Topic, ID: u.Id, Nonce: u.Nonce}
	default:
		od := m.ProtoReflect().Descriptor().Oneofs().ByName("value")
		out.Other = m.ProtoReflect().WhichOneof(od).Number()
	}
	return out
}
