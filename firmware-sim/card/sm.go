package card

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"errors"
)

// session is the card's half of secure messaging (ICAO 9303 p11 §9.8).
type session struct {
	alg      smCipher
	enc, mac []byte
	ssc      []byte
	blk      cipher.Block
	bs       int
}

func newSession(alg smCipher, enc, mac, ssc []byte) *session {
	s := &session{alg: alg, enc: enc, mac: mac, ssc: ssc}
	if alg == smDES {
		s.blk, s.bs = desEDE(enc), 8
	} else {
		s.blk, _ = aes.NewCipher(enc)
		s.bs = 16
	}
	return s
}

func (s *session) step() {
	for i := len(s.ssc) - 1; i >= 0; i-- {
		s.ssc[i]++
		if s.ssc[i] != 0 {
			break
		}
	}
}

func (s *session) ivec() []byte {
	iv := make([]byte, s.bs)
	if s.alg == smAES128 {
		s.blk.Encrypt(iv, s.ssc)
	}
	return iv
}

func (s *session) cc(data []byte) []byte {
	m := padISO(append(append([]byte{}, s.ssc...), data...), s.bs)
	if s.alg == smDES {
		return mac3(s.mac, m)
	}
	return aesCMAC(s.mac, m)[:8]
}

var errSM = errors.New("sm")

// plainCmd is a command after the card removed its protection.
type plainCmd struct {
	cla, ins, p1, p2 byte
	data             []byte
	ne               int
}

// unwrap checks and decrypts a protected command.
func (s *session) unwrap(c rawCmd) (plainCmd, error) {
	s.step()
	p := plainCmd{cla: c.cla &^ 0x0C, ins: c.ins, p1: c.p1, p2: c.p2}
	var cryptogram, le, mac []byte
	var covered []byte
	rest := c.data
	for len(rest) > 0 {
		t, v, n, ok := tlv1(rest)
		if !ok {
			return p, errSM
		}
		switch t {
		case 0x85, 0x87:
			cryptogram = v
			covered = append(covered, rest[:len(rest)-len(n)]...)
			if t == 0x87 {
				if len(v) < 1 || v[0] != 1 {
					return p, errSM
				}
				cryptogram = v[1:]
			}
		case 0x97:
			le = v
			covered = append(covered, rest[:len(rest)-len(n)]...)
		case 0x8E:
			mac = v
		default:
			return p, errSM
		}
		rest = n
	}
	if mac == nil {
		return p, errSM
	}
	hdr := padISO([]byte{c.cla, c.ins, c.p1, c.p2}, s.bs)
	if subtle.ConstantTimeCompare(s.cc(append(hdr, covered...)), mac) != 1 {
		return p, errSM
	}
	if cryptogram != nil {
		if len(cryptogram) == 0 || len(cryptogram)%s.bs != 0 {
			return p, errSM
		}
		plain := make([]byte, len(cryptogram))
		cipher.NewCBCDecrypter(s.blk, s.ivec()).CryptBlocks(plain, cryptogram)
		d, ok := unpadISO(plain)
		if !ok {
			return p, errSM
		}
		p.data = d
	}
	switch len(le) {
	case 0:
	case 1:
		p.ne = int(le[0])
		if p.ne == 0 {
			p.ne = 256
		}
	case 2:
		p.ne = int(le[0])<<8 | int(le[1])
		if p.ne == 0 {
			p.ne = 65536
		}
	default:
		return p, errSM
	}
	return p, nil
}

// wrap protects a response; badMAC flips a bit of the MAC (fault injection).
func (s *session) wrap(data []byte, sw uint16, badMAC bool) []byte {
	s.step()
	var body []byte
	if len(data) > 0 {
		ct := make([]byte, len(padISO(data, s.bs)))
		cipher.NewCBCEncrypter(s.blk, s.ivec()).CryptBlocks(ct, padISO(data, s.bs))
		body = putTLV(body, 0x87, append([]byte{1}, ct...))
	}
	body = putTLV(body, 0x99, []byte{byte(sw >> 8), byte(sw)})
	m := s.cc(body)
	if badMAC {
		m[0] ^= 1
	}
	body = putTLV(body, 0x8E, m)
	return append(body, byte(sw>>8), byte(sw))
}

// tlv1 reads a one-byte-tag TLV with BER length.
func tlv1(b []byte) (tag byte, val, rest []byte, ok bool) {
	if len(b) < 2 {
		return 0, nil, nil, false
	}
	tag = b[0]
	l, h := int(b[1]), 2
	switch b[1] {
	case 0x81:
		if len(b) < 3 {
			return 0, nil, nil, false
		}
		l, h = int(b[2]), 3
	case 0x82:
		if len(b) < 4 {
			return 0, nil, nil, false
		}
		l, h = int(b[2])<<8|int(b[3]), 4
	default:
		if b[1] > 0x80 {
			return 0, nil, nil, false
		}
	}
	if len(b)-h < l {
		return 0, nil, nil, false
	}
	return tag, b[h : h+l], b[h+l:], true
}

func putTLV(dst []byte, tag byte, v []byte) []byte {
	dst = append(dst, tag)
	switch {
	case len(v) > 0xFF:
		dst = append(dst, 0x82, byte(len(v)>>8), byte(len(v)))
	case len(v) > 0x7F:
		dst = append(dst, 0x81, byte(len(v)))
	default:
		dst = append(dst, byte(len(v)))
	}
	return append(dst, v...)
}
