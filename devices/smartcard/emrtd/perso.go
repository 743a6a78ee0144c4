package emrtd

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/openenroll/stationd/devices/smartcard/apdu"
	"github.com/openenroll/stationd/devices/smartcard/icao"
	"github.com/openenroll/stationd/devices/smartcard/lds"
)

// JMRTD passport applet personalization (public reference for open eMRTD
// applets): CREATE FILE E0 with 63 04 size fid, SELECT, UPDATE BINARY D6,
// PUT DATA DA with P2 naming the object, PUT DATA DE AD to lock.
const (
	insCreateFile   = 0xE0
	insUpdateBinary = 0xD6
	insPutData      = 0xDA
	tagMRZ          = 0x62 // 62 { 04 docno, 04 birth, 04 expiry }
	tagAAKeyEC      = 0x63 // this project's simulator: 63 { 04 P-256 scalar }
	tagPACECAN      = 0x65 // this project's simulator: 65 { 04 CAN }
)

// PersoKeys are the secrets put on the card.
type PersoKeys struct {
	MRZ   icao.MRZKey
	CAN   string            // empty: no CAN
	AAKey *ecdsa.PrivateKey // nil: no active authentication
}

// PersoOptions tune Personalize.
type PersoOptions struct {
	// Chunk is the UPDATE BINARY size; 0 takes 255 (the short-APDU limit).
	Chunk int
	// NoLock leaves the card writable (for tests of the life cycle).
	NoLock bool
}

// PersoStats counts what personalization sent.
type PersoStats struct {
	APDUs, Bytes int
}

// Personalize writes files (by file identifier) to a blank card, stores
// the access keys and the active-authentication key, and locks the card.
// Files are written in FID order.
func Personalize(ctx context.Context, t apdu.Transport, files map[uint16][]byte, keys PersoKeys, o PersoOptions) (PersoStats, error) {
	s := icao.NewSession(t)
	chunk := o.Chunk
	if chunk <= 0 {
		chunk = apdu.MaxShortNc
	}
	var st PersoStats
	do := func(what string, c apdu.Command) error {
		_, err := s.Do(ctx, c)
		st.APDUs = s.APDUs
		if err != nil {
			return fmt.Errorf("personalize: %s: %w", what, err)
		}
		return nil
	}
	if err := s.SelectApplication(ctx); err != nil {
		return st, fmt.Errorf("personalize: %w (is this a blank eMRTD applet?)", err)
	}
	for _, fid := range slices.Sorted(maps.Keys(files)) {
		b := files[fid]
		if len(b) > 0x7FFF {
			return st, fmt.Errorf("personalize: file %04X of %d bytes exceeds 32767", fid, len(b))
		}
		f := []byte{0x63, 0x04, byte(len(b) >> 8), byte(len(b)), byte(fid >> 8), byte(fid)}
		if err := do(fmt.Sprintf("create file %04X", fid), apdu.Command{INS: insCreateFile, Data: f}); err != nil {
			return st, err
		}
		if err := do(fmt.Sprintf("select file %04X", fid), apdu.Command{INS: 0xA4, P1: 0x02, P2: 0x0C, Data: []byte{byte(fid >> 8), byte(fid)}}); err != nil {
			return st, err
		}
		for off := 0; off < len(b); off += chunk {
			end := min(off+chunk, len(b))
			if err := do(fmt.Sprintf("write file %04X at %d", fid, off), apdu.Command{INS: insUpdateBinary, P1: byte(off >> 8), P2: byte(off), Data: b[off:end]}); err != nil {
				return st, err
			}
			st.Bytes += end - off
		}
	}
	doc := keys.MRZ.DocumentNumber
	mrz := appendTLV(nil, 0x04, []byte(doc))
	mrz = appendTLV(mrz, 0x04, []byte(keys.MRZ.BirthDate))
	mrz = appendTLV(mrz, 0x04, []byte(keys.MRZ.ExpiryDate))
	if err := do("put MRZ key", apdu.Command{INS: insPutData, P2: tagMRZ, Data: appendTLV(nil, tagMRZ, mrz)}); err != nil {
		return st, err
	}
	if keys.CAN != "" {
		if err := do("put CAN", apdu.Command{INS: insPutData, P2: tagPACECAN, Data: appendTLV(nil, tagPACECAN, appendTLV(nil, 0x04, []byte(keys.CAN)))}); err != nil {
			return st, err
		}
	}
	if keys.AAKey != nil {
		d, err := keys.AAKey.Bytes()
		if err != nil {
			return st, fmt.Errorf("personalize: active-authentication key: %w", err)
		}
		if err := do("put active-authentication key", apdu.Command{INS: insPutData, P2: tagAAKeyEC, Data: appendTLV(nil, tagAAKeyEC, appendTLV(nil, 0x04, d))}); err != nil {
			return st, err
		}
	}
	if !o.NoLock {
		if err := do("lock card", apdu.Command{INS: insPutData, P1: 0xDE, P2: 0xAD}); err != nil {
			return st, err
		}
	}
	return st, nil
}

func appendTLV(dst []byte, tag byte, v []byte) []byte {
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

// Issue personalizes a blank card from a finished enrollment the way an
// issuance site does: it builds the LDS (DG1 from the MRZ, DG2 from the
// portrait, DG13, DG14/DG15 when an active-authentication key is given,
// EF.CardAccess when PACE is wanted), signs EF.SOD with the document
// signer, writes and locks the card, then reads it back with the MRZ key
// and checks passive (and active) authentication against cscas. It fails
// unless the read-back verifies; the Document is returned either way when
// the read-back ran.
func Issue(ctx context.Context, t apdu.Transport, e lds.Enrollment, signer lds.Signer, keys PersoKeys, cscas []*x509.Certificate) (*Document, PersoStats, error) {
	if keys.AAKey != nil {
		e.AAPublicKey = &keys.AAKey.PublicKey
	}
	files, err := lds.BuildFiles(e, signer)
	if err != nil {
		return nil, PersoStats{}, err
	}
	st, err := Personalize(ctx, t, files, keys, PersoOptions{})
	if err != nil {
		return nil, st, err
	}
	d, err := Read(ctx, t, ReadOptions{Key: AccessKey{MRZ: &keys.MRZ}, CSCAs: cscas})
	if err != nil {
		return nil, st, fmt.Errorf("read-back after personalization: %w", err)
	}
	if !d.Verified() {
		return d, st, fmt.Errorf("read-back after personalization does not verify: %w", errors.Join(d.PAErr, d.AAErr))
	}
	for fid, want := range files {
		if got, ok := d.Files[fid]; ok && !bytes.Equal(got, want) {
			return d, st, fmt.Errorf("read-back after personalization: file %04X differs from what was written", fid)
		}
	}
	return d, st, nil
}
