package zfm

import "encoding/binary"

// Wire constants, from the R30x/ZFM user manual ("Data package format",
// instruction table, confirmation codes). This file is the simulator's own
// reading of the manual; it deliberately shares no code with the driver.
const (
	pidCommand  = 0x01
	pidData     = 0x02
	pidAck      = 0x07
	pidDataLast = 0x08

	insGenImg        = 0x01
	insUpImage       = 0x0A
	insSetSysPara    = 0x0E
	insReadSysPara   = 0x0F
	insVfyPwd        = 0x13
	insTemplateNum   = 0x1D
	insAuraLedConfig = 0x35
	insOpenLED       = 0x50
	insCloseLED      = 0x51

	ccOK           = 0x00
	ccRecvError    = 0x01
	ccNoFinger     = 0x02
	ccUploadImage  = 0x0F
	ccWrongPwd     = 0x13
	ccNoDefinition = 0x19
	ccBadRegister  = 0x1A
	ccBadRegConf   = 0x1B
	ccNeedPassword = 0x21

	// A host frame longer than this is not a command (the longest
	// instruction here has 5 parameter bytes; data packets are at most
	// 256 bytes).
	maxFrameLen = 256 + 2
)

// packet encodes one frame: EF 01, address, PID, length (payload+2),
// payload, 16-bit sum of PID, length bytes and payload.
func packet(addr uint32, pid byte, payload []byte) []byte {
	n := len(payload) + 2
	out := make([]byte, 0, 11+len(payload))
	out = append(out, 0xEF, 0x01)
	out = binary.BigEndian.AppendUint32(out, addr)
	out = append(out, pid, byte(n>>8), byte(n))
	out = append(out, payload...)
	var sum uint16 = uint16(pid) + uint16(n>>8) + uint16(n&0xFF)
	for _, b := range payload {
		sum += uint16(b)
	}
	return binary.BigEndian.AppendUint16(out, sum)
}

// hostFrame is one frame received from the host.
type hostFrame struct {
	addr    uint32
	pid     byte
	payload []byte
	sumOK   bool
	wire    int // bytes it occupied on the line, garbage before it included
}

// scan looks for one frame in buf. It returns ok=false when more bytes
// are needed; skip is how many leading bytes are garbage that can be
// dropped now.
func scan(buf []byte) (f hostFrame, ok bool, skip int) {
	for i := 0; i < len(buf); i++ {
		if buf[i] != 0xEF {
			continue
		}
		if i+1 == len(buf) {
			return f, false, i
		}
		if buf[i+1] != 0x01 {
			continue
		}
		if len(buf)-i < 9 {
			return f, false, i
		}
		n := int(binary.BigEndian.Uint16(buf[i+7 : i+9]))
		if n < 2 || n > maxFrameLen {
			continue
		}
		if len(buf)-i < 9+n {
			return f, false, i
		}
		pid := buf[i+6]
		body := buf[i+9 : i+9+n-2]
		var sum uint16 = uint16(pid) + uint16(n>>8) + uint16(n&0xFF)
		for _, b := range body {
			sum += uint16(b)
		}
		return hostFrame{
			addr:    binary.BigEndian.Uint32(buf[i+2 : i+6]),
			pid:     pid,
			payload: append([]byte(nil), body...),
			sumOK:   sum == binary.BigEndian.Uint16(buf[i+9+n-2:]),
			wire:    i + 9 + n,
		}, true, 0
	}
	return f, false, len(buf)
}
