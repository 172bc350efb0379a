package smoke

import (
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file is the hand-written half of LiveKit's signal protocol: the
// fields of livekit_rtc.proto and livekit_models.proto (protocol v1.54.0)
// that a two-participant smoke test needs, encoded and decoded with
// protowire. Field numbers are quoted from the .proto files next to each
// constant. Decoding follows protobuf's rules so that the result equals
// what the generated code would see: unknown fields and fields of an
// unexpected wire type are skipped, the last value of a scalar wins,
// embedded messages seen twice are merged, repeated fields append, and a
// oneof keeps its last case. The oracle tests check this against
// github.com/livekit/protocol's generated types, which the binary does
// not link.

// ErrDecode means a message from LiveKit is not valid protobuf.
var ErrDecode = errors.New("malformed LiveKit message")

// signalTarget is livekit.SignalTarget: which of the two peer
// connections a candidate belongs to.
type signalTarget int32

const (
	targetPublisher  signalTarget = 0
	targetSubscriber signalTarget = 1
)

func (t signalTarget) String() string {
	if t == targetSubscriber {
		return "subscriber"
	}
	return "publisher"
}

// participantKind is livekit.ParticipantInfo.Kind.
type participantKind int32

const (
	kindStandard participantKind = 0
	kindAgent    participantKind = 4
)

// participantState is livekit.ParticipantInfo.State.
type participantState int32

const (
	stateJoining      participantState = 0
	stateJoined       participantState = 1
	stateActive       participantState = 2
	stateDisconnected participantState = 3
)

// trackType is livekit.TrackType.
type trackType int32

const (
	trackAudio trackType = 0
	trackVideo trackType = 1
)

// disconnectReason is livekit.DisconnectReason.
type disconnectReason int32

const reasonClientInitiated disconnectReason = 1

// disconnectReasons names livekit.DisconnectReason values for messages.
var disconnectReasons = [...]string{
	"unknown reason", "client initiated", "duplicate identity", "server shutdown",
	"participant removed", "room deleted", "state mismatch", "join failure",
	"migration", "signal close", "room closed", "user unavailable", "user rejected",
	"SIP trunk failure", "connection timeout", "media failure", "agent error",
}

func (r disconnectReason) String() string {
	if r >= 0 && int(r) < len(disconnectReasons) {
		return disconnectReasons[r]
	}
	return fmt.Sprintf("reason %d", int32(r))
}

// sessionDescription is livekit.SessionDescription (mid_to_track_id is
// not needed and skipped).
type sessionDescription struct {
	Type string // 1
	SDP  string // 2
	ID   uint32 // 3
}

// trickle is livekit.TrickleRequest.
type trickle struct {
	CandidateInit string       // 1: the JSON of an RTCIceCandidateInit
	Target        signalTarget // 2
	Final         bool         // 3
}

// leaveRequest is livekit.LeaveRequest (regions skipped).
type leaveRequest struct {
	CanReconnect bool             // 1
	Reason       disconnectReason // 2
	Action       int32            // 3: 0 disconnect, 1 resume, 2 reconnect
}

// ping is livekit.Ping.
type ping struct {
	Timestamp int64 // 1
	RTT       int64 // 2
}

// pong is livekit.Pong.
type pong struct {
	LastPingTimestamp int64 // 1
	Timestamp         int64 // 2
}

// trackSource is livekit.TrackSource.
type trackSource int32

const sourceMicrophone trackSource = 2

// addTrackRequest is livekit.AddTrackRequest: what we are about to
// publish, before the offer that carries it. CID is the track's id in
// our SDP (its msid), by which LiveKit matches the two.
type addTrackRequest struct {
	CID        string      // 1
	Name       string      // 2
	Type       trackType   // 3
	Muted      bool        // 6
	Source     trackSource // 8
	DisableRED bool        // 13: we send plain Opus
}

// signalRequest is livekit.SignalRequest with the cases we send. Exactly
// one field is set.
type signalRequest struct {
	Offer    *sessionDescription // 1
	Answer   *sessionDescription // 2
	Trickle  *trickle            // 3
	AddTrack *addTrackRequest    // 4
	Leave    *leaveRequest       // 8
	PingReq  *ping               // 16
}

// room is livekit.Room.
type room struct {
	SID  string // 1
	Name string // 2
}

// trackInfo is livekit.TrackInfo.
type trackInfo struct {
	SID    string    // 1
	Type   trackType // 2
	Name   string    // 3
	Muted  bool      // 4
	Source int32     // 9: livekit.TrackSource, 2 is MICROPHONE
}

// participantInfo is livekit.ParticipantInfo.
type participantInfo struct {
	SID              string           // 1
	Identity         string           // 2
	State            participantState // 3
	Tracks           []trackInfo      // 4
	Name             string           // 9
	Kind             participantKind  // 14
	DisconnectReason disconnectReason // 16
}

// iceServer is livekit.ICEServer. Credential is a secret: never print it.
type iceServer struct {
	URLs       []string // 1
	Username   string   // 2
	Credential string   // 3
}

// serverInfo is livekit.ServerInfo.
type serverInfo struct {
	Edition  int32  // 1
	Version  string // 2
	Protocol int32  // 3
	Region   string // 4
	NodeID   string // 5
}

// joinResponse is livekit.JoinResponse.
type joinResponse struct {
	Room              *room             // 1
	Participant       *participantInfo  // 2
	OtherParticipants []participantInfo // 3
	ServerVersion     string            // 4
	ICEServers        []iceServer       // 5
	SubscriberPrimary bool              // 6
	AlternativeURL    string            // 7
	ServerRegion      string            // 9
	PingTimeout       int32             // 10: seconds
	PingInterval      int32             // 11: seconds
	ServerInfo        *serverInfo       // 12
	FastPublish       bool              // 15
}

// participantUpdate is livekit.ParticipantUpdate.
type participantUpdate struct {
	Participants []participantInfo // 1
	FullSnapshot bool              // 2
}

// trackPublishedResponse is livekit.TrackPublishedResponse: LiveKit
// accepted our AddTrackRequest.
type trackPublishedResponse struct {
	CID   string     // 1
	Track *trackInfo // 2
}

// speakerInfo is livekit.SpeakerInfo: LiveKit's own view of who speaks,
// from the audio level each publisher's RTP packets carry.
type speakerInfo struct {
	SID    string  // 1: the participant's SID
	Level  float32 // 2: 0 to 1, 1 loudest
	Active bool    // 3
}

// speakersChanged is livekit.SpeakersChanged.
type speakersChanged struct {
	Speakers []speakerInfo // 1
}

// signalResponse is livekit.SignalResponse with the cases we act on; the
// others (connection quality, ...) decode to Other, the field number of
// the case.
type signalResponse struct {
	Join            *joinResponse           // 1
	Answer          *sessionDescription     // 2
	Offer           *sessionDescription     // 3
	Trickle         *trickle                // 4
	Update          *participantUpdate      // 5
	TrackPublished  *trackPublishedResponse // 6
	Leave           *leaveRequest           // 8
	SpeakersChanged *speakersChanged        // 10
	RefreshToken    bool                    // 16: a new token; its value is never kept
	PongResp        *pong                   // 20
	Other           protowire.Number        // any other case
}

// dataKind is livekit.DataPacket.Kind.
type dataKind int32

const dataReliable dataKind = 0

// userPacket is livekit.UserPacket.
type userPacket struct {
	ParticipantIdentity string  // 5 (deprecated, set by LiveKit)
	Payload             []byte  // 2
	Topic               *string // 4 (optional)
	ID                  *string // 8 (optional)
	Nonce               []byte  // 11
}

// dataPacket is livekit.DataPacket with the user case only; other cases
// decode to Other.
type dataPacket struct {
	Kind                  dataKind         // 1 (deprecated, still sent)
	ParticipantIdentity   string           // 4
	DestinationIdentities []string         // 5
	User                  *userPacket      // 2
	Sequence              uint32           // 16
	ParticipantSID        string           // 17
	Other                 protowire.Number // another case of the value oneof
}

// --- encoding ---

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// appendInt encodes an int32 or enum as protobuf does: negative values
// sign-extended to 64 bits.
func appendInt(b []byte, num protowire.Number, v int64) []byte {
	return appendVarint(b, num, uint64(v))
}

func appendBool(b []byte, num protowire.Number, v bool) []byte {
	if !v {
		return b
	}
	return appendVarint(b, num, 1)
}

// appendMessage writes an embedded message, present even when empty (a
// oneof case or a set message field is sent as a zero-length value).
func appendMessage(b []byte, num protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}

func (s *sessionDescription) marshal() []byte {
	var b []byte
	b = appendString(b, 1, s.Type)
	b = appendString(b, 2, s.SDP)
	return appendVarint(b, 3, uint64(s.ID))
}

func (t *trickle) marshal() []byte {
	var b []byte
	b = appendString(b, 1, t.CandidateInit)
	b = appendInt(b, 2, int64(t.Target))
	return appendBool(b, 3, t.Final)
}

func (l *leaveRequest) marshal() []byte {
	var b []byte
	b = appendBool(b, 1, l.CanReconnect)
	b = appendInt(b, 2, int64(l.Reason))
	return appendInt(b, 3, int64(l.Action))
}

func (a *addTrackRequest) marshal() []byte {
	var b []byte
	b = appendString(b, 1, a.CID)
	b = appendString(b, 2, a.Name)
	b = appendInt(b, 3, int64(a.Type))
	b = appendBool(b, 6, a.Muted)
	b = appendInt(b, 8, int64(a.Source))
	return appendBool(b, 13, a.DisableRED)
}

func (p *ping) marshal() []byte {
	var b []byte
	b = appendInt(b, 1, p.Timestamp)
	return appendInt(b, 2, p.RTT)
}

// marshal encodes the request; it is an error to set no case or several.
func (r *signalRequest) marshal() ([]byte, error) {
	var b []byte
	n := 0
	if r.Offer != nil {
		b, n = appendMessage(b, 1, r.Offer.marshal()), n+1
	}
	if r.Answer != nil {
		b, n = appendMessage(b, 2, r.Answer.marshal()), n+1
	}
	if r.Trickle != nil {
		b, n = appendMessage(b, 3, r.Trickle.marshal()), n+1
	}
	if r.AddTrack != nil {
		b, n = appendMessage(b, 4, r.AddTrack.marshal()), n+1
	}
	if r.Leave != nil {
		b, n = appendMessage(b, 8, r.Leave.marshal()), n+1
	}
	if r.PingReq != nil {
		b, n = appendMessage(b, 16, r.PingReq.marshal()), n+1
	}
	if n != 1 {
		return nil, fmt.Errorf("signal request with %d cases set, want 1", n)
	}
	return b, nil
}

func (u *userPacket) marshal() []byte {
	var b []byte
	b = appendBytes(b, 2, u.Payload)
	if u.Topic != nil {
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendString(b, *u.Topic)
	}
	b = appendString(b, 5, u.ParticipantIdentity)
	if u.ID != nil {
		b = protowire.AppendTag(b, 8, protowire.BytesType)
		b = protowire.AppendString(b, *u.ID)
	}
	return appendBytes(b, 11, u.Nonce)
}

func (d *dataPacket) marshal() []byte {
	var b []byte
	b = appendInt(b, 1, int64(d.Kind))
	if d.User != nil {
		b = appendMessage(b, 2, d.User.marshal())
	}
	b = appendString(b, 4, d.ParticipantIdentity)
	for _, id := range d.DestinationIdentities {
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendString(b, id)
	}
	b = appendVarint(b, 16, uint64(d.Sequence))
	return appendString(b, 17, d.ParticipantSID)
}

// --- decoding ---

// field is one decoded field: v for varints and 32-bit values, raw for
// length-delimited values; other wire types are consumed and reported
// with neither.
type field struct {
	num protowire.Number
	typ protowire.Type
	v   uint64
	raw []byte
}

func (f field) isVarint() bool { return f.typ == protowire.VarintType }
func (f field) isBytes() bool  { return f.typ == protowire.BytesType }

// walk calls fn for each field of the message in b. It fails on
// truncated or invalid wire data; fn's errors are returned as they are.
func walk(b []byte, fn func(field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %v", ErrDecode, protowire.ParseError(n))
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.v, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			f.raw, n = protowire.ConsumeBytes(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.v = uint64(v)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("%w: field %d: %v", ErrDecode, num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

// str, i32 and friends read a scalar field when its wire type fits; a
// field of the wrong type is ignored, as protobuf keeps it as unknown.
func str(f field, dst *string) {
	if f.isBytes() {
		*dst = string(f.raw)
	}
}

// bytesOf copies a bytes field. An empty value leaves a nil slice nil, as
// protobuf-go's decoder does for proto3 bytes (FuzzDecodeDataPacket found
// the difference).
func bytesOf(f field, dst *[]byte) {
	if f.isBytes() {
		*dst = append((*dst)[:0], f.raw...)
	}
}

func i32(f field, dst *int32) {
	if f.isVarint() {
		*dst = int32(f.v)
	}
}

func i64(f field, dst *int64) {
	if f.isVarint() {
		*dst = int64(f.v)
	}
}

func u32(f field, dst *uint32) {
	if f.isVarint() {
		*dst = uint32(f.v)
	}
}

// f32 reads a float field (fixed32 on the wire).
func f32(f field, dst *float32) {
	if f.typ == protowire.Fixed32Type {
		*dst = math.Float32frombits(uint32(f.v))
	}
}

func boolean(f field, dst *bool) {
	if f.isVarint() {
		*dst = f.v != 0
	}
}

// enum reads an enum field into any int32-based type.
func enum[T ~int32](f field, dst *T) {
	if f.isVarint() {
		*dst = T(int32(f.v))
	}
}

// sub decodes an embedded message field, merging into *dst (allocated on
// first use) as protobuf does when a message field appears twice.
func sub[T any, P interface {
	*T
	unmarshal([]byte) error
}](f field, dst **T) error {
	if !f.isBytes() {
		return nil
	}
	if *dst == nil {
		*dst = new(T)
	}
	return P(*dst).unmarshal(f.raw)
}

// repeated decodes one element of a repeated message field.
func repeated[T any, P interface {
	*T
	unmarshal([]byte) error
}](f field, dst *[]T) error {
	if !f.isBytes() {
		return nil
	}
	var v T
	if err := P(&v).unmarshal(f.raw); err != nil {
		return err
	}
	*dst = append(*dst, v)
	return nil
}

// repeatedString decodes one element of a repeated string field.
func repeatedString(f field, dst *[]string) {
	if f.isBytes() {
		*dst = append(*dst, string(f.raw))
	}
}

func (s *sessionDescription) unmarshal(b []byte) error {
	return walk(b, func(f field) error {
		switch f.num {
		case 1:
			str(f, &s.Type)
		case 2:
			str(f, &s.SDP)
		case 3:
			u32(f, &s.ID)
		}
		return nil
	})
}

func (t *trickle) unmarshal(b []byte) error {
	return walk(b, func(f field) error {
		switch f.num {
		case 1:
			str(f, &t.CandidateInit)
		case 2:
			enum(f, &t.Target)
		case 3:
			boolean(f, &t.Final)
		}
		return nil
	})
}

func (l *leaveRequest) unmarshal(b []byte) error {
	return walk(b, func(f field) error {
		switch f.num {
		case 1:
			boolean(f, &l.CanReconnect)
		case 2:
			enum(f, &l.Reason)
		case 3:
			i32(f, &l.Action)
		}
		return nil
	})
}

func (p *ping) unmarshal(b []byte) error {
	return walk(b, func(f field) error {
		switch f.num {
		case 1:
			i64(f, &p.Timestamp)
		case 2:
			i64(f, &p.RTT)
		}
		return nil
	})
}

func (p *pong) unmarshal(b []byte) error {
	return walk(b, func(f field) error {
		switch f.num {
		case 1:
			i64(f, &p.LastPingTimestamp)
		case 2:
			i64(f, &p.Timestamp)
		}
		return nil
	})
}

func (r *room) unmarshal(b []byte) error {
	return walk(b, func(f field) error {
		switch f.num {
		case 1:
			str(f, &r.SID)
		case 2:
			str(f, &r.Name)
		}
		return nil
	})
}

func (t *trackInfo) unmarshal(b []byte) error {
	return walk(b, func(f field) error {
		switch f.num {
		case 1:
			str(f, &t.SID)
		case 2:
			enum(f, &t.Type)
		case 3:
			str(f, &t.Name)
		case 4:
			boolean(f, &t.Muted)
		case 9:
			i32(f, &t.Source)
		}
		return nil
	})
}

func (p *participantInfo) unmarshal(b []byte) error {
	return walk(b, func(f field) error {
		switch f.num {
		case 1:
			str(f, &p.SID)
		case 2:
			str(f, &p.Identity)
		case 3:
			enum(f, &p.State)
		case 4:
			return repeated(f, &p.Tracks)
		case 9:
			str(f, &p.Name)
		case 14:
			enum(f, &p.Kind)
		case 16:
			enum(f, &p.DisconnectReason)
		}
		return nil
	})
}

func (s *iceServer) unmarshal(b []byte) error {
	return walk(b, func(f field) error {
		switch f.num {
		case 1:
			repeatedString(f, &s.URLs)
		case 2:
			str(f, &s.Username)
		case 3:
			str(f, &s.Credential)
		}
		return nil
	})
}

func (s *serverInfo) unmarshal(b []byte) error {
	return walk(b, func(f field) error {
		switch f.num {
		case 1:
			i32(f, &s.Edition)
		case 2:
			str(f, &s.Version)
		case 3:
			i32(f, &s.Protocol)
		case 4:
			str(f, &s.Region)
		case 5:
			str(f, &s.NodeID)
		}
		return nil
	})
}

func (j *joinResponse) unmarshal(b []byte) error {
	return walk(b, func(f field) error {
		switch f.num {
		case 1:
			return sub(f, &j.Room)
		case 2:
			return sub(f, &j.Participant)
		case 3:
			return repeated(f, &j.OtherParticipants)
		case 4:
			str(f, &j.ServerVersion)
		case 5:
			return repeated(f, &j.ICEServers)
		case 6:
			boolean(f, &j.SubscriberPrimary)
		case 7:
			str(f, &j.AlternativeURL)
		case 9:
			str(f, &j.ServerRegion)
		case 10:
			i32(f, &j.PingTimeout)
		case 11:
			i32(f, &j.PingInterval)
		case 12:
			return sub(f, &j.ServerInfo)
		case 15:
			boolean(f, &j.FastPublish)
		}
		return nil
	})
}

func (u *participantUpdate) unmarshal(b []byte) error {
	return walk(b, func(f field) error {
		switch f.num {
		case 1:
			return repeated(f, &u.Participants)
		case 2:
			boolean(f, &u.FullSnapshot)
		}
		return nil
	})
}

func (t *trackPublishedResponse) unmarshal(b []byte) error {
	return walk(b, func(f field) error {
		switch f.num {
		case 1:
			str(f, &t.CID)
		case 2:
			return sub(f, &t.Track)
		}
		return nil
	})
}

func (s *speakerInfo) unmarshal(b []byte) error {
	return walk(b, func(f field) error {
		switch f.num {
		case 1:
			str(f, &s.SID)
		case 2:
			f32(f, &s.Level)
		case 3:
			boolean(f, &s.Active)
		}
		return nil
	})
}

func (s *speakersChanged) unmarshal(b []byte) error {
	return walk(b, func(f field) error {
		if f.num == 1 {
			return repeated(f, &s.Speakers)
		}
		return nil
	})
}

// signalResponseCases are the field numbers of SignalResponse's oneof.
const maxSignalResponseCase = 31

// unmarshal decodes a SignalResponse. Only the last oneof case is kept;
// a case that repeats merges into the previous value, as in protobuf.
func (r *signalResponse) unmarshal(b []byte) error {
	return walk(b, func(f field) error {
		if f.num < 1 || f.num > maxSignalResponseCase || f.num == 7 {
			return nil // not a case of the oneof: unknown field
		}
		// Which wire type each case has: all are messages except
		// refresh_token (string) and pong (int64).
		wantVarint := f.num == 18
		if wantVarint != f.isVarint() || (!wantVarint && !f.isBytes()) {
			return nil
		}
		prev := r.current()
		if prev != f.num {
			*r = signalResponse{}
		}
		switch f.num {
		case 1:
			return sub(f, &r.Join)
		case 2:
			return sub(f, &r.Answer)
		case 3:
			return sub(f, &r.Offer)
		case 4:
			return sub(f, &r.Trickle)
		case 5:
			return sub(f, &r.Update)
		case 6:
			return sub(f, &r.TrackPublished)
		case 8:
			return sub(f, &r.Leave)
		case 10:
			return sub(f, &r.SpeakersChanged)
		case 16:
			r.RefreshToken = true // the token itself is not kept anywhere
		case 20:
			return sub(f, &r.PongResp)
		default:
			// Other cases are validated as protobuf would (an embedded
			// message must parse) only as far as the wire format goes.
			r.Other = f.num
		}
		return nil
	})
}

// current is the field number of the case set, 0 if none.
func (r *signalResponse) current() protowire.Number {
	switch {
	case r.Join != nil:
		return 1
	case r.Answer != nil:
		return 2
	case r.Offer != nil:
		return 3
	case r.Trickle != nil:
		return 4
	case r.Update != nil:
		return 5
	case r.TrackPublished != nil:
		return 6
	case r.Leave != nil:
		return 8
	case r.SpeakersChanged != nil:
		return 10
	case r.RefreshToken:
		return 16
	case r.PongResp != nil:
		return 20
	}
	return r.Other
}

// decodeSignalResponse decodes one binary WebSocket message from LiveKit.
func decodeSignalResponse(b []byte) (*signalResponse, error) {
	var r signalResponse
	if err := r.unmarshal(b); err != nil {
		return nil, err
	}
	return &r, nil
}

func (u *userPacket) unmarshal(b []byte) error {
	return walk(b, func(f field) error {
		switch f.num {
		case 2:
			bytesOf(f, &u.Payload)
		case 4:
			if f.isBytes() {
				s := string(f.raw)
				u.Topic = &s
			}
		case 5:
			str(f, &u.ParticipantIdentity)
		case 8:
			if f.isBytes() {
				s := string(f.raw)
				u.ID = &s
			}
		case 11:
			bytesOf(f, &u.Nonce)
		}
		return nil
	})
}

// dataPacketCases are the field numbers of DataPacket's value oneof.
func isDataPacketCase(n protowire.Number) bool {
	return (n >= 2 && n <= 3) || (n >= 6 && n <= 15) || n == 18
}

func (d *dataPacket) unmarshal(b []byte) error {
	return walk(b, func(f field) error {
		switch {
		case f.num == 1:
			enum(f, &d.Kind)
		case f.num == 4:
			str(f, &d.ParticipantIdentity)
		case f.num == 5:
			repeatedString(f, &d.DestinationIdentities)
		case f.num == 16:
			u32(f, &d.Sequence)
		case f.num == 17:
			str(f, &d.ParticipantSID)
		case isDataPacketCase(f.num) && f.isBytes():
			if f.num == 2 {
				d.Other = 0
				return sub(f, &d.User)
			}
			d.User, d.Other = nil, f.num
		}
		return nil
	})
}

// decodeDataPacket decodes one data channel message.
func decodeDataPacket(b []byte) (*dataPacket, error) {
	var d dataPacket
	if err := d.unmarshal(b); err != nil {
		return nil, err
	}
	return &d, nil
}
