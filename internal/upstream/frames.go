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
			n := uint64(len(p))
			if n > s.remaining {
				n = s.remaining
			}
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
			p = p[n:]
			if s.remaining == 0 {
				s.frameDone()
			}
			continue
		}
		if s.need == 0 {
			s.need = 2
		}
		for s.hn < s.need && len(p) > 0 {
			s.hdr[s.hn] = p[0]
			s.hn++
			p = p[1:]
			if s.hn == 2 {
				switch s.hdr[1] & 0x7f {
				case 126:
					s.need = 4
				case 127:
					s.need = 10
				}
				if s.hdr[1]&0x80 != 0 {
					s.need += 4
				}
			}
		}
		if s.hn < s.need {
			return
		}
		s.opcode = s.hdr[0] & 0x0f
		s.masked = s.hdr[1]&0x80 != 0
		l7 := uint64(s.hdr[1] & 0x7f)
		off := 2
		switch l7 {
		case 126:
			s.remaining = uint64(binary.BigEndian.Uint16(s.hdr[2:4]))
			off = 4
		case 127:
			s.remaining = binary.BigEndian.Uint64(s.hdr[2:10])
			off = 10
			if s.remaining>>63 != 0 {
				s.done = true // RFC 6455 5.2: the most significant bit must be 0
				return
			}
		default:
			s.remaining = l7
		}
		if s.masked {
			copy(s.mask[:], s.hdr[off:off+4])
		}
		if s.opcode >= 0x8 && s.remaining > 125 {
			s.done = true // control frames carry at most 125 bytes
			return
		}
		s.pos, s.payload = 0, s.payload[:0]
		if s.remaining == 0 {
			s.frameDone()
		} else {
			s.inPayload = true
		}
	}
}

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
