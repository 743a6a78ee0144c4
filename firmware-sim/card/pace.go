package card

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"math/big"

	"github.com/openenroll/stationd/internal/crypto/ecp"
)

// id-PACE-ECDH-GM-AES-CBC-CMAC-128, 0.4.0.127.0.7.2.2.4.2.2 (ICAO 9303
// p11 §9.2.1), DER contents octets.
var oidPACEECDHGMAES128 = []byte{0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x04, 0x02, 0x02}

// Standardized domain parameter identifiers (ICAO 9303 p11 §9.5.1).
const (
	paramP256      = 12
	paramBrainpool = 13
)

type paceState struct {
	curve    *ecp.Curve
	password []byte
	step     int
	nonce    *big.Int
	g        ecp.Point // mapped generator
	skMap    *big.Int
	skEph    *big.Int
	pkEphPCD []byte
	pkEphIC  []byte
	kEnc     []byte
	kMAC     []byte
}

func sha1Sum(b []byte) []byte { s := sha1.Sum(b); return s[:] }

func cbcEnc(b cipher.Block, in, out []byte) {
	cipher.NewCBCEncrypter(b, make([]byte, b.BlockSize())).CryptBlocks(out, in)
}

func cbcDec(b cipher.Block, in, out []byte) {
	cipher.NewCBCDecrypter(b, make([]byte, b.BlockSize())).CryptBlocks(out, in)
}

// paramID returns the domain parameters announced in EF.CardAccess (the
// last byte of the first PACEInfo's parameterId), P-256 if none.
func (c *Card) paramID() int {
	f, ok := c.files[fidCardAcc]
	if !ok {
		return paramP256
	}
	// PACEInfo ::= SEQUENCE { OID, INTEGER version, INTEGER parameterId };
	// the card trusts its own file, so a plain scan for the OID suffices.
	d := f.data
	for i := 0; i+len(oidPACEECDHGMAES128)+6 <= len(d); i++ {
		if string(d[i:i+len(oidPACEECDHGMAES128)]) == string(oidPACEECDHGMAES128) {
			j := i + len(oidPACEECDHGMAES128)
			// 02 01 02 (version 2) 02 01 id
			if d[j] == 0x02 && d[j+1] == 1 && d[j+3] == 0x02 && d[j+4] == 1 {
				return int(d[j+5])
			}
		}
	}
	return paramP256
}

// mseSetAT selects PACE with a password (ICAO 9303 p11 §4.4.4.1).
func (c *Card) mseSetAT(p plainCmd) uint16 {
	if p.p1 != 0xC1 || p.p2 != 0xA4 {
		return swWrongP1P2
	}
	c.pace, c.sm = nil, nil
	if c.faults.RejectPACE {
		return swWrongData
	}
	var oid []byte
	ref := byte(0)
	rest := p.data
	for len(rest) > 0 {
		t, v, n, ok := tlv1(rest)
		if !ok {
			return swWrongData
		}
		switch t {
		case 0x80:
			oid = v
		case 0x83:
			if len(v) == 1 {
				ref = v[0]
			}
		}
		rest = n
	}
	if string(oid) != string(oidPACEECDHGMAES128) {
		return swRefNotFound
	}
	if _, ok := c.files[fidCardAcc]; !ok {
		return swRefNotFound
	}
	st := &paceState{curve: ecp.P256()}
	if c.paramID() == paramBrainpool {
		st.curve = ecp.BrainpoolP256r1()
	}
	switch ref {
	case 1: // MRZ
		if c.doc == "" {
			return swRefNotFound
		}
		st.password = sha1Sum(mrzInfo(c.doc, c.birth, c.expiry))
	case 2: // CAN
		if c.can == "" {
			return swRefNotFound
		}
		st.password = []byte(c.can)
	default:
		return swRefNotFound
	}
	c.pace = st
	return swOK
}

func dynAuth(tag byte, v []byte) []byte { return putTLV(nil, 0x7C, putTLV(nil, tag, v)) }

// generalAuth runs the four GENERAL AUTHENTICATE steps of PACE generic
// mapping (ICAO 9303 p11 §4.4.3.3.1 and §4.4.4.2).
func (c *Card) generalAuth(p plainCmd) ([]byte, uint16) {
	st := c.pace
	if st == nil {
		return nil, swConditions
	}
	fail := func(code uint16) ([]byte, uint16) { c.pace = nil; return nil, code }
	t, v, rest, ok := tlv1(p.data)
	if !ok || t != 0x7C || len(rest) != 0 {
		return fail(swWrongData)
	}
	var in []byte
	var inTag byte
	if len(v) > 0 {
		if inTag, in, rest, ok = tlv1(v); !ok || len(rest) != 0 {
			return fail(swWrongData)
		}
	}
	chained := p.cla&0x10 != 0
	cv := st.curve
	switch st.step {
	case 0: // encrypted nonce
		if len(v) != 0 || !chained {
			return fail(swWrongData)
		}
		s := make([]byte, 16)
		rand.Read(s)
		st.nonce = new(big.Int).SetBytes(s)
		kpi := kdf(st.password, 3)
		blk, _ := aes.NewCipher(kpi)
		z := make([]byte, 16)
		cbcEnc(blk, s, z)
		st.step = 1
		return dynAuth(0x80, z), swOK
	case 1: // mapping
		if inTag != 0x81 || !chained {
			return fail(swWrongData)
		}
		pk, err := cv.Unmarshal(in)
		if err != nil {
			return fail(swWrongData)
		}
		st.skMap = randScalar(cv)
		h := cv.ScalarMult(pk, st.skMap)
		st.g = cv.Add(cv.ScalarMult(cv.G(), st.nonce), h)
		if st.g.Infinity() {
			return fail(swWrongData)
		}
		st.step = 2
		return dynAuth(0x82, cv.Marshal(cv.ScalarMult(cv.G(), st.skMap))), swOK
	case 2: // ephemeral key agreement on the mapped generator
		if inTag != 0x83 || !chained {
			return fail(swWrongData)
		}
		pk, err := cv.Unmarshal(in)
		if err != nil {
			return fail(swWrongData)
		}
		st.skEph = randScalar(cv)
		st.pkEphIC = cv.Marshal(cv.ScalarMult(st.g, st.skEph))
		if string(st.pkEphIC) == string(in) {
			return fail(swWrongData)
		}
		st.pkEphPCD = append([]byte{}, in...)
		shared := cv.ScalarMult(pk, st.skEph)
		if shared.Infinity() {
			return fail(swWrongData)
		}
		k := shared.X.FillBytes(make([]byte, cv.ByteLen))
		st.kEnc, st.kMAC = kdf(k, 1), kdf(k, 2)
		st.step = 3
		return dynAuth(0x84, st.pkEphIC), swOK
	case 3: // mutual authentication tokens
		if inTag != 0x85 || chained {
			return fail(swWrongData)
		}
		want := aesCMAC(st.kMAC, authToken(st.pkEphIC))[:8]
		if string(want) != string(in) {
			return fail(swAuthFailed)
		}
		tIC := aesCMAC(st.kMAC, authToken(st.pkEphPCD))[:8]
		c.sm = newSession(smAES128, st.kEnc, st.kMAC, make([]byte, 16))
		c.pace = nil
		return dynAuth(0x86, tIC), swOK
	}
	return fail(swConditions)
}

// authToken input: public key data object 7F49 { 06 OID, 86 point }
// (ICAO 9303 p11 §4.4.3.4, BSI TR-03110-3 §D.3.5).
func authToken(pk []byte) []byte {
	inner := putTLV(nil, 0x06, oidPACEECDHGMAES128)
	inner = putTLV(inner, 0x86, pk)
	out := []byte{0x7F, 0x49}
	return append(out, putTLV(nil, 0, inner)[1:]...)
}

func randScalar(c *ecp.Curve) *big.Int {
	for {
		k, _ := rand.Int(rand.Reader, c.N)
		if k.Sign() > 0 {
			return k
		}
	}
}
