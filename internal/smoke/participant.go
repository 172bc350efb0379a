package smoke

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// reliableLabel is the data channel LiveKit carries reliable data on, in
// both directions (LiveKit's clients and server use the same name).
const reliableLabel = "_reliable"

// participant is one client in the room: its signal WebSocket and the two
// peer connections LiveKit uses, publisher (ours to offer: our data goes
// out on its "_reliable" channel) and subscriber (LiveKit offers it: data
// from others arrives on its "_reliable" channel).
//
// One goroutine reads the WebSocket and handles each message in order;
// pion calls back from its own goroutines. State that both touch is under
// mu; waiters are woken by closing changed, which is then replaced.
type participant struct {
	label    string // "a" or "b", for messages
	identity string
	log      *slog.Logger
	now      func() time.Time
	ws       *websocket.Conn
	join     *joinResponse
	pub, sub *webrtc.PeerConnection
	pubDC    *webrtc.DataChannel

	voice  *webrtc.TrackLocalStaticSample // our audio track, when we speak
	listen bool                           // hear the others' audio
	record int                            // packets of speech to keep per stretch (--record)

	ctx     context.Context // lives until close
	cancel  context.CancelFunc
	done    chan struct{} // closed when the read loop ends
	reading bool          // the read loop was started
	seq     atomic.Uint32 // sequence of our reliable data packets
	data    chan *dataPacket

	mu       sync.Mutex
	changed  chan struct{}
	remotes  map[string]participantInfo // others in the room, by identity
	pending  map[signalTarget][]webrtc.ICECandidateInit
	pubOpen  bool // our "_reliable" channel is open
	subOpen  bool // LiveKit's "_reliable" channel to us is open
	left     *leaveRequest
	heard    map[string]*listener // remote audio, by the publisher's SID
	levels   map[string]float32   // loudest level LiveKit reported, by SID
	seenAt   map[string]time.Time // when each remote was first seen (Config.Now)
	readErr  error                // why the read loop ended
	fatalErr error                // a WebRTC step that failed for good
}

// joinOptions configure connect.
type joinOptions struct {
	client   *http.Client
	voice    bool // publish an audio track and hear the others' (auto-subscribe)
	record   int  // packets of each stretch of speech to keep
	ep       endpoint
	token    string
	version  string
	label    string
	identity string
	log      *slog.Logger
	now      func() time.Time
}

// connect joins the room: the WebSocket, LiveKit's JoinResponse, and the
// start of both peer connections. It returns when the JoinResponse has
// arrived; the WebRTC side goes on in the background (see connected).
func connect(ctx context.Context, o joinOptions) (*participant, error) {
	ws, err := dialSignal(ctx, o.client, o.ep, o.token, o.version, o.voice)
	if err != nil {
		return nil, err
	}
	first, err := readSignal(ctx, ws)
	if err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("waiting for LiveKit's JoinResponse: %w", err)
	}
	switch {
	case first.Leave != nil:
		ws.CloseNow()
		return nil, fmt.Errorf("%w: LiveKit sent a leave instead of a JoinResponse (%s)", ErrProtocol, first.Leave.Reason)
	case first.Join == nil:
		ws.CloseNow()
		return nil, fmt.Errorf("%w: the first message is not a JoinResponse", ErrProtocol)
	case first.Join.AlternativeURL != "":
		ws.CloseNow()
		return nil, fmt.Errorf("%w: LiveKit asks to join at another URL instead", ErrProtocol)
	}
	pctx, cancel := context.WithCancel(context.Background())
	p := &participant{
		label: o.label, identity: o.identity, log: o.log, now: o.now, ws: ws, join: first.Join,
		ctx: pctx, cancel: cancel, done: make(chan struct{}), data: make(chan *dataPacket, 16),
		changed: make(chan struct{}), remotes: map[string]participantInfo{},
		pending: map[signalTarget][]webrtc.ICECandidateInit{},
		listen:  o.voice, record: o.record,
		heard: map[string]*listener{}, levels: map[string]float32{}, seenAt: map[string]time.Time{},
	}
	for _, other := range first.Join.OtherParticipants {
		p.remotes[other.Identity] = other
		p.seenAt[other.SID] = o.now()
	}
	if err := p.startWebRTC(o.ep.loopback); err != nil {
		p.close()
		return nil, err
	}
	if o.voice {
		// Announced before the offer that carries it, as LiveKit's
		// clients do; LiveKit matches the two by the track's id.
		if err := p.addVoice(); err != nil {
			p.close()
			return nil, err
		}
	}
	p.reading = true
	go p.readLoop()
	go p.pingLoop()
	if err := p.offerPublisher(); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// readSignal reads one binary message and decodes it.
func readSignal(ctx context.Context, ws *websocket.Conn) (*signalResponse, error) {
	for {
		typ, b, err := ws.Read(ctx)
		if err != nil {
			return nil, err
		}
		if typ != websocket.MessageBinary {
			continue // LiveKit speaks protobuf to protocol > 0 clients
		}
		return decodeSignalResponse(b)
	}
}

// newAPI returns pion's API for one participant. Only UDP, no mDNS; for a
// LiveKit on loopback, only loopback candidates (pion drops them by
// default) and no STUN/TURN from LiveKit's list: nothing leaves the
// machine, and a test needs no network.
func newAPI(loopback bool, log *slog.Logger) (*webrtc.API, error) {
	var se webrtc.SettingEngine
	se.LoggerFactory = pionLogs{log}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	if loopback {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	m, reg, err := mediaEngine()
	if err != nil {
		return nil, fmt.Errorf("media engine: %w", err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg)), nil
}

// startWebRTC creates the publisher and subscriber peer connections,
// their ICE and state callbacks, and the reliable data channels.
func (p *participant) startWebRTC(loopback bool) error {
	api, err := newAPI(loopback, p.log)
	if err != nil {
		return err
	}
	conf := p.iceConfig(loopback)
	if p.pub, err = api.NewPeerConnection(conf); err != nil {
		return fmt.Errorf("publisher peer connection: %w", err)
	}
	if p.sub, err = api.NewPeerConnection(conf); err != nil {
		return fmt.Errorf("subscriber peer connection: %w", err)
	}
	p.watch(targetPublisher, p.pub)
	p.watch(targetSubscriber, p.sub)
	return p.openData()
}

// iceConfig is the peer connections' configuration: the ICE servers
// LiveKit lists, none for a LiveKit on loopback.
func (p *participant) iceConfig(loopback bool) webrtc.Configuration {
	var conf webrtc.Configuration
	if loopback {
		return conf
	}
	for _, s := range p.join.ICEServers {
		conf.ICEServers = append(conf.ICEServers, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	return conf
}

// watch trickles pc's ICE candidates to LiveKit as target's, and fails
// the participant when pc's connection fails.
func (p *participant) watch(target signalTarget, pc *webrtc.PeerConnection) {
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return // gathering done
		}
		init, err := json.Marshal(c.ToJSON())
		if err != nil {
			return
		}
		p.send(&signalRequest{Trickle: &trickle{CandidateInit: string(init), Target: target}})
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		p.log.Debug("peer connection state", slog.String("event", "smoke_pc_state"),
			slog.String("participant", p.label), slog.String("pc", target.String()), slog.String("state", s.String()))
		if s == webrtc.PeerConnectionStateFailed {
			p.fail(fmt.Errorf("%s connection of %s failed (ICE or DTLS)", target, p.identity))
		}
	})
}

// openData opens our "_reliable" channel on the publisher, takes
// LiveKit's on the subscriber, and hears the subscriber's tracks.
func (p *participant) openData() error {
	ordered := true
	var err error
	if p.pubDC, err = p.pub.CreateDataChannel(reliableLabel, &webrtc.DataChannelInit{Ordered: &ordered}); err != nil {
		return fmt.Errorf("data channel: %w", err)
	}
	p.pubDC.OnOpen(func() { p.update(func() { p.pubOpen = true }) })
	p.pubDC.OnMessage(p.onData)
	p.sub.OnTrack(p.onTrack)
	p.sub.OnDataChannel(func(dc *webrtc.DataChannel) {
		if dc.Label() != reliableLabel {
			return
		}
		dc.OnOpen(func() { p.update(func() { p.subOpen = true }) })
		dc.OnMessage(p.onData)
	})
	return nil
}

// offerPublisher starts the publisher's negotiation at once (LiveKit's
// SDKs wait until something is published; we know we will send data).
func (p *participant) offerPublisher() error {
	offer, err := p.pub.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("publisher offer: %w", err)
	}
	if err := p.pub.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("publisher offer: %w", err)
	}
	return p.send(&signalRequest{Offer: &sessionDescription{Type: offer.Type.String(), SDP: offer.SDP}})
}

// send writes one request to LiveKit.
func (p *participant) send(r *signalRequest) error {
	b, err := r.marshal()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	if err := p.ws.Write(ctx, websocket.MessageBinary, b); err != nil {
		return fmt.Errorf("signal connection of %s: %w", p.identity, err)
	}
	return nil
}

// update runs fn under the lock and wakes every waiter.
func (p *participant) update(fn func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fn()
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *participant) fail(err error) {
	p.update(func() {
		if p.fatalErr == nil {
			p.fatalErr = err
		}
	})
}

func (p *participant) readLoop() {
	defer close(p.done)
	for {
		msg, err := readSignal(p.ctx, p.ws)
		if err != nil {
			if errors.Is(err, ErrDecode) {
				p.log.Warn("bad message from LiveKit", slog.String("event", "smoke_signal_malformed"),
					slog.String("participant", p.label), slog.String("error", err.Error()))
				continue
			}
			p.update(func() { p.readErr = err })
			return
		}
		p.handle(msg)
	}
}

// pingLoop sends LiveKit's application ping at the interval the
// JoinResponse asks for, so that a long wait (for an agent) does not
// look like a dead client.
func (p *participant) pingLoop() {
	every := time.Duration(p.join.PingInterval) * time.Second
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-p.done:
			return
		case <-t.C:
			p.send(&signalRequest{PingReq: &ping{Timestamp: p.now().UnixMilli()}})
		}
	}
}

// handle acts on one message from LiveKit, in the order they arrive.
func (p *participant) handle(msg *signalResponse) {
	switch {
	case msg.Offer != nil:
		if err := p.answerSubscriber(msg.Offer); err != nil {
			p.fail(err)
		}
	case msg.Answer != nil:
		if err := p.acceptAnswer(msg.Answer); err != nil {
			p.fail(err)
		}
	case msg.Trickle != nil:
		p.addCandidate(msg.Trickle)
	case msg.Update != nil:
		p.update(func() { p.updateRemotes(msg.Update.Participants) })
	case msg.Leave != nil:
		p.update(func() { p.left = msg.Leave })
	case msg.SpeakersChanged != nil:
		p.update(func() { p.noteLevels(msg.SpeakersChanged.Speakers) })
	}
}

// acceptAnswer sets LiveKit's answer to our publisher's offer, then adds
// the candidates that came before it.
func (p *participant) acceptAnswer(answer *sessionDescription) error {
	if err := p.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer.SDP}); err != nil {
		return fmt.Errorf("%w: LiveKit's answer for the publisher: %w", ErrProtocol, err)
	}
	p.flushCandidates(targetPublisher)
	return nil
}

// updateRemotes applies a participant update to the others in the room:
// a disconnected one leaves, a new one is timed. Call it under mu.
func (p *participant) updateRemotes(infos []participantInfo) {
	for _, info := range infos {
		if info.Identity == p.identity || info.SID == p.join.Participant.sid() {
			continue
		}
		if info.State == stateDisconnected {
			delete(p.remotes, info.Identity)
			continue
		}
		p.remotes[info.Identity] = info
		if _, seen := p.seenAt[info.SID]; !seen {
			p.seenAt[info.SID] = p.now()
		}
	}
}

// noteLevels keeps the loudest level LiveKit reported for each speaker.
// Call it under mu.
func (p *participant) noteLevels(speakers []speakerInfo) {
	for _, s := range speakers {
		if s.Level > p.levels[s.SID] {
			p.levels[s.SID] = s.Level
		}
	}
}

func (pi *participantInfo) sid() string {
	if pi == nil {
		return ""
	}
	return pi.SID
}

func (p *participant) answerSubscriber(offer *sessionDescription) error {
	err := p.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.SDP})
	if err != nil {
		return fmt.Errorf("%w: LiveKit's offer for the subscriber: %w", ErrProtocol, err)
	}
	p.flushCandidates(targetSubscriber)
	answer, err := p.sub.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("subscriber answer: %w", err)
	}
	if err := p.sub.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("subscriber answer: %w", err)
	}
	return p.send(&signalRequest{Answer: &sessionDescription{Type: answer.Type.String(), SDP: answer.SDP, ID: offer.ID}})
}

func (p *participant) pc(t signalTarget) *webrtc.PeerConnection {
	if t == targetSubscriber {
		return p.sub
	}
	return p.pub
}

// addCandidate adds LiveKit's ICE candidate, or keeps it until the
// connection it belongs to has LiveKit's description.
func (p *participant) addCandidate(t *trickle) {
	var init webrtc.ICECandidateInit
	if err := json.Unmarshal([]byte(t.CandidateInit), &init); err != nil {
		p.log.Warn("bad ICE candidate from LiveKit", slog.String("event", "smoke_candidate_malformed"), slog.String("participant", p.label))
		return
	}
	pc := p.pc(t.Target)
	p.mu.Lock()
	if pc.RemoteDescription() == nil {
		p.pending[t.Target] = append(p.pending[t.Target], init)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	if err := pc.AddICECandidate(init); err != nil {
		p.log.Debug("ICE candidate refused", slog.String("event", "smoke_candidate_refused"), slog.String("error", err.Error()))
	}
}

func (p *participant) flushCandidates(t signalTarget) {
	p.mu.Lock()
	cands := p.pending[t]
	delete(p.pending, t)
	p.mu.Unlock()
	for _, c := range cands {
		if err := p.pc(t).AddICECandidate(c); err != nil {
			p.log.Debug("ICE candidate refused", slog.String("event", "smoke_candidate_refused"), slog.String("error", err.Error()))
		}
	}
}

// onData receives a data channel message; anything but a user packet is
// ignored, and a full queue drops (the smoke test sends one at a time).
func (p *participant) onData(msg webrtc.DataChannelMessage) {
	if msg.IsString {
		return
	}
	dp, err := decodeDataPacket(msg.Data)
	if err != nil || dp.User == nil {
		return
	}
	select {
	case p.data <- dp:
	default:
	}
}

// stateErr says why the participant is out, nil while it is in. Call
// it under mu.
func (p *participant) stateErr() error {
	switch {
	case p.left != nil:
		return fmt.Errorf("%w: LiveKit disconnected %s (%s)", ErrProtocol, p.identity, p.left.Reason)
	case p.fatalErr != nil:
		return p.fatalErr
	case p.readErr != nil:
		return fmt.Errorf("signal connection of %s closed: %w", p.identity, p.readErr)
	}
	return nil
}

// wait blocks until cond (called under the lock) holds, the participant
// is out, or ctx ends.
func (p *participant) wait(ctx context.Context, cond func() bool) error {
	for {
		p.mu.Lock()
		ok, err, ch := cond(), p.stateErr(), p.changed
		p.mu.Unlock()
		if ok {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// connected waits until both data channels are open.
func (p *participant) connected(ctx context.Context) error {
	return p.wait(ctx, func() bool { return p.pubOpen && p.subOpen })
}

// remote returns the first other participant for which match holds.
func (p *participant) remote(ctx context.Context, match func(participantInfo) bool) (participantInfo, error) {
	var found participantInfo
	err := p.wait(ctx, func() bool {
		for _, r := range p.remotes {
			if match(r) {
				found = r
				return true
			}
		}
		return false
	})
	return found, err
}

// sendData sends payload to one participant on the reliable channel.
func (p *participant) sendData(to string, payload, nonce []byte) error {
	topic := dataTopic
	dp := dataPacket{
		Kind: dataReliable, ParticipantIdentity: p.identity, DestinationIdentities: []string{to},
		User:     &userPacket{Payload: payload, Topic: &topic, Nonce: nonce},
		Sequence: p.seq.Add(1),
	}
	if err := p.pubDC.Send(dp.marshal()); err != nil {
		return fmt.Errorf("send on %s's data channel: %w", p.identity, err)
	}
	return nil
}

// receive waits for a user packet on our topic.
func (p *participant) receive(ctx context.Context) (*dataPacket, error) {
	for {
		p.mu.Lock()
		err, ch := p.stateErr(), p.changed
		p.mu.Unlock()
		if err != nil {
			return nil, err
		}
		select {
		case dp := <-p.data:
			if dp.User.Topic != nil && *dp.User.Topic == dataTopic {
				return dp, nil
			}
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// selectedPair describes the publisher's ICE candidate pair, for the
// report: "udp 127.0.0.1:7882".
func (p *participant) selectedPair() string {
	sctp := p.pub.SCTP()
	if sctp == nil || sctp.Transport() == nil || sctp.Transport().ICETransport() == nil {
		return ""
	}
	pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Remote == nil {
		return ""
	}
	return fmt.Sprintf("%s %s", pair.Remote.Protocol, net.JoinHostPort(pair.Remote.Address, fmt.Sprint(pair.Remote.Port)))
}

// leave tells LiveKit we leave and waits until it closes the signal
// connection.
func (p *participant) leave(ctx context.Context) error {
	if err := p.send(&signalRequest{Leave: &leaveRequest{Reason: reasonClientInitiated}}); err != nil {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("LiveKit did not close %s's signal connection after its leave: %w", p.identity, ctx.Err())
	}
}

// close releases everything and waits for the read loop; it is safe to
// call more than once.
func (p *participant) close() {
	p.cancel()
	p.ws.CloseNow()
	if p.pub != nil {
		p.pub.Close()
	}
	if p.sub != nil {
		p.sub.Close()
	}
	if p.reading {
		<-p.done
	}
}
