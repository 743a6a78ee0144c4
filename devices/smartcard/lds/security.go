package lds

import (
	"crypto/x509"
	"encoding/asn1"
	"fmt"
)

// Object identifiers (ICAO 9303 p11 §9.2, p10 §4.6.2.3; BSI TR-03111).
var (
	OIDPACEECDHGMAES128 = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 4, 2, 2}
	OIDAAProtocol       = asn1.ObjectIdentifier{2, 23, 136, 1, 1, 5}
	OIDECDSAPlainSHA256 = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 1, 1, 4, 1, 3}
	OIDLDSSecurityObj   = asn1.ObjectIdentifier{2, 23, 136, 1, 1, 1}
)

// PACE standardized domain parameter identifiers (ICAO 9303 p11 §9.5.1).
const (
	ParamP256            = 12
	ParamBrainpoolP256r1 = 13
)

// SecurityInfo is one entry of a SecurityInfos set (EF.CardAccess, DG14).
type SecurityInfo struct {
	Protocol asn1.ObjectIdentifier
	Version  int
	// Param is PACEInfo's parameterId, or -1 when absent.
	Param int
	// Algorithm is ActiveAuthenticationInfo's signatureAlgorithm.
	Algorithm asn1.ObjectIdentifier
}

// EncodeSecurityInfos encodes a SET OF SecurityInfo (DER).
func EncodeSecurityInfos(infos []SecurityInfo) ([]byte, error) {
	var body []byte
	for _, in := range infos {
		var parts []any
		parts = append(parts, in.Protocol, in.Version)
		if in.Param >= 0 {
			parts = append(parts, in.Param)
		}
		if in.Algorithm != nil {
			parts = append(parts, in.Algorithm)
		}
		var seq []byte
		for _, p := range parts {
			b, err := asn1.Marshal(p)
			if err != nil {
				return nil, err
			}
			seq = append(seq, b...)
		}
		body = append(body, EncodeTLV(0x30, seq)...)
	}
	return EncodeTLV(0x31, body), nil
}

// ParseSecurityInfos reads a SET OF SecurityInfo; unknown entries are kept
// with only their protocol OID.
func ParseSecurityInfos(b []byte) ([]SecurityInfo, error) {
	set, rest, err := ParseTLV(b, 0)
	if err != nil {
		return nil, fmt.Errorf("SecurityInfos: %w", err)
	}
	if set.Tag != 0x31 || len(rest) != 0 {
		return nil, fmt.Errorf("SecurityInfos: want one SET (31), found tag %X and %d trailing bytes", set.Tag, len(rest))
	}
	items, err := set.Children()
	if err != nil {
		return nil, fmt.Errorf("SecurityInfos: %w", err)
	}
	var out []SecurityInfo
	for _, it := range items {
		if it.Tag != 0x30 {
			return nil, fmt.Errorf("SecurityInfos offset %d: entry tag %X, want SEQUENCE", it.Offset, it.Tag)
		}
		var raw []asn1.RawValue
		if _, err := asn1.Unmarshal(EncodeTLV(0x30, it.Value), &raw); err != nil {
			return nil, fmt.Errorf("SecurityInfos offset %d: %v", it.Offset, err)
		}
		si := SecurityInfo{Param: -1}
		if len(raw) == 0 {
			return nil, fmt.Errorf("SecurityInfos offset %d: empty entry", it.Offset)
		}
		if _, err := asn1.Unmarshal(raw[0].FullBytes, &si.Protocol); err != nil {
			return nil, fmt.Errorf("SecurityInfos offset %d: protocol is not an OID", it.Offset)
		}
		ints := 0
		for _, r := range raw[1:] {
			switch r.Tag {
			case asn1.TagInteger:
				var v int
				if _, err := asn1.Unmarshal(r.FullBytes, &v); err != nil {
					return nil, fmt.Errorf("SecurityInfos offset %d: %v", it.Offset, err)
				}
				if ints == 0 {
					si.Version = v
				} else {
					si.Param = v
				}
				ints++
			case asn1.TagOID:
				asn1.Unmarshal(r.FullBytes, &si.Algorithm)
			}
		}
		out = append(out, si)
	}
	return out, nil
}

// PACEOffer is what EF.CardAccess offers for PACE.
type PACEOffer struct {
	Protocol asn1.ObjectIdentifier
	Param    int
}

// ParseCardAccess returns the PACE offers of EF.CardAccess this station
// supports (generic mapping, ECDH, AES-128 on P-256 or brainpoolP256r1).
func ParseCardAccess(b []byte) ([]PACEOffer, error) {
	infos, err := ParseSecurityInfos(b)
	if err != nil {
		return nil, fmt.Errorf("EF.CardAccess: %w", err)
	}
	var out []PACEOffer
	for _, in := range infos {
		if in.Protocol.Equal(OIDPACEECDHGMAES128) && in.Version == 2 && (in.Param == ParamP256 || in.Param == ParamBrainpoolP256r1) {
			out = append(out, PACEOffer{Protocol: in.Protocol, Param: in.Param})
		}
	}
	return out, nil
}

// EncodeCardAccess builds EF.CardAccess offering PACE on one curve.
func EncodeCardAccess(param int) ([]byte, error) {
	return EncodeSecurityInfos([]SecurityInfo{{Protocol: OIDPACEECDHGMAES128, Version: 2, Param: param}})
}

// EncodeDG14 builds DG14 (6E) announcing ECDSA active authentication.
func EncodeDG14() ([]byte, error) {
	b, err := EncodeSecurityInfos([]SecurityInfo{{Protocol: OIDAAProtocol, Version: 1, Param: -1, Algorithm: OIDECDSAPlainSHA256}})
	if err != nil {
		return nil, err
	}
	return EncodeTLV(0x6E, b), nil
}

// ParseDG14 reads DG14's SecurityInfos.
func ParseDG14(b []byte) ([]SecurityInfo, error) {
	f, err := parseFile(b, 0x6E, "DG14")
	if err != nil {
		return nil, err
	}
	infos, err := ParseSecurityInfos(f.Value)
	if err != nil {
		return nil, fmt.Errorf("DG14: %w", err)
	}
	return infos, nil
}

// EncodeDG15 builds DG15 (6F) holding the active-authentication public key.
func EncodeDG15(pub any) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("DG15: %w", err)
	}
	return EncodeTLV(0x6F, spki), nil
}

// ParseDG15 returns the active-authentication public key.
func ParseDG15(b []byte) (any, error) {
	f, err := parseFile(b, 0x6F, "DG15")
	if err != nil {
		return nil, err
	}
	pub, err := x509.ParsePKIXPublicKey(f.Value)
	if err != nil {
		return nil, fmt.Errorf("DG15: public key: %w", err)
	}
	return pub, nil
}
