// Package emrtd reads and personalizes ICAO 9303 eMRTD chips (ID cards
// such as Vietnam's CCCD) end to end: access control (PACE when the card
// offers it, BAC otherwise), reading and decoding the LDS files, passive
// and active authentication, and writing a blank card with the JMRTD
// passport-applet command set.
package emrtd

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/openenroll/stationd/devices/smartcard/apdu"
	"github.com/openenroll/stationd/devices/smartcard/icao"
	"github.com/openenroll/stationd/devices/smartcard/lds"
)

// AccessKey opens the chip: the MRZ fields (BAC or PACE) or the CAN (PACE).
type AccessKey struct {
	MRZ *icao.MRZKey
	CAN string
}

// ReadOptions tune Read.
type ReadOptions struct {
	Key AccessKey
	// DataGroups to read if EF.COM lists them; nil reads 1, 2, 13, 14, 15.
	DataGroups []int
	// CSCAs are the trusted country signing CA certificates for passive
	// authentication. With none, passive authentication reports an error.
	CSCAs []*x509.Certificate
	// Now is the time certificates are checked at (zero: time.Now()).
	Now time.Time
	// ForceBAC skips PACE even when EF.CardAccess offers it.
	ForceBAC bool
	// MaxRead is the READ BINARY chunk (0: icao.DefaultMaxRead).
	MaxRead int
}

// Document is what was read from a chip.
type Document struct {
	Access string // "BAC", "PACE P-256", "PACE brainpoolP256r1"
	COM    lds.COM
	MRZ    lds.MRZ
	Faces  []lds.Face
	CCCD   *lds.CCCD
	Files  map[uint16][]byte // raw files as read
	// PA is the passive authentication result; PAErr says why it failed.
	PA    *lds.PAResult
	PAErr error
	// AA is "passed", "not supported" (no DG15) or empty when failed (AAErr).
	AA    string
	AAErr error
	APDUs int
}

// Verified reports whether passive authentication passed and active
// authentication did not fail.
func (d *Document) Verified() bool { return d.PAErr == nil && d.AAErr == nil }

var defaultDGs = []int{1, 2, 13, 14, 15}

// Read opens the chip behind t and reads it. Errors in access control or
// transport abort the read; verification failures are reported in the
// Document (PAErr, AAErr) so the operator sees what was read and why it is
// not trusted.
func Read(ctx context.Context, t apdu.Transport, o ReadOptions) (*Document, error) {
	s := icao.NewSession(t)
	if o.MaxRead > 0 {
		s.MaxRead = o.MaxRead
	}
	d := &Document{Files: map[uint16][]byte{}}
	defer func() { d.APDUs = s.APDUs }()

	var offers []lds.PACEOffer
	if !o.ForceBAC {
		if ca, err := readCardAccess(ctx, s); err == nil {
			d.Files[lds.FIDCardAccess] = ca
			if offers, err = lds.ParseCardAccess(ca); err != nil {
				return nil, err
			}
		} else if isTransport(err) {
			return nil, err
		}
	}
	usePACE := len(offers) > 0
	if usePACE {
		pw := icao.Password{MRZ: o.Key.MRZ, CAN: o.Key.CAN}
		err := s.PACE(ctx, pw, offers[0].Param)
		_, cardRefused := apdu.SW(err)
		switch {
		case err == nil:
			d.Access = "PACE " + map[int]string{lds.ParamP256: "P-256", lds.ParamBrainpoolP256r1: "brainpoolP256r1"}[offers[0].Param]
			if err := s.SelectApplication(ctx); err != nil {
				return nil, err
			}
		case cardRefused && o.Key.MRZ != nil:
			// The card announced PACE but refused a step for another
			// reason than a wrong password: ICAO 9303 p11 §4.2 lets the
			// terminal fall back to BAC, which such cards also offer.
			usePACE = false
		default:
			return nil, err
		}
	}
	switch {
	case usePACE:
	default:
		if o.Key.MRZ == nil {
			return nil, errors.New("card offers only BAC, which needs the MRZ (document number, birth and expiry dates), not the CAN")
		}
		if err := s.SelectApplication(ctx); err != nil {
			return nil, err
		}
		if err := s.BAC(ctx, *o.Key.MRZ); err != nil {
			return nil, err
		}
		d.Access = "BAC"
	}

	com, err := s.ReadFile(ctx, lds.FIDCOM)
	if err != nil {
		return nil, fmt.Errorf("EF.COM: %w", err)
	}
	d.Files[lds.FIDCOM] = com
	if d.COM, err = lds.ParseCOM(com); err != nil {
		return nil, err
	}
	sod, err := s.ReadFile(ctx, lds.FIDSOD)
	if err != nil {
		return nil, fmt.Errorf("EF.SOD: %w", err)
	}
	d.Files[lds.FIDSOD] = sod
	want := o.DataGroups
	if want == nil {
		want = defaultDGs
	}
	dgs := map[int][]byte{}
	for _, n := range d.COM.DataGroups {
		if !slices.Contains(want, n) {
			continue
		}
		b, err := s.ReadFile(ctx, lds.FIDForDG(n))
		if err != nil {
			return nil, fmt.Errorf("DG%d: %w", n, err)
		}
		dgs[n] = b
		d.Files[lds.FIDForDG(n)] = b
	}
	if b, ok := dgs[1]; ok {
		if d.MRZ, err = lds.ParseDG1(b); err != nil {
			return nil, err
		}
	}
	if b, ok := dgs[2]; ok {
		if d.Faces, err = lds.ParseDG2(b); err != nil {
			return nil, err
		}
	}
	if b, ok := dgs[13]; ok {
		c, err := lds.ParseDG13(b)
		if err != nil {
			return nil, err
		}
		d.CCCD = &c
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	d.PA, d.PAErr = lds.PassiveAuth(sod, dgs, o.CSCAs, now)

	d.AA = "not supported"
	if b, ok := dgs[15]; ok {
		d.AA = ""
		pub, err := lds.ParseDG15(b)
		if err == nil {
			err = s.ActiveAuth(ctx, pub)
		}
		if err != nil {
			if isTransport(err) {
				return nil, err
			}
			d.AAErr = err
		} else {
			d.AA = "passed"
		}
	}
	return d, nil
}

// readCardAccess reads EF.CardAccess from the master file by its short
// file identifier 1C (ICAO 9303 p10 §3.11.3), before any access control.
func readCardAccess(ctx context.Context, s *icao.Session) ([]byte, error) {
	r, err := s.Transmit(ctx, apdu.Command{INS: 0xB0, P1: 0x80 | 0x1C, Ne: 256})
	if err != nil {
		return nil, err
	}
	if r.SW != apdu.SWOK && r.SW != apdu.SWEndOfFile {
		return nil, r.Err()
	}
	return r.Data, nil
}

// isTransport reports errors that are not the card's answer (a status
// word) but a failure to talk to it at all (card pulled, reader gone,
// context cancelled).
func isTransport(err error) bool {
	if _, ok := apdu.SW(err); ok {
		return false
	}
	return err != nil
}
