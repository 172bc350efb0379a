package upstream

import "encoding/binary"

// closeScanner watches a WebSocket byte stream (RFC 6455 frames) and calls
// onClose with the first close frame's code and reason. It only reads
// frame headers and close payloads; data frames are skipped by length. On
// anything malformed it stops scanning (the endpoints will fail the
// connection themselves) and never panics.
type closeScanner struct {
	onClose func(code int, reason string)
	done    bool

	hdr  [14]byte
	hn   int // header bytes collected
	need int // header length once known, else 2

	inPayload bool
	remaining uint64
	opcode    byte
	masked    bool
	mask      [4]byte
	pos       uint64
	payload   []byte // a close frame's payload, at most 125 bytes
}

const (
	opClose = 0x8
	// codeNoStatus is RFC 6455's "no status received" (1005): a close frame
	// without a payload.
	codeNoStatus = 1005
)

// feed scans p, which the caller passes on unchanged.
func (s *closeScanner) feed(p []byte) {
	for len(p) > 0 && !s.done {
		if s.inPayload {
			p = s.readPayload(p)
			continue
		}
		var complete bool
		if p, complete = s.readHeader(p); !complete {
			return
		}
		s.startFrame()
	}
}

// readPayload consumes p up to the end of the current frame's payload,
// keeping a close frame's bytes unmasked, and returns the rest of p.
func (s *closeScanner) readPayload(p []byte) []byte {
	n := min(uint64(len(p)), s.remaining)
	if s.opcode == opClose {
		for _, b := range p[:n] {
			if s.masked {
				b ^= s.mask[s.pos%4]
			}
			s.payload = append(s.payload, b)
			s.pos++
		}
	}
	s.remaining -= n
	if s.remaining == 0 {
		s.frameDone()
	}
	return p[n:]
}

// readHeader collects a frame header's bytes from p; it returns the rest
// of p and whether the header is complete.
func (s *closeScanner) readHeader(p []byte) ([]byte, bool) {
	if s.need == 0 {
		s.need = 2
	}
	for s.hn < s.need && len(p) > 0 {
		s.hdr[s.hn] = p[0]
		s.hn++
		p = p[1:]
		if s.hn == 2 {
			s.need = headerLen(s.hdr[1])
		}
	}
	return p, s.hn == s.need
}

// headerLen is the length of a frame header whose second byte is b1: the
// extended payload length and the masking key follow the first two bytes.
func headerLen(b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n = 4
	case 127:
		n = 10
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// startFrame reads the complete header in s.hdr and starts the frame's
// payload; it stops scanning on a length RFC 6455 forbids.
func (s *closeScanner) startFrame() {
	s.opcode = s.hdr[0] & 0x0f
	s.masked = s.hdr[1]&0x80 != 0
	off := 2
	switch l7 := s.hdr[1] & 0x7f; l7 {
	case 126:
		s.remaining = uint64(binary.BigEndian.Uint16(s.hdr[2:4]))
		off = 4
	case 127:
		s.remaining = binary.BigEndian.Uint64(s.hdr[2:10])
		off = 10
	default:
		s.remaining = uint64(l7)
	}
	// RFC 6455 5.2: a 64-bit length's most significant bit must be 0, and
	// control frames carry at most 125 bytes.
	if s.remaining>>63 != 0 || s.opcode >= 0x8 && s.remaining > 125 {
		s.done = true
		return
	}
	if s.masked {
		copy(s.mask[:], s.hdr[off:off+4])
	}
	s.pos, s.payload = 0, s.payload[:0]
	if s.remaining == 0 {
		s.frameDone()
		return
	}
	s.inPayload = true
}

// frameDone ends the current frame: a close frame is reported and ends the
// scan, any other readies the scanner for the next header.
func (s *closeScanner) frameDone() {
	if s.opcode == opClose {
		s.done = true
		code, reason := codeNoStatus, ""
		if len(s.payload) >= 2 {
			code = int(binary.BigEndian.Uint16(s.payload[:2]))
			reason = string(s.payload[2:])
		}
		if s.onClose != nil {
			s.onClose(code, reason)
		}
		return
	}
	s.hn, s.need, s.inPayload = 0, 0, false
}
