package zfm

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Packet identifiers (R30x/ZFM user manual, "Data package format").
const (
	PIDCommand  byte = 0x01 // host -> module instruction
	PIDData     byte = 0x02 // data packet, more follow
	PIDAck      byte = 0x07 // module -> host acknowledgement
	PIDDataLast byte = 0x08 // last data packet
)

// Frame layout: header EF 01, 4-byte address, 1-byte packet ID, 2-byte
// big-endian length (payload + 2 checksum bytes), payload, 2-byte
// big-endian checksum = low 16 bits of the sum of the PID, both length bytes
// and every payload byte.
const (
	header0, header1 = 0xEF, 0x01
	headerLen        = 9 // EF 01 + address(4) + pid(1) + length(2)
	checksumLen      = 2
	overhead         = headerLen + checksumLen
	// MaxPayload bounds the payload the parser accepts: the largest data
	// packet is 256 bytes (SysPara packet size code 3); acknowledgements
	// are far shorter. Anything longer is line noise posing as a header.
	MaxPayload = 256
)

// DefaultAddress is the factory module address.
const DefaultAddress uint32 = 0xFFFFFFFF

// Frame is one packet on the wire.
type Frame struct {
	Address uint32
	PID     byte
	Payload []byte
}

// Parse errors.
var (
	// errNeedMore: the buffer holds the start of a frame but not all of it.
	errNeedMore = errors.New("zfm: incomplete frame")
	// ErrChecksum: a whole frame arrived but its checksum is wrong.
	ErrChecksum = errors.New("checksum mismatch")
)

func checksum(pid byte, length int, payload []byte) uint16 {
	s := uint16(pid) + uint16(length>>8) + uint16(length&0xFF)
	for _, b := range payload {
		s += uint16(b)
	}
	return s
}

// AppendFrame appends the wire form of f to dst.
func AppendFrame(dst []byte, f Frame) []byte {
	n := len(f.Payload) + checksumLen
	dst = append(dst, header0, header1)
	dst = binary.BigEndian.AppendUint32(dst, f.Address)
	dst = append(dst, f.PID, byte(n>>8), byte(n))
	dst = append(dst, f.Payload...)
	return binary.BigEndian.AppendUint16(dst, checksum(f.PID, n, f.Payload))
}

func validPID(p byte) bool {
	return p == PIDCommand || p == PIDData || p == PIDAck || p == PIDDataLast
}

// ParseFrame finds the first frame in b. It skips bytes before a plausible
// header (resynchronisation after garbage): a header is EF 01 followed by a
// known packet ID and a length in range; an implausible one is skipped one
// byte at a time. It returns the frame, the number of bytes consumed
// (garbage included) and an error:
//   - errNeedMore when b ends inside a frame (consumed counts only the
//     garbage skipped so far);
//   - ErrChecksum (wrapped, saying where) when a whole frame arrived with a
//     wrong checksum; consumed then includes that frame.
//
// The returned payload aliases b.
func ParseFrame(b []byte) (f Frame, consumed int, err error) {
	i := 0
	for {
		// Find EF 01.
		for i < len(b) && b[i] != header0 {
			i++
		}
		if i+1 >= len(b) {
			return Frame{}, i, errNeedMore
		}
		if b[i+1] != header1 {
			i++
			continue
		}
		if len(b)-i < headerLen {
			return Frame{}, i, errNeedMore
		}
		h := b[i:]
		pid := h[6]
		n := int(binary.BigEndian.Uint16(h[7:9]))
		if !validPID(pid) || n < checksumLen || n > MaxPayload+checksumLen {
			i++ // not a real header: look further
			continue
		}
		if len(h) < headerLen+n {
			return Frame{}, i, errNeedMore
		}
		payload := h[headerLen : headerLen+n-checksumLen]
		got := binary.BigEndian.Uint16(h[headerLen+n-checksumLen:])
		f = Frame{Address: binary.BigEndian.Uint32(h[2:6]), PID: pid, Payload: payload}
		consumed = i + headerLen + n
		if want := checksum(pid, n, payload); got != want {
			return f, consumed, fmt.Errorf("%w: packet 0x%02X of %d bytes carries 0x%04X, computed 0x%04X",
				ErrChecksum, pid, n-checksumLen, got, want)
		}
		return f, consumed, nil
	}
}
