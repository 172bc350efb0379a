package upstream

import (
	"encoding/binary"
	"testing"
)

// frame encodes one frame; mask non-nil masks it (client to server).
func frame(op byte, payload []byte, mask []byte) []byte {
	b := []byte{0x80 | op}
	mbit := byte(0)
	if mask != nil {
		mbit = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, mbit|byte(n))
	case n < 1<<16:
		b = append(b, mbit|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, mbit|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if mask != nil {
		b = append(b, mask...)
		for i, c := range payload {
			b = append(b, c^mask[i%4])
		}
		return b
	}
	return append(b, payload...)
}

func closePayload(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

type scanResult struct {
	code   int
	reason string
	closed bool
}

func scanAll(chunks ...[]byte) scanResult {
	var r scanResult
	s := closeScanner{onClose: func(c int, reason string) { r = scanResult{c, reason, true} }}
	for _, c := range chunks {
		s.feed(c)
	}
	return r
}

func TestCloseScanner(t *testing.T) {
	text := func(n int) []byte { return frame(0x1, make([]byte, n), nil) }
	tests := []struct {
		name   string
		stream []byte
		want   scanResult
	}{
		{name: "close 4001", stream: frame(opClose, closePayload(4001, "invalid token"), nil), want: scanResult{4001, "invalid token", true}},
		{name: "after small, 16-bit and 64-bit data frames", stream: concat(text(5), text(300), text(70000), frame(0x2, []byte{1, 2}, nil), frame(opClose, closePayload(1008, ""), nil)), want: scanResult{1008, "", true}},
		{name: "ping and pong pass", stream: concat(frame(0x9, []byte("hi"), nil), frame(0xA, nil, nil), frame(opClose, closePayload(1000, "bye"), nil)), want: scanResult{1000, "bye", true}},
		{name: "masked close", stream: frame(opClose, closePayload(4403, "forbidden"), []byte{1, 2, 3, 4}), want: scanResult{4403, "forbidden", true}},
		{name: "empty close is 1005", stream: frame(opClose, nil, nil), want: scanResult{1005, "", true}},
		{name: "no close", stream: concat(text(10), text(200)), want: scanResult{}},
		{name: "oversized control frame stops scanning", stream: concat(frame(0x9, make([]byte, 200), nil), frame(opClose, closePayload(4001, ""), nil)), want: scanResult{}},
		{name: "truncated close", stream: frame(opClose, closePayload(4001, "x"), nil)[:3], want: scanResult{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scanAll(tt.stream); got != tt.want {
				t.Errorf("whole: got %+v, want %+v", got, tt.want)
			}
			// One byte at a time must give the same answer.
			var chunks [][]byte
			for i := range tt.stream {
				chunks = append(chunks, tt.stream[i:i+1])
			}
			if got := scanAll(chunks...); got != tt.want {
				t.Errorf("bytewise: got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func concat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// FuzzCloseScanner feeds arbitrary streams in arbitrary chunks: it must
// never panic, and chunking must not change the result.
func FuzzCloseScanner(f *testing.F) {
	f.Add(frame(opClose, closePayload(4001, "bad token"), nil), uint8(1))
	f.Add(concat(frame(0x1, make([]byte, 300), nil), frame(opClose, closePayload(1008, ""), []byte{9, 9, 9, 9})), uint8(7))
	f.Add([]byte{0x88, 0x7f, 0xff, 0, 0, 0, 0, 0, 0, 0}, uint8(3))
	f.Add([]byte{0x81, 0x7e, 0xff}, uint8(2))
	f.Fuzz(func(t *testing.T, stream []byte, step uint8) {
		whole := scanAll(stream)
		n := int(step%16) + 1
		var chunks [][]byte
		for i := 0; i < len(stream); i += n {
			chunks = append(chunks, stream[i:min(i+n, len(stream))])
		}
		if got := scanAll(chunks...); got != whole {
			t.Fatalf("chunks of %d: %+v, whole: %+v", n, got, whole)
		}
		if whole.closed && (whole.code < 0 || whole.code > 65535 || len(whole.reason) > 123) {
			t.Fatalf("impossible close %+v", whole)
		}
	})
}
