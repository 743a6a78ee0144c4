package tech

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/devices/smartcard"
)

// reader tests a PC/SC card reader: with a card on it, the card's answer
// to reset and one plain APDU; without, only that the reader is there.
type reader struct {
	s *Service
	r *smartcard.Reader
}

func readerTester(s *Service, dev devices.Device) tester {
	r, ok := dev.(*smartcard.Reader)
	if !ok {
		return nil
	}
	return &reader{s: s, r: r}
}

func (t *reader) steps(run string) int {
	if run == RunCalibrate {
		return 1
	}
	return 3
}

// selectEMRTD selects the eMRTD application by its AID, asking for no
// answer data (ICAO 9303 p10 §3.1: AID A0 00 00 02 47 10 01; ISO/IEC
// 7816-4 SELECT, P1 04 by name, P2 0C no FCI).
var selectEMRTD = []byte{0x00, 0xA4, 0x04, 0x0C, 0x07, 0xA0, 0x00, 0x00, 0x02, 0x47, 0x10, 0x01}

func (t *reader) selftest(ctx context.Context, p *progress) []Check {
	p.next("reader: looking for a card")
	rd := Check{Name: "reader", Result: Pass, Message: fmt.Sprintf("reader %q connected", t.r.Name())}
	if !t.r.CardPresent() {
		rd.Result = Warn
		rd.Message = fmt.Sprintf("reader %q connected, no card on it: the card link was not tested", t.r.Name())
		rd.Advice = "place a chip card (any ID card) on the reader and run the self-test again"
		p.next("answer to reset: skipped, no card")
		p.next("test APDU: skipped, no card")
		return []Check{rd,
			{Name: "atr", Result: Skipped, Message: "no card"},
			{Name: "apdu", Result: Skipped, Message: "no card"}}
	}
	rd.Message += ", card present"
	p.next("answer to reset: connecting to the card")
	cctx, cancel := context.WithTimeout(ctx, t.s.opts.CardWait)
	card, err := t.r.Connect(cctx)
	cancel()
	if err != nil {
		c := Check{Name: "atr", Result: Fail, Message: err.Error(),
			Advice: "lift the card off the reader and place it back; if it fails with several cards, replace the reader"}
		p.next("test APDU: skipped")
		return []Check{rd, c, {Name: "apdu", Result: Skipped, Message: "no connection to the card"}}
	}
	defer card.Close()
	atr := card.ATR()
	ac := Check{Name: "atr", Values: map[string]any{"atr": strings.ToUpper(hex.EncodeToString(atr))}}
	if info, err := ParseATR(atr); err != nil {
		ac.Result, ac.Message = Fail, fmt.Sprintf("the card's answer to reset is malformed: %v", err)
		ac.Advice = "try another card; if every card fails, replace the reader"
	} else {
		ac.Result = Pass
		ac.Message = fmt.Sprintf("answer to reset %s (protocols %v, %d historical bytes)", ac.Values["atr"], info.Protocols, len(info.Historical))
		ac.Values["protocols"] = info.Protocols
	}
	p.next("test APDU: SELECT eMRTD application")
	return []Check{rd, ac, t.apdu(ctx, card)}
}

func (t *reader) apdu(ctx context.Context, card *smartcard.Card) Check {
	c := Check{Name: "apdu"}
	rsp, err := card.Transmit(ctx, selectEMRTD)
	if err != nil {
		c.Result, c.Message = Fail, err.Error()
		c.Advice = "keep the card still on the reader and run the self-test again; if it fails with several cards, replace the reader"
		if errors.Is(err, smartcard.ErrCardRemoved) {
			c.Advice = "the card was lifted during the test: place it back and run the self-test again"
		}
		return c
	}
	sw := uint16(rsp[len(rsp)-2])<<8 | uint16(rsp[len(rsp)-1])
	c.Values = map[string]any{"sw": fmt.Sprintf("%04X", sw)}
	switch {
	case sw == 0x9000:
		c.Result, c.Message = Pass, "SELECT eMRTD application: 9000, the card holds an eMRTD application"
	case sw == 0x6A82:
		// The link works; the card just is not (yet) an eMRTD.
		c.Result, c.Message = Pass, "SELECT eMRTD application: 6A82, the card answers but holds no eMRTD application (blank or another kind of card)"
	case sw>>8 == 0x61 || sw>>8 == 0x6C || sw>>8 == 0x62 || sw>>8 == 0x63:
		c.Result, c.Message = Pass, fmt.Sprintf("SELECT eMRTD application: %04X, the card answers", sw)
	default:
		c.Result = Warn
		c.Message = fmt.Sprintf("SELECT eMRTD application: the card refused with status %04X", sw)
		c.Advice = "the reader talks to the card, but this card refuses the eMRTD selection: try an ID card"
	}
	return c
}

func (t *reader) calibrate(ctx context.Context, p *progress) []Check {
	p.next("card readers need no calibration")
	return []Check{{Name: "calibration", Result: Skipped, Message: "card readers have nothing to calibrate"}}
}

// ATRInfo is what an answer to reset says.
type ATRInfo struct {
	Inverse    bool  // TS 3F: inverse convention
	Protocols  []int // T=0, T=1... in the order offered
	Historical []byte
}

// ParseATR checks an answer to reset's structure (ISO/IEC 7816-3 §8.2):
// TS, T0 with the interface-byte map and the number of historical bytes,
// the TAi..TDi chain, the historical bytes and, when a protocol other than
// T=0 is offered, the check byte TCK (the XOR of T0..TCK is zero).
func ParseATR(b []byte) (ATRInfo, error) {
	var info ATRInfo
	// §8.2.1: at most 32 characters follow TS.
	if len(b) < 2 || len(b) > 33 {
		return info, fmt.Errorf("%d bytes, an ATR has 2 to 33", len(b))
	}
	switch b[0] {
	case 0x3B:
	case 0x3F:
		info.Inverse = true
	default:
		return info, fmt.Errorf("byte 0 (TS) is %02X, not 3B or 3F", b[0])
	}
	i := 1
	y := b[i] >> 4
	k := int(b[i] & 0x0F)
	needTCK := false
	for level := 1; ; level++ {
		td := -1
		for bit := 0; bit < 4; bit++ {
			if y&(1<<bit) == 0 {
				continue
			}
			i++
			if i >= len(b) {
				return info, fmt.Errorf("interface bytes of level %d run past the end (byte %d)", level, i)
			}
			if bit == 3 {
				td = i
			}
		}
		if td < 0 {
			break
		}
		proto := int(b[td] & 0x0F)
		info.Protocols = append(info.Protocols, proto)
		if proto != 0 {
			needTCK = true
		}
		y = b[td] >> 4
	}
	if len(info.Protocols) == 0 {
		info.Protocols = []int{0} // §8.2.3: no TD1 means T=0 only
	}
	hist := i + 1
	if hist+k > len(b) {
		return info, fmt.Errorf("T0 announces %d historical bytes from byte %d, only %d bytes follow", k, hist, len(b)-hist)
	}
	info.Historical = append([]byte(nil), b[hist:hist+k]...)
	end := hist + k
	if needTCK {
		if end != len(b)-1 {
			return info, fmt.Errorf("%d bytes after the historical bytes, expected exactly the check byte TCK", len(b)-end)
		}
		var x byte
		for _, c := range b[1:] {
			x ^= c
		}
		if x != 0 {
			return info, fmt.Errorf("check byte TCK %02X does not match (XOR of T0..TCK is %02X, not 00)", b[len(b)-1], x)
		}
	} else if end != len(b) {
		return info, fmt.Errorf("%d extra bytes after the historical bytes (no TCK with T=0 only)", len(b)-end)
	}
	return info, nil
}
