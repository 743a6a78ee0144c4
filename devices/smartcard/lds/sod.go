package lds

import (
	"crypto"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/smallstep/pkcs7"

	_ "crypto/sha256" // hash functions the SOD may name
	_ "crypto/sha512"
)

// Hash algorithm OIDs (NIST).
var (
	oidSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidSHA1   = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
)

func hashForOID(o asn1.ObjectIdentifier) (crypto.Hash, bool) {
	switch {
	case o.Equal(oidSHA256):
		return crypto.SHA256, true
	case o.Equal(oidSHA384):
		return crypto.SHA384, true
	case o.Equal(oidSHA512):
		return crypto.SHA512, true
	case o.Equal(oidSHA1):
		return crypto.SHA1, true
	}
	return 0, false
}

// ldsSecurityObject is ICAO 9303 p10 §4.6.2.2 (version 0, no LDS version info).
type ldsSecurityObject struct {
	Version       int
	HashAlgorithm pkix.AlgorithmIdentifier
	Hashes        []dataGroupHash
}

type dataGroupHash struct {
	Number int
	Hash   []byte
}

// Signer is the document signer that signs EF.SOD at personalization.
type Signer struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// EncodeSOD hashes the data groups with SHA-256 and builds EF.SOD: 77 {
// CMS SignedData over the LDSSecurityObject, content type
// id-icao-mrtd-security-ldsSecurityObject, signed by the document signer
// whose certificate it carries (ICAO 9303 p10 §4.6.2).
func EncodeSOD(dgs map[int][]byte, s Signer) ([]byte, error) {
	lso := ldsSecurityObject{HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: oidSHA256}}
	for _, n := range slices.Sorted(maps.Keys(dgs)) {
		h := crypto.SHA256.New()
		h.Write(dgs[n])
		lso.Hashes = append(lso.Hashes, dataGroupHash{Number: n, Hash: h.Sum(nil)})
	}
	content, err := asn1.Marshal(lso)
	if err != nil {
		return nil, fmt.Errorf("EF.SOD: %w", err)
	}
	sd, err := pkcs7.NewSignedData(content)
	if err != nil {
		return nil, fmt.Errorf("EF.SOD: %w", err)
	}
	sd.GetSignedData().ContentInfo.ContentType = OIDLDSSecurityObj
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSigner(s.Cert, s.Key, pkcs7.SignerInfoConfig{}); err != nil {
		return nil, fmt.Errorf("EF.SOD: sign: %w", err)
	}
	der, err := sd.Finish()
	if err != nil {
		return nil, fmt.Errorf("EF.SOD: %w", err)
	}
	return EncodeTLV(0x77, der), nil
}

// SOD is a parsed EF.SOD.
type SOD struct {
	HashAlg  crypto.Hash
	Hashes   map[int][]byte
	Signer   *x509.Certificate
	p7       *pkcs7.PKCS7
	eContent []byte
}

// cms structures, enough to read the encapsulated content type that the
// pkcs7 package does not expose (RFC 5652 §5.1-5.2).
type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,tag:0"`
}

type signedDataHead struct {
	Version          int
	DigestAlgorithms asn1.RawValue
	Encap            struct {
		Type    asn1.ObjectIdentifier
		Content asn1.RawValue `asn1:"explicit,optional,tag:0"`
	}
}

// ParseSOD reads EF.SOD without verifying it (see PassiveAuth).
func ParseSOD(b []byte) (*SOD, error) {
	f, err := parseFile(b, 0x77, "EF.SOD")
	if err != nil {
		return nil, err
	}
	var ci contentInfo
	if rest, err := asn1.Unmarshal(f.Value, &ci); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("EF.SOD: CMS ContentInfo: %v", orTrailing(err, rest))
	}
	var sdh signedDataHead
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sdh); err != nil {
		return nil, fmt.Errorf("EF.SOD: CMS SignedData: %v", err)
	}
	if !sdh.Encap.Type.Equal(OIDLDSSecurityObj) {
		return nil, fmt.Errorf("EF.SOD: encapsulated content type %v, want ldsSecurityObject %v", sdh.Encap.Type, OIDLDSSecurityObj)
	}
	p7, err := pkcs7.Parse(f.Value)
	if err != nil {
		return nil, fmt.Errorf("EF.SOD: CMS: %w", err)
	}
	var lso ldsSecurityObject
	if rest, err := asn1.Unmarshal(p7.Content, &lso); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("EF.SOD: LDSSecurityObject: %v", orTrailing(err, rest))
	}
	h, ok := hashForOID(lso.HashAlgorithm.Algorithm)
	if !ok {
		return nil, fmt.Errorf("EF.SOD: unsupported data group hash algorithm %v", lso.HashAlgorithm.Algorithm)
	}
	s := &SOD{HashAlg: h, Hashes: map[int][]byte{}, Signer: p7.GetOnlySigner(), p7: p7, eContent: p7.Content}
	for _, dh := range lso.Hashes {
		if dh.Number < 1 || dh.Number > 16 {
			return nil, fmt.Errorf("EF.SOD: hash for data group %d, outside 1..16", dh.Number)
		}
		if len(dh.Hash) != h.Size() {
			return nil, fmt.Errorf("EF.SOD: DG%d hash of %d bytes, %v needs %d", dh.Number, len(dh.Hash), h, h.Size())
		}
		s.Hashes[dh.Number] = dh.Hash
	}
	if s.Signer == nil {
		return nil, errors.New("EF.SOD: no single document-signer certificate in the CMS")
	}
	return s, nil
}

func orTrailing(err error, rest []byte) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%d trailing bytes", len(rest))
}

// ErrPassiveAuth marks a document that failed passive authentication:
// its data may have been altered or it was not issued by a trusted CSCA.
var ErrPassiveAuth = errors.New("passive authentication failed")

// PAResult says what passive authentication established.
type PAResult struct {
	Signer     *x509.Certificate
	CSCA       *x509.Certificate
	CheckedDGs []int // data groups whose hash matched
}

// PassiveAuth verifies EF.SOD (ICAO 9303 p11 §5.1): the CMS signature
// over the LDSSecurityObject, the document signer's certificate against
// the configured CSCA certificates (signature and validity at time at),
// and the hash of every data group read. Any failure returns an error
// wrapping ErrPassiveAuth.
func PassiveAuth(sodFile []byte, dgs map[int][]byte, cscas []*x509.Certificate, at time.Time) (*PAResult, error) {
	sod, err := ParseSOD(sodFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPassiveAuth, err)
	}
	var ct asn1.ObjectIdentifier
	if err := sod.p7.UnmarshalSignedAttribute(pkcs7.OIDAttributeContentType, &ct); err != nil || !ct.Equal(OIDLDSSecurityObj) {
		return nil, fmt.Errorf("%w: EF.SOD content-type attribute missing or not ldsSecurityObject", ErrPassiveAuth)
	}
	if err := sod.p7.Verify(); err != nil {
		return nil, fmt.Errorf("%w: EF.SOD signature: %v", ErrPassiveAuth, err)
	}
	ds := sod.Signer
	if at.Before(ds.NotBefore) || at.After(ds.NotAfter) {
		return nil, fmt.Errorf("%w: document signer certificate %q not valid on %s", ErrPassiveAuth, ds.Subject, at.Format(time.DateOnly))
	}
	res := &PAResult{Signer: ds}
	for _, ca := range cscas {
		if ds.CheckSignatureFrom(ca) == nil {
			if at.Before(ca.NotBefore) || at.After(ca.NotAfter) {
				return nil, fmt.Errorf("%w: CSCA certificate %q not valid on %s", ErrPassiveAuth, ca.Subject, at.Format(time.DateOnly))
			}
			res.CSCA = ca
			break
		}
	}
	if res.CSCA == nil {
		return nil, fmt.Errorf("%w: document signer %q is not signed by any of the %d configured CSCA certificates", ErrPassiveAuth, ds.Subject, len(cscas))
	}
	for _, n := range slices.Sorted(maps.Keys(dgs)) {
		want, ok := sod.Hashes[n]
		if !ok {
			return nil, fmt.Errorf("%w: DG%d was read but EF.SOD has no hash for it", ErrPassiveAuth, n)
		}
		h := sod.HashAlg.New()
		h.Write(dgs[n])
		if subtle.ConstantTimeCompare(h.Sum(nil), want) != 1 {
			return nil, fmt.Errorf("%w: DG%d hash does not match EF.SOD (data group altered)", ErrPassiveAuth, n)
		}
		res.CheckedDGs = append(res.CheckedDGs, n)
	}
	return res, nil
}
