package hid

import (
	"encoding/binary"
	"fmt"
)

// Slap scanner report protocol, docs/hid-slap.md. Every report is
// SlapReportSize bytes, report ID first; multi-byte fields are big-endian.
const (
	SlapReportSize = 64
	// SlapBlockData is the image bytes one ImageBlock report carries
	// (docs/hid-slap.md §3.5: 64 - ID - capture - seq - len - CRC-16).
	SlapBlockData    = 54
	SlapProtoVersion = 1
)

// Output report IDs (host to scanner), docs/hid-slap.md §2.
const (
	RepIdentify  = 0x01
	RepConfigure = 0x02
	RepArm       = 0x03
	RepTrigger   = 0x04
	RepResend    = 0x05
	RepAbort     = 0x06
)

// Input report IDs (scanner to host), docs/hid-slap.md §3.
const (
	RepIdentity   = 0x81
	RepAck        = 0x82
	RepPresence   = 0x83
	RepImageBegin = 0x84
	RepImageBlock = 0x85
	RepImageEnd   = 0x86
	RepError      = 0x87
)

// Slap kinds (docs/hid-slap.md §2.3).
const (
	SlapRightFour = 1
	SlapLeftFour  = 2
	SlapTwoThumbs = 3
)

// Status and error codes (docs/hid-slap.md §4).
const (
	StatusOK          = 0
	StatusBadRequest  = 1
	StatusBusy        = 2
	StatusNotArmed    = 3
	StatusTimeout     = 4
	StatusNoImage     = 5
	StatusUnsupported = 6
	StatusSensor      = 7
)

// SlapStatusText names a status code for error messages.
func SlapStatusText(code uint8) string {
	switch code {
	case StatusOK:
		return "ok"
	case StatusBadRequest:
		return "bad request"
	case StatusBusy:
		return "busy"
	case StatusNotArmed:
		return "not armed"
	case StatusTimeout:
		return "no fingers placed before the timeout"
	case StatusNoImage:
		return "no image to resend"
	case StatusUnsupported:
		return "unsupported setting"
	case StatusSensor:
		return "sensor fault"
	}
	return fmt.Sprintf("status %d", code)
}

// SlapReport is one decoded input report of the slap scanner. Only the
// fields of its ID are set.
type SlapReport struct {
	ID  uint8
	Tag uint8 // Identity, Ack, Error: the request's tag

	// Identity
	Proto         uint8
	MaxPPI        uint16
	PPI           uint16
	Width, Height uint16 // delivered image size at PPI
	PlatenW       uint16 // platen size in 0.1 mm
	PlatenH       uint16
	Firmware      string

	// Ack, Error
	Cmd    uint8
	Status uint8
	Text   string

	Capture uint16 // Presence, Image*, Error

	// Presence
	Zones uint8 // bit i: a finger in zone i (left to right)
	Ready uint8 // 1: the expected fingers are placed and still

	// ImageBegin, ImageEnd
	Blocks uint32
	CRC    uint32

	// ImageBlock
	Seq  uint32
	Data []byte // aliases the report buffer
}

// crc16 is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF), docs/hid-slap.md §3.5.
func crc16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, v := range b {
		crc ^= uint16(v) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// DecodeSlapReport decodes one input report from the slap scanner. It never
// panics; errors say which field at which offset is wrong.
func DecodeSlapReport(b []byte) (SlapReport, error) {
	if len(b) != SlapReportSize {
		return SlapReport{}, fmt.Errorf("slap report: %d bytes, want %d", len(b), SlapReportSize)
	}
	be := binary.BigEndian
	r := SlapReport{ID: b[0]}
	switch r.ID {
	case RepIdentity:
		r.Tag, r.Proto = b[1], b[2]
		r.MaxPPI, r.PPI = be.Uint16(b[3:]), be.Uint16(b[5:])
		r.Width, r.Height = be.Uint16(b[7:]), be.Uint16(b[9:])
		r.PlatenW, r.PlatenH = be.Uint16(b[11:]), be.Uint16(b[13:])
		r.Firmware = cstring(b[15:31])
		if r.Proto != SlapProtoVersion {
			return r, fmt.Errorf("slap identity: protocol version %d at offset 2, this driver speaks %d", r.Proto, SlapProtoVersion)
		}
		if r.PPI == 0 || r.Width == 0 || r.Height == 0 {
			return r, fmt.Errorf("slap identity: zero resolution or size (ppi %d, %dx%d) at offsets 5-10", r.PPI, r.Width, r.Height)
		}
	case RepAck:
		r.Tag, r.Cmd, r.Status = b[1], b[2], b[3]
	case RepPresence:
		r.Capture, r.Zones, r.Ready = be.Uint16(b[1:]), b[3], b[4]
		if r.Zones > 0x0F {
			return r, fmt.Errorf("slap presence: zone bits %#02x at offset 3, only 4 zones exist", r.Zones)
		}
	case RepImageBegin:
		r.Capture = be.Uint16(b[1:])
		r.Width, r.Height, r.PPI = be.Uint16(b[3:]), be.Uint16(b[5:]), be.Uint16(b[7:])
		r.Blocks, r.CRC = be.Uint32(b[9:]), be.Uint32(b[13:])
		n := int(r.Width) * int(r.Height)
		if n == 0 || r.PPI == 0 {
			return r, fmt.Errorf("slap image begin: empty image %dx%d at %d ppi (offsets 3-8)", r.Width, r.Height, r.PPI)
		}
		if want := (n + SlapBlockData - 1) / SlapBlockData; int(r.Blocks) != want {
			return r, fmt.Errorf("slap image begin: %d blocks at offset 9, a %dx%d image needs %d", r.Blocks, r.Width, r.Height, want)
		}
	case RepImageBlock:
		r.Capture, r.Seq = be.Uint16(b[1:]), be.Uint32(b[3:])
		n := int(b[7])
		if n == 0 || n > SlapBlockData {
			return r, fmt.Errorf("slap image block %d: length %d at offset 7 out of range 1..%d", r.Seq, n, SlapBlockData)
		}
		if got, want := be.Uint16(b[62:]), crc16(b[:62]); got != want {
			return r, fmt.Errorf("slap image block %d: CRC-16 %#04x at offset 62, computed %#04x", r.Seq, got, want)
		}
		r.Data = b[8 : 8+n]
	case RepImageEnd:
		r.Capture, r.Blocks, r.CRC = be.Uint16(b[1:]), be.Uint32(b[3:]), be.Uint32(b[7:])
	case RepError:
		r.Tag, r.Status, r.Capture = b[1], b[2], be.Uint16(b[3:])
		r.Text = cstring(b[5:])
	default:
		return r, fmt.Errorf("slap report: unknown report ID %#02x at offset 0", r.ID)
	}
	return r, nil
}

func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			b = b[:i]
			break
		}
	}
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '?' // printable ASCII only: these end up in logs and errors
		}
		out = append(out, c)
	}
	return string(out)
}

// slapOut builds one output report.
func slapOut(id, tag uint8, fields ...any) []byte {
	b := make([]byte, SlapReportSize)
	b[0], b[1] = id, tag
	off := 2
	for _, f := range fields {
		switch v := f.(type) {
		case uint8:
			b[off] = v
			off++
		case uint16:
			binary.BigEndian.PutUint16(b[off:], v)
			off += 2
		case uint32:
			binary.BigEndian.PutUint32(b[off:], v)
			off += 4
		default:
			panic(fmt.Sprintf("slapOut: field type %T", f))
		}
	}
	return b
}
