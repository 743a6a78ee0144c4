// Package apdu encodes ISO/IEC 7816-4 command APDUs (short and extended
// length), decodes response APDUs, turns status words into typed errors,
// and runs the transport-level exchanges a reader must handle on the card's
// behalf: GET RESPONSE after 61xx and resending with the right Le after 6Cxx.
package apdu

import (
	"context"
	"errors"
	"fmt"
)

// Command is one command APDU. Ne is the number of response bytes expected
// (0 = no response data expected); ExtendedLe forces extended encoding.
type Command struct {
	CLA, INS, P1, P2 byte
	Data             []byte
	// Ne is the maximum number of data bytes expected back. 256 (short) or
	// 65536 (extended) means "as many as available" (Le = 00 / 0000).
	Ne       int
	Extended bool // use extended length fields even when short would do
}

// MaxShortNc and MaxShortNe are the limits of short APDUs (ISO 7816-4 §5.1).
const (
	MaxShortNc = 255
	MaxShortNe = 256
	MaxExtNc   = 65535
	MaxExtNe   = 65536
)

// Encode serialises the command in one of the four ISO 7816-4 cases, short
// when it fits and extended otherwise.
func (c Command) Encode() ([]byte, error) {
	nc := len(c.Data)
	if nc > MaxExtNc {
		return nil, fmt.Errorf("apdu: command data of %d bytes exceeds %d", nc, MaxExtNc)
	}
	if c.Ne < 0 || c.Ne > MaxExtNe {
		return nil, fmt.Errorf("apdu: Ne %d out of range 0..%d", c.Ne, MaxExtNe)
	}
	ext := c.Extended || nc > MaxShortNc || c.Ne > MaxShortNe
	b := make([]byte, 0, 4+3+nc+3)
	b = append(b, c.CLA, c.INS, c.P1, c.P2)
	switch {
	case nc == 0 && c.Ne == 0: // case 1
	case !ext:
		if nc > 0 { // case 3 or 4, short
			b = append(b, byte(nc))
			b = append(b, c.Data...)
		}
		if c.Ne > 0 {
			b = append(b, byte(c.Ne)) // 256 encodes as 00
		}
	default:
		if nc > 0 { // extended Lc: 00 hi lo
			b = append(b, 0, byte(nc>>8), byte(nc))
			b = append(b, c.Data...)
		}
		if c.Ne > 0 {
			if nc == 0 {
				b = append(b, 0) // case 2E: Le is 00 hi lo
			}
			b = append(b, byte(c.Ne>>8), byte(c.Ne)) // 65536 encodes as 0000
		}
	}
	return b, nil
}

// ParseCommand decodes a command APDU (the card side of Encode).
func ParseCommand(b []byte) (Command, error) {
	if len(b) < 4 {
		return Command{}, fmt.Errorf("apdu: command of %d bytes is shorter than its 4-byte header", len(b))
	}
	c := Command{CLA: b[0], INS: b[1], P1: b[2], P2: b[3]}
	body := b[4:]
	switch {
	case len(body) == 0:
		return c, nil
	case len(body) == 1:
		c.Ne = int(body[0])
		if c.Ne == 0 {
			c.Ne = 256
		}
		return c, nil
	case body[0] != 0: // short case 3/4
		nc := int(body[0])
		switch len(body) {
		case 1 + nc:
		case 2 + nc:
			c.Ne = int(body[1+nc])
			if c.Ne == 0 {
				c.Ne = 256
			}
		default:
			return Command{}, fmt.Errorf("apdu: short Lc %d does not match body of %d bytes", nc, len(body))
		}
		c.Data = body[1 : 1+nc]
		return c, nil
	}
	// Extended: body starts with 00.
	c.Extended = true
	if len(body) == 3 { // case 2E
		c.Ne = int(body[1])<<8 | int(body[2])
		if c.Ne == 0 {
			c.Ne = 65536
		}
		return c, nil
	}
	if len(body) < 3 {
		return Command{}, fmt.Errorf("apdu: truncated extended length (%d bytes)", len(body))
	}
	nc := int(body[1])<<8 | int(body[2])
	if nc == 0 {
		return Command{}, errors.New("apdu: extended Lc of zero")
	}
	switch len(body) {
	case 3 + nc:
	case 5 + nc:
		c.Ne = int(body[3+nc])<<8 | int(body[4+nc])
		if c.Ne == 0 {
			c.Ne = 65536
		}
	default:
		return Command{}, fmt.Errorf("apdu: extended Lc %d does not match body of %d bytes", nc, len(body))
	}
	c.Data = body[3 : 3+nc]
	return c, nil
}

// Response is a decoded response APDU.
type Response struct {
	Data []byte
	SW   uint16
}

// ParseResponse splits a response into data and status word.
func ParseResponse(b []byte) (Response, error) {
	if len(b) < 2 {
		return Response{}, fmt.Errorf("apdu: response of %d bytes has no status word", len(b))
	}
	n := len(b) - 2
	return Response{Data: b[:n:n], SW: uint16(b[n])<<8 | uint16(b[n+1])}, nil
}

// Bytes is the wire form of the response.
func (r Response) Bytes() []byte {
	out := make([]byte, 0, len(r.Data)+2)
	out = append(out, r.Data...)
	return append(out, byte(r.SW>>8), byte(r.SW))
}

// OK reports a 9000 status.
func (r Response) OK() bool { return r.SW == SWOK }

// Err returns nil for 9000 (and warnings 62xx/63xx are errors too: callers
// of this package never expect them) or a *StatusError.
func (r Response) Err() error {
	if r.SW == SWOK {
		return nil
	}
	return &StatusError{SW: r.SW}
}

// Transport sends one raw APDU and returns the raw response. The PC/SC
// reader implements it; tests may implement it with a simulated card.
type Transport interface {
	Transmit(ctx context.Context, cmd []byte) ([]byte, error)
}

// maxGetResponse bounds the number of 61xx rounds, so a card that always
// says "more" cannot keep us forever.
const maxGetResponse = 512

// Exchange sends cmd over t, following 61xx with GET RESPONSE (ISO 7816-4
// §5.3.4) and resending once with Le = xx after 6Cxx. The returned response
// may carry any status word; use Response.Err to turn it into an error.
func Exchange(ctx context.Context, t Transport, cmd Command) (Response, error) {
	raw, err := cmd.Encode()
	if err != nil {
		return Response{}, err
	}
	rsp, err := roundTrip(ctx, t, raw)
	if err != nil {
		return Response{}, err
	}
	if rsp.SW&0xFF00 == 0x6C00 { // wrong Le: resend with the exact length
		c := cmd
		c.Ne = int(rsp.SW & 0xFF)
		if c.Ne == 0 {
			c.Ne = 256
		}
		if raw, err = c.Encode(); err != nil {
			return Response{}, err
		}
		if rsp, err = roundTrip(ctx, t, raw); err != nil {
			return Response{}, err
		}
	}
	data := rsp.Data
	for i := 0; rsp.SW&0xFF00 == 0x6100; i++ {
		if i == maxGetResponse {
			return Response{}, errors.New("apdu: card keeps answering 61xx (more data) after 512 GET RESPONSE")
		}
		ne := int(rsp.SW & 0xFF)
		if ne == 0 {
			ne = 256
		}
		gr := Command{CLA: cmd.CLA &^ 0x0C, INS: 0xC0, Ne: ne}
		graw, _ := gr.Encode()
		if rsp, err = roundTrip(ctx, t, graw); err != nil {
			return Response{}, err
		}
		data = append(data, rsp.Data...)
	}
	rsp.Data = data
	return rsp, nil
}

func roundTrip(ctx context.Context, t Transport, raw []byte) (Response, error) {
	if err := ctx.Err(); err != nil {
		return Response{}, err
	}
	b, err := t.Transmit(ctx, raw)
	if err != nil {
		return Response{}, err
	}
	return ParseResponse(b)
}
