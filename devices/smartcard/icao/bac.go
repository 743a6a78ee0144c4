package icao

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/openenroll/stationd/devices/smartcard/apdu"
)

// ErrAccessDenied means the card rejected the access key: the MRZ data or
// CAN typed or scanned does not belong to this card.
var ErrAccessDenied = errors.New("card rejected the access key (check document number, birth and expiry dates, or CAN)")

// BAC runs Basic Access Control (ICAO 9303 p11 §4.3) and installs 3DES
// secure messaging on the session.
func (s *Session) BAC(ctx context.Context, key MRZKey) error {
	seed, err := key.bacSeed()
	if err != nil {
		return fmt.Errorf("BAC key: %w", err)
	}
	kEnc, kMAC := deriveKey(seed, kdfEnc, alg3DES), deriveKey(seed, kdfMAC, alg3DES)
	s.SM = nil
	rndIC, err := s.Do(ctx, apdu.Command{INS: 0x84, Ne: 8})
	if err != nil {
		return fmt.Errorf("BAC GET CHALLENGE: %w", err)
	}
	if len(rndIC) != 8 {
		return fmt.Errorf("BAC GET CHALLENGE: %d bytes, want 8", len(rndIC))
	}
	rndIFD, err := s.random(8)
	if err != nil {
		return err
	}
	kIFD, err := s.random(16)
	if err != nil {
		return err
	}
	cmdData := bacCommandData(kEnc, kMAC, rndIFD, rndIC, kIFD)
	r, err := s.Transmit(ctx, apdu.Command{INS: 0x82, Data: cmdData, Ne: 40})
	if err != nil {
		return fmt.Errorf("BAC MUTUAL AUTHENTICATE: %w", err)
	}
	if r.SW == apdu.SWSecurityNotSatisfied || r.SW == apdu.SWVerifyFailed || r.SW&0xFFF0 == 0x63C0 {
		return ErrAccessDenied
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("BAC MUTUAL AUTHENTICATE: %w", err)
	}
	sm, err := bacFinish(kEnc, kMAC, rndIFD, rndIC, kIFD, r.Data)
	if err != nil {
		return err
	}
	s.SM = sm
	return nil
}

// bacCommandData is E_IFD || M_IFD (p11 §4.3.4.1 steps 1-3).
func bacCommandData(kEnc, kMAC, rndIFD, rndIC, kIFD []byte) []byte {
	S := append(append(append([]byte{}, rndIFD...), rndIC...), kIFD...)
	eIFD := cbcEncrypt(tdes(kEnc), make([]byte, 8), S)
	return append(eIFD, retailMAC(kMAC, pad(eIFD, 8))...)
}

// bacFinish checks the card's answer E_IC || M_IC and derives the session.
func bacFinish(kEnc, kMAC, rndIFD, rndIC, kIFD, resp []byte) (*SecureMessaging, error) {
	if len(resp) != 40 {
		return nil, fmt.Errorf("BAC MUTUAL AUTHENTICATE: answer of %d bytes, want 40", len(resp))
	}
	eIC, mIC := resp[:32], resp[32:]
	if subtle.ConstantTimeCompare(retailMAC(kMAC, pad(eIC, 8)), mIC) != 1 {
		return nil, errors.New("BAC: the card's cryptogram MAC is wrong (card not genuine or corrupted link)")
	}
	R, _ := cbcDecrypt(tdes(kEnc), make([]byte, 8), eIC)
	if !equalBytes(R[:8], rndIC) || !equalBytes(R[8:16], rndIFD) {
		return nil, errors.New("BAC: the card's cryptogram does not return our challenge")
	}
	kIC := R[16:32]
	seed := make([]byte, 16)
	for i := range seed {
		seed[i] = kIFD[i] ^ kIC[i]
	}
	ssc := append(append([]byte{}, rndIC[4:]...), rndIFD[4:]...)
	return newSM(alg3DES, deriveKey(seed, kdfEnc, alg3DES), deriveKey(seed, kdfMAC, alg3DES), ssc), nil
}
