package card

// The card's own cryptography, written from ICAO 9303 p11 and NIST SP
// 800-38B independently of the reader's (devices/smartcard/icao): a
// simulator that shared the driver's code could not catch its bugs. Only
// the elliptic-curve arithmetic (internal/crypto/ecp) is shared.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/sha1"
)

type smCipher int

const (
	smDES smCipher = iota
	smAES128
)

// kdf: ICAO 9303 p11 §9.7.1, K = H(K_seed || c); only the lengths this card
// offers (3DES and AES-128: both SHA-1 truncated to 16 bytes).
func kdf(seed []byte, c byte) []byte {
	h := sha1.New()
	h.Write(seed)
	h.Write([]byte{0, 0, 0, c})
	return h.Sum(nil)[:16]
}

func padISO(b []byte, bs int) []byte {
	n := len(b) + 1
	for n%bs != 0 {
		n++
	}
	out := make([]byte, n)
	copy(out, b)
	out[len(b)] = 0x80
	return out
}

func unpadISO(b []byte) ([]byte, bool) {
	i := len(b) - 1
	for i >= 0 && b[i] == 0 {
		i--
	}
	if i < 0 || b[i] != 0x80 {
		return nil, false
	}
	return b[:i], true
}

func desEDE(key []byte) cipher.Block {
	k := make([]byte, 0, 24)
	k = append(k, key[:16]...)
	k = append(k, key[:8]...)
	b, _ := des.NewTripleDESCipher(k)
	return b
}

// mac3 is ISO/IEC 9797-1 MAC algorithm 3 (DES, output transformation 3);
// the message is padded by the caller.
func mac3(key, msg []byte) []byte {
	a, _ := des.NewCipher(key[:8])
	b, _ := des.NewCipher(key[8:16])
	y := make([]byte, 8)
	blk := make([]byte, 8)
	for off := 0; off < len(msg); off += 8 {
		for i := 0; i < 8; i++ {
			blk[i] = y[i] ^ msg[off+i]
		}
		a.Encrypt(y, blk)
	}
	b.Decrypt(y, y)
	a.Encrypt(y, y)
	return y
}

// aesCMAC follows SP 800-38B §6.2 step by step.
func aesCMAC(key, msg []byte) []byte {
	c, _ := aes.NewCipher(key)
	zero := make([]byte, 16)
	L := make([]byte, 16)
	c.Encrypt(L, zero)
	sub := func(in []byte) []byte {
		out := make([]byte, 16)
		for i := 0; i < 15; i++ {
			out[i] = in[i]<<1 | in[i+1]>>7
		}
		out[15] = in[15] << 1
		if in[0]&0x80 != 0 {
			out[15] ^= 0x87
		}
		return out
	}
	K1 := sub(L)
	K2 := sub(K1)
	var blocks [][]byte
	for i := 0; i < len(msg); i += 16 {
		blocks = append(blocks, msg[i:min(i+16, len(msg))])
	}
	var last []byte
	if len(blocks) > 0 && len(blocks[len(blocks)-1]) == 16 {
		last = make([]byte, 16)
		for i := range last {
			last[i] = blocks[len(blocks)-1][i] ^ K1[i]
		}
	} else {
		var partial []byte
		if len(blocks) > 0 {
			partial = blocks[len(blocks)-1]
		}
		last = make([]byte, 16)
		copy(last, partial)
		last[len(partial)] = 0x80
		for i := range last {
			last[i] ^= K2[i]
		}
		if len(blocks) == 0 {
			blocks = append(blocks, nil)
		}
	}
	C := make([]byte, 16)
	tmp := make([]byte, 16)
	for _, m := range blocks[:len(blocks)-1] {
		for i := range tmp {
			tmp[i] = C[i] ^ m[i]
		}
		c.Encrypt(C, tmp)
	}
	for i := range tmp {
		tmp[i] = C[i] ^ last[i]
	}
	c.Encrypt(C, tmp)
	return C
}

// mrzInfo builds MRZ_information with check digits (ICAO 9303 p3 §4.9).
func mrzInfo(doc, birth, expiry string) []byte {
	for len(doc) < 9 {
		doc += "<"
	}
	var out []byte
	for _, f := range []string{doc, birth, expiry} {
		out = append(out, f...)
		out = append(out, checkDigit(f))
	}
	return out
}

func checkDigit(s string) byte {
	w := [3]int{7, 3, 1}
	t := 0
	for i := 0; i < len(s); i++ {
		v := 0
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			v = int(c - '0')
		case c >= 'A' && c <= 'Z':
			v = int(c-'A') + 10
		}
		t += v * w[i%3]
	}
	return '0' + byte(t%10)
}
