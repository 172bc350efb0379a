package smoke

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

// oggOf writes packets as Ogg/Opus with pion's oggwriter, one per page.
func oggOf(t testing.TB, packets ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := oggwriter.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := w.NewTrack(1)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range packets {
		if err := tr.WriteRTP(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(i), Timestamp: uint32(i * 960), SSRC: 1}, Payload: p}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// celt20 is a 20 ms CELT packet (config 31, one frame) of n bytes.
func celt20(n int) []byte {
	p := make([]byte, n)
	p[0] = 31 << 3
	return p
}

func TestLoadUtterance(t *testing.T) {
	u, err := loadUtterance(defaultUtterance)
	if err != nil {
		t.Fatalf("the embedded utterance: %v", err)
	}
	if len(u.packets) != 133 || u.duration != 2660*time.Millisecond {
		t.Errorf("embedded: %d packets, %s; want 133, 2.66s", len(u.packets), u.duration)
	}

	// opusenc's own output: every packet on one page.
	packed, err := os.ReadFile(filepath.Join("testdata", "packed.ogg"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		file    []byte
		packets int
		says    string
	}{
		{name: "one packet per page", file: oggOf(t, celt20(40), celt20(3), celt20(80)), packets: 3},
		{name: "not Ogg", file: []byte("RIFF....WAVEfmt "), says: "not an Ogg/Opus file"},
		{name: "empty", file: nil, says: "not an Ogg/Opus file"},
		{name: "headers only", file: oggOf(t), says: "no audio packets"},
		{name: "truncated", file: oggOf(t, celt20(40))[:60], says: "not an Ogg/Opus file"},
		{name: "several packets per page", file: packed, says: "holds more than one Opus packet; re-encode it with one packet per page (ffmpeg"},
		{name: "too large", file: make([]byte, maxUtteranceBytes+1), says: "at most"},
		{name: "longer than 30s", file: oggOf(t, slices.Repeat([][]byte{celt20(3)}, 1501)...), says: "longer than 30s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := loadUtterance(tt.file)
			if tt.says != "" {
				if !errors.Is(err, ErrUtterance) || !bytes.Contains([]byte(err.Error()), []byte(tt.says)) {
					t.Fatalf("err = %v, want ErrUtterance saying %q", err, tt.says)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(u.packets) != tt.packets {
				t.Errorf("%d packets, want %d", len(u.packets), tt.packets)
			}
		})
	}
}

func FuzzLoadUtterance(f *testing.F) {
	f.Add(defaultUtterance[:2000])
	f.Add(oggOf(f, celt20(40), celt20(3)))
	f.Add([]byte("OggS"))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := loadUtterance(b)
		if err != nil {
			if !errors.Is(err, ErrUtterance) {
				t.Fatalf("error %v is not ErrUtterance", err)
			}
			return
		}
		if len(u.packets) == 0 || len(u.packets) != len(u.lengths) || u.duration <= 0 || u.duration > maxUtterance {
			t.Fatalf("accepted %d packets, %d lengths, %s", len(u.packets), len(u.lengths), u.duration)
		}
	})
}

func TestOpusSamples(t *testing.T) {
	tests := []struct {
		name string
		p    []byte
		want uint64
		fail bool
	}{
		{name: "SILK 10 ms", p: []byte{0 << 3}, want: 480},
		{name: "SILK 60 ms", p: []byte{3 << 3}, want: 2880},
		{name: "hybrid 20 ms", p: []byte{13 << 3}, want: 960},
		{name: "CELT 2.5 ms", p: []byte{16 << 3}, want: 120},
		{name: "CELT 20 ms, two frames", p: []byte{31<<3 | 1}, want: 1920},
		{name: "CELT 20 ms, two frames of different sizes", p: []byte{31<<3 | 2, 1}, want: 1920},
		{name: "code 3, six frames of 20 ms", p: []byte{31<<3 | 3, 6}, want: 5760},
		{name: "code 3, zero frames", p: []byte{31<<3 | 3, 0}, fail: true},
		{name: "code 3, no count", p: []byte{31<<3 | 3}, fail: true},
		{name: "code 3, over 120 ms", p: []byte{31<<3 | 3, 7}, fail: true},
		{name: "empty", p: nil, fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := opusSamples(tt.p)
			if (err != nil) != tt.fail || got != tt.want {
				t.Errorf("= %d, %v; want %d, fail %v", got, err, tt.want, tt.fail)
			}
		})
	}
}

// feed gives the listener packets of the given payload sizes, 20 ms
// apart in RTP time and on the clocks, starting at ts0 and t0.
func feed(l *listener, ts0 uint32, t0 time.Time, sizes ...int) {
	for i, n := range sizes {
		at := t0.Add(time.Duration(i) * 20 * time.Millisecond)
		l.add(&rtp.Packet{Header: rtp.Header{Timestamp: ts0 + uint32(i*960)}, Payload: make([]byte, n)}, at, at)
	}
}

func repeat(n, size int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = size
	}
	return out
}

func TestListener(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	cat := func(parts ...[]int) []int {
		var out []int
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name     string
		sizes    []int
		speeches int
		start    time.Duration // of the first speech, from t0
		length   time.Duration // of the first speech
	}{
		{name: "digital silence and DTX: nothing", sizes: repeat(200, 3)},
		{name: "comfort noise at the limit: nothing", sizes: repeat(200, silentOpusBytes)},
		{name: "a click: nothing", sizes: cat(repeat(10, 3), repeat(3, 80), repeat(10, 3))},
		{name: "loud, then quiet, not 100 ms in a row: nothing", sizes: cat(repeat(3, 80), repeat(6, 3), repeat(3, 80), repeat(20, 3))},
		{name: "encoder warm-up then DTX: nothing", sizes: cat(repeat(10, 55), repeat(1, 1), repeat(50, 3))},
		{name: "DTX comfort noise updates: nothing", sizes: cat(repeat(10, 55), []int{1, 55, 1, 55, 1, 55, 2, 55, 1})},
		{name: "warm-up, DTX, then the greeting", sizes: cat(repeat(10, 55), repeat(1, 1), repeat(50, 100), repeat(10, 3)), speeches: 1, start: 220 * time.Millisecond, length: time.Second},
		{name: "a DTX frame ends speech at once", sizes: cat(repeat(20, 100), repeat(1, 1), repeat(5, 100), repeat(10, 3)), speeches: 1, length: 400 * time.Millisecond},
		{name: "one second of tone", sizes: cat(repeat(10, 3), repeat(50, 80), repeat(30, 3)), speeches: 1, start: 200 * time.Millisecond, length: time.Second},
		{name: "pauses between words stay one speech", sizes: cat(repeat(20, 80), repeat(10, 3), repeat(20, 80), repeat(30, 3)), speeches: 1, length: 1000 * time.Millisecond},
		{name: "two utterances", sizes: cat(repeat(20, 80), repeat(20, 3), repeat(20, 80), repeat(20, 3)), speeches: 2, length: 400 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &listener{}
			feed(l, 1000, t0, tt.sizes...)
			if len(l.speeches) != tt.speeches {
				t.Fatalf("%d speeches, want %d", len(l.speeches), tt.speeches)
			}
			if tt.speeches == 0 {
				return
			}
			s := l.speeches[0]
			if got := s.start.Sub(t0); got != tt.start {
				t.Errorf("start %s, want %s", got, tt.start)
			}
			if s.length() != tt.length {
				t.Errorf("length %s, want %s", s.length(), tt.length)
			}
			if !s.over(t0.Add(time.Hour)) {
				t.Errorf("not over an hour later")
			}
		})
	}
}

// With RFC 6464 levels on the packets, the level decides, not the size.
func TestListenerAudioLevel(t *testing.T) {
	t0 := time.Now()
	l := &listener{levelExt: 1}
	ts := uint32(0)
	add := func(n int, level byte) {
		for range n {
			p := &rtp.Packet{Header: rtp.Header{Timestamp: ts}, Payload: make([]byte, 80)}
			if err := p.SetExtension(1, []byte{level}); err != nil {
				t.Fatal(err)
			}
			l.add(p, t0, t0)
			ts += 960
		}
	}
	add(50, 127)        // big packets of silence by level: -127 dBov
	add(50, voicedDBov) // -50 dBov: still quiet
	if len(l.speeches) != 0 {
		t.Fatalf("quiet levels made %d speeches", len(l.speeches))
	}
	add(15, 30) // -30 dBov: speech
	if len(l.speeches) != 1 {
		t.Fatalf("loud levels made %d speeches", len(l.speeches))
	}
}

func TestSpeechOverByTheClock(t *testing.T) {
	t0 := time.Now()
	l := &listener{}
	feed(l, 0, t0, repeat(20, 80)...) // then the packets stop
	s := l.speeches[0]
	last := t0.Add(19 * 20 * time.Millisecond)
	if s.over(last.Add(silenceAfter)) {
		t.Errorf("over %s after the last packet", silenceAfter)
	}
	if !s.over(last.Add(silenceAfter + maxGap + time.Millisecond)) {
		t.Errorf("not over when packets stopped long ago")
	}
}
