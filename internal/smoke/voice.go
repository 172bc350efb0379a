package smoke

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// defaultUtterance is what smoke says when no --say file is given: "Hello,
// this is the voicetoken smoke test." (2.65 s), spoken by espeak-ng and
// encoded with opus-tools at 16 kbit/s (20 ms packets), then rewritten
// with pion's oggwriter to one packet per Ogg page (opusenc packs many):
//
//	espeak-ng -v en-us -s 160 -w say.wav "Hello, this is the voicetoken smoke test."
//	opusenc --bitrate 16 --speech --framesize 20 --max-delay 0 say.wav utterance.ogg
//
//go:embed utterance.ogg
var defaultUtterance []byte

// maxUtterance bounds a --say file: a spoken phrase, not a podcast.
const (
	maxUtteranceBytes = 1 << 20
	maxUtterance      = 30 * time.Second
)

// ErrUtterance means a --say file is not an Ogg/Opus file smoke can send.
var ErrUtterance = errors.New("not an Ogg/Opus file smoke can send")

// utterance is a clip ready to send: Opus packets and each one's length.
type utterance struct {
	packets  [][]byte
	lengths  []time.Duration
	duration time.Duration
}

// loadUtterance reads an Ogg/Opus file with pion's oggreader. The reader
// returns a page's payload whole, so each page must hold exactly one
// packet (what pion's oggwriter, ffmpeg -page_duration 20000 and opusenc
// --max-delay 0 write): the samples the page's granule position advances
// by must be those of the packet, read from its TOC byte (RFC 6716 3.1).
func loadUtterance(b []byte) (*utterance, error) {
	r, err := openOgg(b)
	if err != nil {
		return nil, err
	}
	u := &utterance{}
	var granule uint64
	for page := 0; ; page++ {
		payload, hdr, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: page %d: %w", ErrUtterance, page, err)
		}
		if _, isHeader := hdr.HeaderType(payload); isHeader || len(payload) == 0 {
			continue
		}
		if err := u.add(page, payload, granule, hdr.GranulePosition); err != nil {
			return nil, err
		}
		granule = hdr.GranulePosition
	}
	if len(u.packets) == 0 {
		return nil, fmt.Errorf("%w: no audio packets", ErrUtterance)
	}
	return u, nil
}

// openOgg starts reading b, at most maxUtteranceBytes of Ogg/Opus with an
// OpusHead that names its sample rate.
func openOgg(b []byte) (*oggreader.OggReader, error) {
	if len(b) > maxUtteranceBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrUtterance, len(b), maxUtteranceBytes)
	}
	r, head, err := oggreader.NewWith(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUtterance, err)
	}
	if head.SampleRate == 0 {
		return nil, fmt.Errorf("%w: no sample rate in OpusHead", ErrUtterance)
	}
	return r, nil
}

// add appends the Opus packet of page number page, whose granule position
// is granule (the previous audio page's, prev): the granule must advance
// by the packet's samples, or the page holds more than one packet.
func (u *utterance) add(page int, payload []byte, prev, granule uint64) error {
	samples, err := opusSamples(payload)
	if err != nil {
		return fmt.Errorf("%w: page %d: %w", ErrUtterance, page, err)
	}
	if granule < prev || granule-prev > samples {
		return fmt.Errorf("%w: page %d holds more than one Opus packet; re-encode it with one packet per page "+
			"(ffmpeg -i IN -c:a libopus -page_duration 20000 OUT.ogg)", ErrUtterance, page)
	}
	d := time.Duration(samples) * time.Second / 48000
	u.packets = append(u.packets, payload)
	u.lengths = append(u.lengths, d)
	u.duration += d
	if u.duration > maxUtterance {
		return fmt.Errorf("%w: longer than %s", ErrUtterance, maxUtterance)
	}
	return nil
}

// opusSamples is the number of 48 kHz samples an Opus packet decodes to,
// from its TOC byte and frame count (RFC 6716 3.1, 3.2.5).
func opusSamples(p []byte) (uint64, error) {
	if len(p) == 0 {
		return 0, errors.New("an empty Opus packet")
	}
	toc := p[0]
	config := toc >> 3
	var per uint64 // samples per frame at 48 kHz
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		per = []uint64{480, 960, 1920, 2880}[config%4]
	case config < 16: // hybrid: 10, 20 ms
		per = []uint64{480, 960}[config%2]
	default: // CELT: 2.5, 5, 10, 20 ms
		per = []uint64{120, 240, 480, 960}[config%4]
	}
	frames := uint64(1)
	switch toc & 3 {
	case 1, 2:
		frames = 2
	case 3:
		if len(p) < 2 {
			return 0, errors.New("an Opus packet with code 3 and no frame count")
		}
		frames = uint64(p[1] & 0x3f)
	}
	if frames == 0 || per*frames > 5760 { // 120 ms at most
		return 0, fmt.Errorf("an Opus packet of %d frames of %d samples", frames, per)
	}
	return per * frames, nil
}

// Speech detection on the agent's RTP packets.
//
// A packet is loud when its RFC 6464 audio level (if the packet carries
// one) is above -voicedDBov, else when its Opus payload is larger than
// what Opus sends for silence. LiveKit 1.13.5 does not forward the audio
// level extension to subscribers (its DownTrack writes only the
// dependency descriptor, playout delay and capture time), so against it
// the size decides. Measured on a LiveKit Agents worker (libwebrtc's Opus
// with DTX, as LiveKit's SDKs publish): silence is 3-byte frames, or,
// while the encoder warms up, 200 ms of ~55-byte frames ended by a DTX
// frame (1 or 2 bytes), and in DTX one ~55-byte comfort noise update every
// 400 ms followed by a DTX frame; a tone or speech is 60 to 200 bytes per
// 20 ms packet, without DTX frames. So speech is minSpeech of loud
// packets in a row (RTP time, no gap over maxGap) with no DTX frame among
// them: a DTX frame means the encoder has heard 200 ms of silence, and
// cancels what is not yet speech. Speech ends after silenceAfter without
// a loud packet, or at a DTX frame. LiveKit's own SpeakersChanged (from
// the levels the agent sends LiveKit) is reported beside it.
const (
	voicedDBov      = 50 // RFC 6464 level 0..127 is -dBov; louder than -50 dBov
	silentOpusBytes = 12 // a 20 ms packet this small or smaller is silence
	dtxOpusBytes    = 2  // a DTX frame: the encoder stopped sending sound
	minSpeech       = 250 * time.Millisecond
	maxGap          = 100 * time.Millisecond
	silenceAfter    = 300 * time.Millisecond
	rtpRate         = 48000
)

// speech is one stretch of the agent's speech.
type speech struct {
	start    time.Time // arrival of its first loud packet (Config.Now)
	startTS  uint32    // its RTP timestamp
	lastTS   uint32    // RTP timestamp of the last loud packet
	lastAt   time.Time // arrival of the last loud packet (real clock)
	ended    bool
	packets  []*rtp.Packet // from the first loud packet on, for --record
	confirms bool          // minSpeech reached: this is speech
}

// length is how long it spoke, by RTP time.
func (s *speech) length() time.Duration {
	return time.Duration(s.lastTS-s.startTS+960) * time.Second / rtpRate
}

// listener follows one remote audio track; it is driven by the goroutine
// that reads the track, under the participant's lock.
type listener struct {
	levelExt  uint8 // negotiated RFC 6464 extension ID, 0 if none
	packets   int   // received
	loud      int   // loud packets
	speeches  []*speech
	cur       *speech // the stretch being built, confirmed or not
	maxRecord int
}

// loudPacket decides whether one packet carries sound.
func (l *listener) loudPacket(p *rtp.Packet) bool {
	if l.levelExt != 0 {
		if ext := p.GetExtension(l.levelExt); len(ext) > 0 {
			return int(ext[0]&0x7f) < voicedDBov
		}
	}
	return len(p.Payload) > silentOpusBytes
}

// add takes one packet that arrived at now (Config.Now) and real (the
// real clock).
func (l *listener) add(p *rtp.Packet, now, real time.Time) {
	l.packets++
	loud := l.loudPacket(p)
	if l.cur != nil && l.cur.confirms && len(l.cur.packets) < l.maxRecord {
		l.cur.packets = append(l.cur.packets, p)
	}
	if !loud {
		if len(p.Payload) <= dtxOpusBytes && l.cur != nil {
			l.closeCurrent()
			return
		}
		l.expire(p.Timestamp, real)
		return
	}
	l.loud++
	if l.cur != nil && rtpGap(l.cur.lastTS, p.Timestamp) > maxGapFor(l.cur) {
		l.closeCurrent()
	}
	if l.cur == nil {
		l.cur = &speech{start: now, startTS: p.Timestamp}
	}
	if !l.cur.confirms && len(l.cur.packets) < l.maxRecord {
		l.cur.packets = append(l.cur.packets, p)
	}
	l.cur.lastTS, l.cur.lastAt = p.Timestamp, real
	if !l.cur.confirms && rtpGap(l.cur.startTS, p.Timestamp)+20*time.Millisecond >= minSpeech {
		l.cur.confirms = true
		l.speeches = append(l.speeches, l.cur)
	}
}

// maxGapFor: within confirmed speech, a pause up to silenceAfter is part
// of it; before, loud packets must follow each other closely.
func maxGapFor(s *speech) time.Duration {
	if s.confirms {
		return silenceAfter
	}
	return maxGap
}

func rtpGap(from, to uint32) time.Duration {
	return time.Duration(to-from) * time.Second / rtpRate
}

// expire ends the current stretch when the silence since its last loud
// packet (by RTP time ts, or by the real clock when packets stop) is long
// enough.
func (l *listener) expire(ts uint32, real time.Time) {
	if l.cur == nil {
		return
	}
	if rtpGap(l.cur.lastTS, ts) > maxGapFor(l.cur) || real.Sub(l.cur.lastAt) > silenceAfter+maxGap {
		l.closeCurrent()
	}
}

func (l *listener) closeCurrent() {
	if l.cur.confirms {
		l.cur.ended = true
	}
	l.cur = nil
}

// speechFrom returns the first confirmed speech, from the i-th on, that
// started at t or later.
func (l *listener) speechFrom(i int, t time.Time) (*speech, int) {
	for ; i < len(l.speeches); i++ {
		if s := l.speeches[i]; !s.start.Before(t) {
			return s, i
		}
	}
	return nil, -1
}

// over reports whether s has ended, by the packets or, when they stop,
// by the real clock.
func (s *speech) over(real time.Time) bool {
	return s.ended || real.Sub(s.lastAt) > silenceAfter+maxGap
}
