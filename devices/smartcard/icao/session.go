package icao

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/openenroll/stationd/devices/smartcard/apdu"
)

// AID of the eMRTD LDS1 application (ICAO 9303 p10 §3.10.2).
var AIDeMRTD = []byte{0xA0, 0x00, 0x00, 0x02, 0x47, 0x10, 0x01}

// File identifiers (ICAO 9303 p10 §3.11, Table 40).
const (
	FIDCardAccess uint16 = 0x011C
	FIDCOM        uint16 = 0x011E
	FIDSOD        uint16 = 0x011D
)

// FIDDataGroup returns the file identifier of DGn (0101..0110).
func FIDDataGroup(n int) uint16 { return 0x0100 + uint16(n) }

// Session is one conversation with a chip: a transport plus, once access
// control has run, its secure messaging. It is not safe for concurrent use.
type Session struct {
	T  apdu.Transport
	SM *SecureMessaging // nil before BAC/PACE
	// MaxRead is the most bytes asked for per READ BINARY. 0xDF keeps the
	// protected response within a short APDU's 256 bytes (DO'87' overhead,
	// DO'99', DO'8E', p11 §9.8). Larger values need extended-length APDUs.
	MaxRead int
	// APDUs counts command APDUs sent (for metrics).
	APDUs int
	Rand  io.Reader
}

// DefaultMaxRead is the READ BINARY chunk that fits short APDUs under SM.
const DefaultMaxRead = 0xDF

// NewSession starts a session on t.
func NewSession(t apdu.Transport) *Session {
	return &Session{T: t, MaxRead: DefaultMaxRead, Rand: rand.Reader}
}

// Transmit sends c, protected by secure messaging when established, and
// returns the (unprotected) response with whatever status it carries.
func (s *Session) Transmit(ctx context.Context, c apdu.Command) (apdu.Response, error) {
	s.APDUs++
	if s.SM == nil {
		return apdu.Exchange(ctx, s.T, c)
	}
	w, err := s.SM.Wrap(c)
	if err != nil {
		return apdu.Response{}, err
	}
	r, err := apdu.Exchange(ctx, s.T, w)
	if err != nil {
		return apdu.Response{}, err
	}
	return s.SM.Unwrap(r)
}

// Do is Transmit that turns any status other than 9000 into an error.
func (s *Session) Do(ctx context.Context, c apdu.Command) ([]byte, error) {
	r, err := s.Transmit(ctx, c)
	if err != nil {
		return nil, err
	}
	return r.Data, r.Err()
}

// SelectApplication selects the eMRTD application (p10 §3.10.2).
func (s *Session) SelectApplication(ctx context.Context) error {
	_, err := s.Do(ctx, apdu.Command{CLA: 0, INS: 0xA4, P1: 0x04, P2: 0x0C, Data: AIDeMRTD})
	if err != nil {
		return fmt.Errorf("select eMRTD application: %w", err)
	}
	return nil
}

// SelectFile selects an elementary file by its identifier.
func (s *Session) SelectFile(ctx context.Context, fid uint16) error {
	_, err := s.Do(ctx, apdu.Command{INS: 0xA4, P1: 0x02, P2: 0x0C, Data: []byte{byte(fid >> 8), byte(fid)}})
	if err != nil {
		return fmt.Errorf("select file %04X: %w", fid, err)
	}
	return nil
}

// maxFile bounds the size we accept from a file's length header: the LDS
// files of an ID card are far below this, a larger claim is a broken card.
const maxFile = 1 << 20

// ReadFile selects fid and reads it whole. The length comes from the
// file's own BER-TLV header (every LDS file is one TLV, p10 §4.6).
func (s *Session) ReadFile(ctx context.Context, fid uint16) ([]byte, error) {
	if err := s.SelectFile(ctx, fid); err != nil {
		return nil, err
	}
	head, err := s.readBinary(ctx, 0, 8)
	if err != nil {
		return nil, fmt.Errorf("read file %04X header: %w", fid, err)
	}
	total, err := tlvTotalLen(head)
	if err != nil {
		return nil, fmt.Errorf("file %04X: %w", fid, err)
	}
	if total > maxFile {
		return nil, fmt.Errorf("file %04X claims %d bytes, more than the %d accepted", fid, total, maxFile)
	}
	buf := make([]byte, 0, total)
	buf = append(buf, head[:min(len(head), total)]...)
	for len(buf) < total {
		n := min(total-len(buf), s.MaxRead)
		chunk, err := s.readBinary(ctx, len(buf), n)
		if err != nil {
			return nil, fmt.Errorf("read file %04X at offset %d of %d: %w", fid, len(buf), total, err)
		}
		if len(chunk) == 0 {
			return nil, fmt.Errorf("file %04X: card returned no data at offset %d of %d", fid, len(buf), total)
		}
		buf = append(buf, chunk[:min(len(chunk), total-len(buf))]...)
	}
	return buf, nil
}

func (s *Session) readBinary(ctx context.Context, off, n int) ([]byte, error) {
	if off > 0x7FFF {
		return nil, fmt.Errorf("offset %d beyond READ BINARY's 15-bit range", off)
	}
	r, err := s.Transmit(ctx, apdu.Command{INS: 0xB0, P1: byte(off >> 8), P2: byte(off), Ne: n})
	if err != nil {
		return nil, err
	}
	if r.SW == apdu.SWEndOfFile || r.SW == apdu.SWOK {
		return r.Data, nil
	}
	return nil, r.Err()
}

// tlvTotalLen returns the encoded size of the TLV starting at b.
func tlvTotalLen(b []byte) (int, error) {
	if len(b) < 2 {
		return 0, errors.New("file shorter than a TLV header")
	}
	i := 1
	if b[0]&0x1F == 0x1F { // multi-byte tag
		for i < len(b) && b[i]&0x80 != 0 {
			i++
		}
		i++
	}
	if i >= len(b) {
		return 0, errors.New("truncated TLV tag in file header")
	}
	n, used, err := berLen(b[i:])
	if err != nil {
		return 0, fmt.Errorf("file header: %w", err)
	}
	return i + used + n, nil
}

func (s *Session) random(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.Rand, b); err != nil {
		return nil, err
	}
	return b, nil
}
