package smoke

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// voiceTrackID is our audio track's id in the SDP (its msid), the cid of
// the AddTrackRequest that announces it.
const voiceTrackID = "voicetoken-smoke-voice"

// opus is the one audio codec we offer and accept: what LiveKit's clients
// send, 48 kHz, in-band FEC.
var opus = webrtc.RTPCodecParameters{
	RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
	PayloadType:        111,
}

// mediaEngine registers Opus and the RFC 6464 audio level extension (so
// that an SFU that forwards it can tell us each packet's level), and
// pion's default interceptors (NACK, RTCP reports).
func mediaEngine() (*webrtc.MediaEngine, *interceptor.Registry, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(opus, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, nil, err
	}
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, nil, err
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		return nil, nil, err
	}
	return m, reg, nil
}

// addVoice adds our audio track to the publisher and announces it.
func (p *participant) addVoice() error {
	track, err := webrtc.NewTrackLocalStaticSample(opus.RTPCodecCapability, voiceTrackID, "voicetoken-smoke")
	if err != nil {
		return fmt.Errorf("audio track: %w", err)
	}
	sender, err := p.pub.AddTrack(track)
	if err != nil {
		return fmt.Errorf("audio track: %w", err)
	}
	go func() { // RTCP must be read for the interceptors to run
		buf := make([]byte, 1500)
		for {
			if _, _, err := sender.Read(buf); err != nil {
				return
			}
		}
	}()
	p.voice = track
	return p.send(&signalRequest{AddTrack: &addTrackRequest{
		CID: voiceTrackID, Name: "voicetoken smoke", Type: trackAudio, Source: sourceMicrophone, DisableRED: true,
	}})
}

// speak sends the utterance at its own pace and returns when the last
// packet is out.
func (p *participant) speak(ctx context.Context, u *utterance) error {
	if p.voice == nil {
		return errors.New("no audio track to speak on")
	}
	next := time.Now()
	for i, pkt := range u.packets {
		if err := p.voice.WriteSample(media.Sample{Data: pkt, Duration: u.lengths[i]}); err != nil {
			return fmt.Errorf("send audio: %w", err)
		}
		next = next.Add(u.lengths[i])
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// onTrack reads a remote audio track LiveKit sends us. LiveKit names its
// stream "<participant SID>|<track SID>".
func (p *participant) onTrack(track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	if track.Kind() != webrtc.RTPCodecTypeAudio || !p.listen {
		return
	}
	sid, _, _ := strings.Cut(track.StreamID(), "|")
	l := &listener{maxRecord: p.record}
	for _, ext := range receiver.GetParameters().HeaderExtensions {
		if ext.URI == sdp.AudioLevelURI {
			l.levelExt = uint8(ext.ID)
		}
	}
	p.update(func() { p.heard[sid] = l })
	p.log.Debug("hearing a track", slog.String("event", "smoke_track"), slog.String("participant", p.label),
		slog.String("publisher", sid), slog.String("codec", track.Codec().MimeType), slog.Bool("audio_level_ext", l.levelExt != 0))
	go func() {
		for {
			pkt, _, err := track.ReadRTP()
			if err != nil {
				return
			}
			now, real := p.now(), time.Now()
			p.update(func() { l.add(pkt, now, real) })
		}
	}()
}
