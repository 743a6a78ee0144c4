// Package icao implements the ICAO Doc 9303 part 11 protocols a booth needs
// to talk to an eMRTD chip: Basic Access Control (BAC), PACE with generic
// mapping, secure messaging (3DES and AES), reading the LDS files, active
// authentication, and personalization of blank cards with the JMRTD
// passport-applet command set. It speaks to the card through
// apdu.Transport, so the same code runs over PC/SC or any other link.
package icao

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
)

// KDF counters, ICAO 9303 p11 §9.7.1.
const (
	kdfEnc uint32 = 1
	kdfMAC uint32 = 2
	kdfPi  uint32 = 3 // PACE password key
)

// cipherAlg selects the session cipher of secure messaging.
type cipherAlg int

const (
	alg3DES cipherAlg = iota
	algAES128
	algAES192
	algAES256
)

func (a cipherAlg) keyLen() int {
	switch a {
	case algAES192:
		return 24
	case algAES256:
		return 32
	}
	return 16
}

func (a cipherAlg) String() string {
	return [...]string{"3DES", "AES-128", "AES-192", "AES-256"}[a]
}

// deriveKey is the key derivation function of ICAO 9303 p11 §9.7.1:
// H(seed || counter) truncated; SHA-1 for 3DES and AES-128, SHA-256 for
// longer AES keys; DES keys get odd parity (only cosmetic: crypto/des
// ignores parity, but the published test vectors include it).
func deriveKey(seed []byte, counter uint32, alg cipherAlg) []byte {
	in := append(append([]byte{}, seed...), byte(counter>>24), byte(counter>>16), byte(counter>>8), byte(counter))
	var h []byte
	if alg == algAES192 || alg == algAES256 {
		s := sha256.Sum256(in)
		h = s[:]
	} else {
		s := sha1.Sum(in)
		h = s[:]
	}
	k := append([]byte{}, h[:alg.keyLen()]...)
	if alg == alg3DES {
		for i, b := range k {
			b &= 0xFE
			// Set the low bit so the byte has an odd number of ones.
			p := b ^ b>>4
			p ^= p >> 2
			p ^= p >> 1
			k[i] = b | (^p & 1)
		}
	}
	return k
}

// pad applies ISO/IEC 9797-1 padding method 2: 80 then zeros to a full block.
func pad(b []byte, block int) []byte {
	out := make([]byte, len(b), len(b)+block)
	copy(out, b)
	out = append(out, 0x80)
	for len(out)%block != 0 {
		out = append(out, 0)
	}
	return out
}

// unpad removes padding method 2.
func unpad(b []byte) ([]byte, error) {
	for i := len(b) - 1; i >= 0; i-- {
		switch b[i] {
		case 0:
			continue
		case 0x80:
			return b[:i], nil
		}
		break
	}
	return nil, errors.New("invalid ISO 9797-1 method 2 padding")
}

// tdes returns two-key triple DES (K1, K2, K1) for a 16-byte key.
func tdes(key []byte) cipher.Block {
	k := make([]byte, 24)
	copy(k, key[:16])
	copy(k[16:], key[:8])
	b, err := des.NewTripleDESCipher(k)
	if err != nil {
		panic(err) // key length is fixed by construction
	}
	return b
}

func cbcEncrypt(b cipher.Block, iv, data []byte) []byte {
	out := make([]byte, len(data))
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(out, data)
	return out
}

func cbcDecrypt(b cipher.Block, iv, data []byte) ([]byte, error) {
	if len(data) == 0 || len(data)%b.BlockSize() != 0 {
		return nil, fmt.Errorf("ciphertext of %d bytes is not a whole number of %d-byte blocks", len(data), b.BlockSize())
	}
	out := make([]byte, len(data))
	cipher.NewCBCDecrypter(b, iv).CryptBlocks(out, data)
	return out, nil
}

// retailMAC is ISO/IEC 9797-1 MAC algorithm 3 with DES (the "retail MAC"):
// single-DES CBC with K1 over every block, then decrypt with K2 and encrypt
// with K1 on the last one. msg must already be padded to 8 bytes.
func retailMAC(key, msg []byte) []byte {
	k1, _ := des.NewCipher(key[:8])
	k2, _ := des.NewCipher(key[8:16])
	h := make([]byte, 8)
	for i := 0; i+8 <= len(msg); i += 8 {
		for j := range 8 {
			h[j] ^= msg[i+j]
		}
		k1.Encrypt(h, h)
	}
	k2.Decrypt(h, h)
	k1.Encrypt(h, h)
	return h
}

// cmac is AES-CMAC (NIST SP 800-38B), full 16-byte tag.
func cmac(key, msg []byte) []byte {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	const bs = 16
	l := make([]byte, bs)
	b.Encrypt(l, l)
	k1 := dbl(l)
	k2 := dbl(k1)
	n := (len(msg) + bs - 1) / bs
	last := make([]byte, bs)
	if n == 0 || len(msg)%bs != 0 {
		if n == 0 {
			n = 1
		}
		rem := msg[(n-1)*bs:]
		copy(last, rem)
		last[len(rem)] = 0x80
		xorInto(last, k2)
	} else {
		copy(last, msg[(n-1)*bs:])
		xorInto(last, k1)
	}
	x := make([]byte, bs)
	for i := 0; i < n-1; i++ {
		xorInto(x, msg[i*bs:(i+1)*bs])
		b.Encrypt(x, x)
	}
	xorInto(x, last)
	b.Encrypt(x, x)
	return x
}

// dbl multiplies by x in GF(2^128) (SP 800-38B §6.1, Rb = 0x87).
func dbl(in []byte) []byte {
	out := make([]byte, len(in))
	var carry byte
	for i := len(in) - 1; i >= 0; i-- {
		out[i] = in[i]<<1 | carry
		carry = in[i] >> 7
	}
	if carry == 1 {
		out[len(out)-1] ^= 0x87
	}
	return out
}

func xorInto(dst, src []byte) {
	for i := range dst {
		dst[i] ^= src[i]
	}
}
