package lds

import (
	"fmt"
)

// File identifiers of the LDS (ICAO 9303 p10 §3.11.2).
const (
	FIDCardAccess uint16 = 0x011C
	FIDCOM        uint16 = 0x011E
	FIDSOD        uint16 = 0x011D
)

// FIDForDG returns DGn's file identifier.
func FIDForDG(n int) uint16 { return 0x0100 + uint16(n) }

// Enrollment is what a finished enrollment gives the card: MRZ data, the
// portrait, the CCCD details, and optional PACE and active-authentication
// set-up.
type Enrollment struct {
	MRZ  MRZ
	Face Face
	CCCD *CCCD // nil: no DG13
	// AAPublicKey, when set, is stored in DG15 (with DG14 announcing ECDSA).
	AAPublicKey any
	// PACEParam, when non-zero (ParamP256 or ParamBrainpoolP256r1), writes
	// EF.CardAccess offering PACE on that curve.
	PACEParam int
}

// BuildFiles encodes every LDS file of the enrollment and signs EF.SOD.
// The map is keyed by file identifier.
func BuildFiles(e Enrollment, s Signer) (map[uint16][]byte, error) {
	dgs := map[int][]byte{1: EncodeDG1(e.MRZ), 2: EncodeDG2(e.Face)}
	if e.CCCD != nil {
		b, err := EncodeDG13(*e.CCCD)
		if err != nil {
			return nil, err
		}
		dgs[13] = b
	}
	if e.AAPublicKey != nil {
		d14, err := EncodeDG14()
		if err != nil {
			return nil, err
		}
		d15, err := EncodeDG15(e.AAPublicKey)
		if err != nil {
			return nil, err
		}
		dgs[14], dgs[15] = d14, d15
	}
	sod, err := EncodeSOD(dgs, s)
	if err != nil {
		return nil, err
	}
	files := map[uint16][]byte{FIDSOD: sod}
	var list []int
	for n, b := range dgs {
		files[FIDForDG(n)] = b
		list = append(list, n)
	}
	files[FIDCOM] = EncodeCOM(COM{LDSVersion: "0107", UnicodeVersion: "040000", DataGroups: list})
	if e.PACEParam != 0 {
		ca, err := EncodeCardAccess(e.PACEParam)
		if err != nil {
			return nil, fmt.Errorf("EF.CardAccess: %w", err)
		}
		files[FIDCardAccess] = ca
	}
	return files, nil
}
