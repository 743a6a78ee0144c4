package icao

import (
	"context"
	"crypto/aes"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"

	"github.com/openenroll/stationd/devices/smartcard/apdu"
	"github.com/openenroll/stationd/internal/crypto/ecp"
)

// PACE domain parameter identifiers this package supports (ICAO 9303 p11
// §9.5.1, Table 6).
const (
	PACEParamP256      = 12
	PACEParamBrainpool = 13
)

// oidPACEGMAES128 is id-PACE-ECDH-GM-AES-CBC-CMAC-128 (0.4.0.127.0.7.2.2.4.2.2),
// DER contents octets (ICAO 9303 p11 §9.2.1).
var oidPACEGMAES128 = []byte{0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x04, 0x02, 0x02}

// Password is a PACE password: the MRZ or the card access number.
type Password struct {
	MRZ *MRZKey
	CAN string
}

func (p Password) key() (k []byte, ref byte, err error) {
	if p.MRZ != nil {
		k, err = p.MRZ.pacePassword()
		return k, 0x01, err // password reference MRZ (p11 §4.4.4.1)
	}
	if p.CAN == "" {
		return nil, 0, errors.New("PACE: no password (MRZ or CAN) given")
	}
	for _, c := range p.CAN {
		if c < '0' || c > '9' {
			return nil, 0, fmt.Errorf("PACE: CAN must be digits, got %q", c)
		}
	}
	return []byte(p.CAN), 0x02, nil // CAN
}

func curveFor(param int) (*ecp.Curve, error) {
	switch param {
	case PACEParamP256:
		return ecp.P256(), nil
	case PACEParamBrainpool:
		return ecp.BrainpoolP256r1(), nil
	}
	return nil, fmt.Errorf("PACE: domain parameters %d not supported (only 12 P-256, 13 brainpoolP256r1)", param)
}

// PACE runs PACE with generic mapping over ECDH and AES-128 secure
// messaging (ICAO 9303 p11 §4.4) and installs the session.
func (s *Session) PACE(ctx context.Context, pw Password, param int) error {
	curve, err := curveFor(param)
	if err != nil {
		return err
	}
	secret, ref, err := pw.key()
	if err != nil {
		return err
	}
	s.SM = nil
	// MSE:Set AT (p11 §4.4.4.1): protocol OID, password reference, domain parameters.
	mse := appendTLV(nil, 0x80, oidPACEGMAES128)
	mse = appendTLV(mse, 0x83, []byte{ref})
	mse = appendTLV(mse, 0x84, []byte{byte(param)})
	if _, err := s.Do(ctx, apdu.Command{INS: 0x22, P1: 0xC1, P2: 0xA4, Data: mse}); err != nil {
		return fmt.Errorf("PACE MSE:Set AT: %w", err)
	}
	ga := func(step string, last bool, tag byte, v []byte) ([]byte, byte, error) {
		cla := byte(0x10) // command chaining (ISO 7816-4 §5.1.1)
		if last {
			cla = 0
		}
		data := []byte{0x7C, 0x00}
		if tag != 0 {
			data = appendTLV(nil, 0x7C, appendTLV(nil, tag, v))
		}
		r, err := s.Transmit(ctx, apdu.Command{CLA: cla, INS: 0x86, Data: data, Ne: 256})
		if err != nil {
			return nil, 0, fmt.Errorf("PACE %s: %w", step, err)
		}
		if r.SW == apdu.SWVerifyFailed || r.SW&0xFFF0 == 0x63C0 {
			return nil, 0, ErrAccessDenied
		}
		if err := r.Err(); err != nil {
			return nil, 0, fmt.Errorf("PACE %s: %w", step, err)
		}
		t, val, rest, err := readSimpleTLV(r.Data)
		if err != nil || t != 0x7C || len(rest) != 0 {
			return nil, 0, fmt.Errorf("PACE %s: answer is not a dynamic authentication data object 7C", step)
		}
		it, iv, rest, err := readSimpleTLV(val)
		if err != nil || len(rest) != 0 {
			return nil, 0, fmt.Errorf("PACE %s: malformed dynamic authentication data", step)
		}
		return iv, it, nil
	}
	// Step 1: encrypted nonce, s = D(K_π, z) (p11 §4.4.3.1).
	z, tag, err := ga("encrypted nonce", false, 0, nil)
	if err != nil {
		return err
	}
	if tag != 0x80 || len(z) != 16 {
		return fmt.Errorf("PACE encrypted nonce: tag %02X with %d bytes, want 80 with 16", tag, len(z))
	}
	blk, _ := aes.NewCipher(deriveKey(secret, kdfPi, algAES128))
	nonceBytes, _ := cbcDecrypt(blk, make([]byte, 16), z)
	nonce := new(big.Int).SetBytes(nonceBytes)

	// Step 2: generic mapping, G' = s·G + H with H = SK_map·PK_map,IC (p11 §4.4.3.3.1).
	skMap, err := s.scalar(curve)
	if err != nil {
		return err
	}
	pkMapIC, tag, err := ga("map nonce", false, 0x81, curve.Marshal(curve.ScalarMult(curve.G(), skMap)))
	if err != nil {
		return err
	}
	if tag != 0x82 {
		return fmt.Errorf("PACE map nonce: tag %02X, want 82", tag)
	}
	pkMap, err := curve.Unmarshal(pkMapIC)
	if err != nil {
		return fmt.Errorf("PACE map nonce: card's key: %w", err)
	}
	gMapped := curve.Add(curve.ScalarMult(curve.G(), nonce), curve.ScalarMult(pkMap, skMap))
	if gMapped.Infinity() {
		return errors.New("PACE: mapped generator is the point at infinity")
	}

	// Step 3: ephemeral key agreement on G'.
	skEph, err := s.scalar(curve)
	if err != nil {
		return err
	}
	pkEphPCD := curve.Marshal(curve.ScalarMult(gMapped, skEph))
	pkEphICRaw, tag, err := ga("key agreement", false, 0x83, pkEphPCD)
	if err != nil {
		return err
	}
	if tag != 0x84 {
		return fmt.Errorf("PACE key agreement: tag %02X, want 84", tag)
	}
	if subtle.ConstantTimeCompare(pkEphICRaw, pkEphPCD) == 1 {
		return errors.New("PACE: card echoed our ephemeral key")
	}
	pkEphIC, err := curve.Unmarshal(pkEphICRaw)
	if err != nil {
		return fmt.Errorf("PACE key agreement: card's key: %w", err)
	}
	shared := curve.ScalarMult(pkEphIC, skEph)
	if shared.Infinity() {
		return errors.New("PACE: shared secret is the point at infinity")
	}
	kShared := shared.X.FillBytes(make([]byte, curve.ByteLen))
	kEnc, kMAC := deriveKey(kShared, kdfEnc, algAES128), deriveKey(kShared, kdfMAC, algAES128)

	// Step 4: mutual authentication tokens over the other side's key (p11 §4.4.3.4).
	tPCD := cmac(kMAC, paceAuthInput(pkEphICRaw))[:8]
	tIC, tag, err := ga("mutual authentication", true, 0x85, tPCD)
	if err != nil {
		return err
	}
	if tag != 0x86 || subtle.ConstantTimeCompare(tIC, cmac(kMAC, paceAuthInput(pkEphPCD))[:8]) != 1 {
		return errors.New("PACE: the card's authentication token is wrong (card not genuine or corrupted link)")
	}
	s.SM = newSM(algAES128, kEnc, kMAC, make([]byte, 16))
	return nil
}

// paceAuthInput encodes the public key data object 7F49 { 06 OID, 86 point }
// that the authentication tokens are computed over (BSI TR-03110-3 §D.3.5).
func paceAuthInput(pk []byte) []byte {
	inner := appendTLV(nil, 0x06, oidPACEGMAES128)
	inner = appendTLV(inner, 0x86, pk)
	return append([]byte{0x7F}, appendTLV(nil, 0x49, inner)...)
}

func (s *Session) scalar(c *ecp.Curve) (*big.Int, error) {
	for {
		b, err := s.random(c.ByteLen)
		if err != nil {
			return nil, err
		}
		k := new(big.Int).SetBytes(b)
		if k.Sign() > 0 && k.Cmp(c.N) < 0 {
			return k, nil
		}
	}
}
