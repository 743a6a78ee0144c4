package icao

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"

	"github.com/openenroll/stationd/devices/smartcard/apdu"
)

// ErrActiveAuth means the chip could not prove it holds the private key of
// DG15: the chip may be a clone.
var ErrActiveAuth = errors.New("active authentication failed (chip may be cloned)")

// ActiveAuth challenges the chip with INTERNAL AUTHENTICATE (ICAO 9303 p11
// §6.1) and verifies its ECDSA signature (plain r||s over SHA-256 of the
// challenge, BSI TR-03111) with the DG15 public key.
func (s *Session) ActiveAuth(ctx context.Context, pub any) error {
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return fmt.Errorf("active authentication: DG15 key type %T not supported (ECDSA only)", pub)
	}
	ch, err := s.random(8)
	if err != nil {
		return err
	}
	sig, err := s.Do(ctx, apdu.Command{INS: 0x88, Data: ch, Ne: 256})
	if err != nil {
		return fmt.Errorf("active authentication: %w", err)
	}
	n := (ec.Curve.Params().BitSize + 7) / 8
	if len(sig) != 2*n {
		return fmt.Errorf("%w: signature of %d bytes, want %d", ErrActiveAuth, len(sig), 2*n)
	}
	d := sha256.Sum256(ch)
	r, ss := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
	if !ecdsa.Verify(ec, d[:], r, ss) {
		return ErrActiveAuth
	}
	return nil
}
