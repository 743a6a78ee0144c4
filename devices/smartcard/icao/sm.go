package icao

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/openenroll/stationd/devices/smartcard/apdu"
)

// ErrSMResponse marks a response that failed secure-messaging checks (bad
// MAC, missing data objects). The session must be considered broken.
var ErrSMResponse = errors.New("secure messaging response rejected")

// SecureMessaging protects commands and checks responses of one session
// (ICAO 9303 p11 §9.8). It is not safe for concurrent use; every call
// advances the send sequence counter.
type SecureMessaging struct {
	alg   cipherAlg
	kEnc  []byte
	kMAC  []byte
	ssc   []byte
	block cipher.Block
	bsize int
}

func newSM(alg cipherAlg, kEnc, kMAC, ssc []byte) *SecureMessaging {
	s := &SecureMessaging{alg: alg, kEnc: kEnc, kMAC: kMAC, ssc: append([]byte{}, ssc...)}
	if alg == alg3DES {
		s.block, s.bsize = tdes(kEnc), 8
	} else {
		s.block, _ = aes.NewCipher(kEnc)
		s.bsize = 16
	}
	return s
}

// NewSM3DES returns 3DES secure messaging with the given session keys and
// initial send sequence counter (8 bytes), as BAC establishes.
func NewSM3DES(kEnc, kMAC, ssc []byte) *SecureMessaging {
	return newSM(alg3DES, kEnc, kMAC, ssc)
}

// Algorithm names the session cipher ("3DES", "AES-128").
func (s *SecureMessaging) Algorithm() string { return s.alg.String() }

func (s *SecureMessaging) incSSC() {
	for i := len(s.ssc) - 1; i >= 0; i-- {
		s.ssc[i]++
		if s.ssc[i] != 0 {
			return
		}
	}
}

func (s *SecureMessaging) iv() []byte {
	iv := make([]byte, s.bsize)
	if s.alg != alg3DES {
		// AES: IV = E(KSenc, SSC), p11 §9.8.6.3.
		s.block.Encrypt(iv, s.ssc)
	}
	return iv
}

func (s *SecureMessaging) mac(data []byte) []byte {
	msg := pad(append(append([]byte{}, s.ssc...), data...), s.bsize)
	if s.alg == alg3DES {
		return retailMAC(s.kMAC, msg)
	}
	return cmac(s.kMAC, msg)[:8]
}

// Wrap protects a plain command: encrypted data in DO'87' (DO'85' for odd
// INS), expected length in DO'97', MAC in DO'8E' (p11 §9.8.4).
func (s *SecureMessaging) Wrap(c apdu.Command) (apdu.Command, error) {
	if c.CLA&0x0C != 0 {
		return apdu.Command{}, errors.New("command is already secure-messaging protected")
	}
	s.incSSC()
	hdr := pad([]byte{c.CLA | 0x0C, c.INS, c.P1, c.P2}, s.bsize)
	ext := c.Extended || len(c.Data) > apdu.MaxShortNc || c.Ne > apdu.MaxShortNe
	var body []byte
	if len(c.Data) > 0 {
		enc := cbcEncrypt(s.block, s.iv(), pad(c.Data, s.bsize))
		if c.INS&1 == 1 {
			body = appendTLV(body, 0x85, enc)
		} else {
			body = appendTLV(body, 0x87, append([]byte{0x01}, enc...))
		}
	}
	if c.Ne > 0 {
		var le []byte
		if ext {
			le = []byte{byte(c.Ne >> 8), byte(c.Ne)}
		} else {
			le = []byte{byte(c.Ne)}
		}
		body = appendTLV(body, 0x97, le)
	}
	cc := s.mac(append(hdr, body...))
	body = appendTLV(body, 0x8E, cc)
	out := apdu.Command{CLA: c.CLA | 0x0C, INS: c.INS, P1: c.P1, P2: c.P2, Data: body, Ne: apdu.MaxShortNe, Extended: ext}
	if ext || len(body) > apdu.MaxShortNc {
		out.Ne, out.Extended = apdu.MaxExtNe, true
	}
	return out, nil
}

// Unwrap checks a protected response and returns the plain one. A card may
// answer an error without SM objects (p11 §9.8.6.1: 6987/6988 and others
// when it cannot process SM at all); Unwrap reports those as status errors
// rather than MAC failures.
func (s *SecureMessaging) Unwrap(r apdu.Response) (apdu.Response, error) {
	s.incSSC()
	if len(r.Data) == 0 {
		if r.SW == apdu.SWOK {
			return apdu.Response{}, fmt.Errorf("%w: 9000 without secure-messaging data objects", ErrSMResponse)
		}
		return apdu.Response{SW: r.SW}, nil
	}
	objs, err := DecodeSMResponse(r.Data)
	if err != nil {
		return apdu.Response{}, fmt.Errorf("%w: %v", ErrSMResponse, err)
	}
	if objs.DO99 == nil || objs.DO8E == nil {
		return apdu.Response{}, fmt.Errorf("%w: DO'99' or DO'8E' missing", ErrSMResponse)
	}
	want := s.mac(objs.MACInput)
	if subtle.ConstantTimeCompare(want, objs.DO8E) != 1 {
		return apdu.Response{}, fmt.Errorf("%w: MAC of the card's response does not match (wrong keys or corrupted response)", ErrSMResponse)
	}
	out := apdu.Response{SW: uint16(objs.DO99[0])<<8 | uint16(objs.DO99[1])}
	if objs.DO87 != nil {
		if objs.DO87[0] != 0x01 {
			return apdu.Response{}, fmt.Errorf("%w: DO'87' padding indicator %02X, want 01", ErrSMResponse, objs.DO87[0])
		}
		plain, err := cbcDecrypt(s.block, s.iv(), objs.DO87[1:])
		if err != nil {
			return apdu.Response{}, fmt.Errorf("%w: DO'87': %v", ErrSMResponse, err)
		}
		if out.Data, err = unpad(plain); err != nil {
			return apdu.Response{}, fmt.Errorf("%w: DO'87': %v", ErrSMResponse, err)
		}
	}
	return out, nil
}

// SMObjects are the data objects of a protected response.
type SMObjects struct {
	DO87, DO99, DO8E []byte
	// MACInput is the concatenation of the encoded objects covered by the
	// MAC (everything before DO'8E').
	MACInput []byte
}

// DecodeSMResponse splits a protected response body into its data objects
// (p11 §9.8.5). It accepts DO'87', DO'99' and DO'8E' in that order, each at
// most once, and rejects anything else.
func DecodeSMResponse(b []byte) (SMObjects, error) {
	var o SMObjects
	rest := b
	last := 0
	for len(rest) > 0 {
		start := len(b) - len(rest)
		tag, val, next, err := readSimpleTLV(rest)
		if err != nil {
			return SMObjects{}, fmt.Errorf("at offset %d: %v", start, err)
		}
		order := map[byte]int{0x87: 1, 0x99: 2, 0x8E: 3}[tag]
		if order == 0 {
			return SMObjects{}, fmt.Errorf("unexpected data object %02X at offset %d", tag, start)
		}
		if order <= last {
			return SMObjects{}, fmt.Errorf("data object %02X at offset %d out of order or repeated", tag, start)
		}
		last = order
		switch tag {
		case 0x87:
			if len(val) < 2 {
				return SMObjects{}, fmt.Errorf("DO'87' of %d bytes is too short", len(val))
			}
			o.DO87 = val
		case 0x99:
			if len(val) != 2 {
				return SMObjects{}, fmt.Errorf("DO'99' must hold 2 bytes, has %d", len(val))
			}
			o.DO99 = val
		case 0x8E:
			if len(val) != 8 {
				return SMObjects{}, fmt.Errorf("DO'8E' must hold 8 bytes, has %d", len(val))
			}
			o.DO8E = val
			o.MACInput = b[:start]
			if len(next) != 0 {
				return SMObjects{}, fmt.Errorf("%d bytes after DO'8E'", len(next))
			}
		}
		rest = next
	}
	return o, nil
}

// readSimpleTLV reads one tag (single byte) with a BER length (up to 3
// length bytes).
func readSimpleTLV(b []byte) (tag byte, val, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, errors.New("truncated data object")
	}
	tag = b[0]
	n, hl, err := berLen(b[1:])
	if err != nil {
		return 0, nil, nil, err
	}
	b = b[1+hl:]
	if n > len(b) {
		return 0, nil, nil, fmt.Errorf("data object %02X claims %d bytes, %d left", tag, n, len(b))
	}
	return tag, b[:n], b[n:], nil
}

func berLen(b []byte) (n, used int, err error) {
	if len(b) == 0 {
		return 0, 0, errors.New("missing length")
	}
	switch {
	case b[0] < 0x80:
		return int(b[0]), 1, nil
	case b[0] == 0x81 && len(b) >= 2:
		return int(b[1]), 2, nil
	case b[0] == 0x82 && len(b) >= 3:
		return int(b[1])<<8 | int(b[2]), 3, nil
	}
	return 0, 0, fmt.Errorf("unsupported or truncated length byte %02X", b[0])
}

func appendTLV(dst []byte, tag byte, val []byte) []byte {
	dst = append(dst, tag)
	switch n := len(val); {
	case n < 0x80:
		dst = append(dst, byte(n))
	case n < 0x100:
		dst = append(dst, 0x81, byte(n))
	default:
		dst = append(dst, 0x82, byte(n>>8), byte(n))
	}
	return append(dst, val...)
}

// equalBytes is bytes.Equal, named for readability at call sites that
// compare nonces.
var equalBytes = bytes.Equal
