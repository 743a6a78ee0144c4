package packet

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// PEM block types for the central's HPKE keys. The body is the KEM's
// serialized key (RFC 9180 §7.1.2 SerializePrivateKey/SerializePublicKey;
// for ML-KEM-768+X25519 the private key is its 32-byte seed).
const (
	pemHPKEPrivate = "HPKE PRIVATE KEY"
	pemHPKEPublic  = "HPKE PUBLIC KEY"
	// pemStationHeader names the station a public key belongs to, so the
	// central can refuse a packet whose manifest claims another station.
	pemStationHeader = "Station-Id"
)

// ErrKeyPermissions is returned for key files others could read or change.
var ErrKeyPermissions = errors.New("packet: key file permissions too open")

// readKeyFile reads a key file, refusing private keys readable by group or
// others and any key file writable by them. The check is made on the opened
// file, so the file cannot be swapped between check and read.
func readKeyFile(path string, private bool) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("packet: open key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("packet: key file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("packet: key file %s is not a regular file", path)
	}
	perm := st.Mode().Perm()
	if private && perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: private key %s has mode %04o; run chmod 600 on it (only the owner may read it)", ErrKeyPermissions, path, perm)
	}
	if perm&0o022 != 0 {
		return nil, fmt.Errorf("%w: key %s has mode %04o; others may replace it, run chmod go-w on it", ErrKeyPermissions, path, perm)
	}
	return io.ReadAll(io.LimitReader(f, 1<<20))
}

func onePEM(data []byte, path string, types ...string) (*pem.Block, error) {
	blk, rest := pem.Decode(data)
	if blk == nil {
		return nil, fmt.Errorf("packet: %s holds no PEM block", path)
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, fmt.Errorf("packet: %s holds more than one PEM block; keep one key per file", path)
	}
	for _, t := range types {
		if blk.Type == t {
			return blk, nil
		}
	}
	return nil, fmt.Errorf("packet: %s holds a %q block, want %s", path, blk.Type, strings.Join(types, " or "))
}

// Signer is the station's signing key.
type Signer struct {
	KeyID string
	key   crypto.Signer
	alg   jose.SignatureAlgorithm
}

// NewSigner wraps an Ed25519 or ECDSA (P-256, P-384) private key. The key
// id is the RFC 7638 JWK thumbprint (SHA-256, base64url) of its public key.
func NewSigner(key crypto.Signer) (*Signer, error) {
	var alg jose.SignatureAlgorithm
	switch k := key.(type) {
	case ed25519.PrivateKey:
		alg = jose.EdDSA
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			alg = jose.ES256
		case elliptic.P384():
			alg = jose.ES384
		default:
			return nil, fmt.Errorf("packet: ECDSA curve %s not supported (use P-256 or P-384)", k.Curve.Params().Name)
		}
	default:
		return nil, fmt.Errorf("packet: signing key type %T not supported (use Ed25519 or ECDSA)", key)
	}
	kid, err := keyID(key.Public())
	if err != nil {
		return nil, err
	}
	return &Signer{KeyID: kid, key: key, alg: alg}, nil
}

// Public returns the signer's public key.
func (s *Signer) Public() crypto.PublicKey { return s.key.Public() }

func keyID(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("packet: key id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// LoadSigner reads the station's private signing key from a PKCS#8 PEM
// file ("PRIVATE KEY") that only its owner may read.
func LoadSigner(path string) (*Signer, error) {
	data, err := readKeyFile(path, true)
	if err != nil {
		return nil, err
	}
	blk, err := onePEM(data, path, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("packet: %s: %w", path, err)
	}
	cs, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("packet: %s: key type %T cannot sign", path, k)
	}
	return NewSigner(cs)
}

// StationKey is a station public key the central trusts.
type StationKey struct {
	KeyID     string
	StationID string // if set, packets signed by this key must name this station
	Public    crypto.PublicKey
}

// TrustedStations holds the station keys a central accepts signatures
// from, by key id. Several keys per station make rotation a config change:
// add the new key, let the station switch, remove the old key later.
type TrustedStations struct{ keys map[string]StationKey }

// NewTrustedStations builds a trust store from keys in memory.
func NewTrustedStations(keys ...StationKey) (*TrustedStations, error) {
	t := &TrustedStations{keys: map[string]StationKey{}}
	for _, k := range keys {
		if err := t.add(k); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *TrustedStations) add(k StationKey) error {
	switch k.Public.(type) {
	case ed25519.PublicKey, *ecdsa.PublicKey:
	default:
		return fmt.Errorf("packet: station key type %T not supported", k.Public)
	}
	kid, err := keyID(k.Public)
	if err != nil {
		return err
	}
	if k.KeyID != "" && k.KeyID != kid {
		return fmt.Errorf("packet: station key id %q does not match the key (%s)", k.KeyID, kid)
	}
	k.KeyID = kid
	if _, dup := t.keys[kid]; dup {
		return fmt.Errorf("packet: station key %s configured twice", kid)
	}
	t.keys[kid] = k
	return nil
}

// KeyIDs lists the trusted key ids.
func (t *TrustedStations) KeyIDs() []string {
	var ids []string
	for id := range t.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// LoadTrustedStations reads station public keys (PKIX "PUBLIC KEY" PEM
// files, optionally with a "Station-Id" header).
func LoadTrustedStations(paths ...string) (*TrustedStations, error) {
	t := &TrustedStations{keys: map[string]StationKey{}}
	for _, p := range paths {
		data, err := readKeyFile(p, false)
		if err != nil {
			return nil, err
		}
		blk, err := onePEM(data, p, "PUBLIC KEY")
		if err != nil {
			return nil, err
		}
		pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("packet: %s: %w", p, err)
		}
		if err := t.add(StationKey{StationID: blk.Headers[pemStationHeader], Public: pub}); err != nil {
			return nil, fmt.Errorf("%w (file %s)", err, p)
		}
	}
	return t, nil
}

// The HPKE suite packets use: ML-KEM-768+X25519 (X-Wing) so a recording of
// today's traffic stays private against a future quantum computer, with
// HKDF-SHA256 and AES-256-GCM (draft-ietf-hpke-pq; RFC 9180 §7.2-7.3).
func suite() (hpke.KEM, hpke.KDF, hpke.AEAD) {
	return hpke.MLKEM768X25519(), hpke.HKDFSHA256(), hpke.AES256GCM()
}

func hpkeKeyID(pub hpke.PublicKey) string {
	sum := sha256.Sum256(pub.Bytes())
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// Recipient is the central's public key a station encrypts packets to.
type Recipient struct {
	KeyID string
	pub   hpke.PublicKey
}

// NewRecipient wraps a hybrid ML-KEM-768+X25519 public key.
func NewRecipient(pub hpke.PublicKey) (*Recipient, error) {
	kem, _, _ := suite()
	if pub.KEM().ID() != kem.ID() {
		return nil, fmt.Errorf("packet: central key uses KEM %#04x, want ML-KEM-768+X25519 (%#04x)", pub.KEM().ID(), kem.ID())
	}
	return &Recipient{KeyID: hpkeKeyID(pub), pub: pub}, nil
}

// LoadRecipient reads the central's public key ("HPKE PUBLIC KEY" PEM).
func LoadRecipient(path string) (*Recipient, error) {
	data, err := readKeyFile(path, false)
	if err != nil {
		return nil, err
	}
	blk, err := onePEM(data, path, pemHPKEPublic)
	if err != nil {
		return nil, err
	}
	kem, _, _ := suite()
	pub, err := kem.NewPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("packet: %s: not an ML-KEM-768+X25519 public key: %w", path, err)
	}
	return NewRecipient(pub)
}

// CentralKeys holds the central's private keys by key id. Keep old keys
// configured until every packet encrypted to them has arrived.
type CentralKeys struct{ keys map[string]hpke.PrivateKey }

// NewCentralKeys builds a key ring from keys in memory.
func NewCentralKeys(keys ...hpke.PrivateKey) (*CentralKeys, error) {
	c := &CentralKeys{keys: map[string]hpke.PrivateKey{}}
	kem, _, _ := suite()
	for _, k := range keys {
		if k.KEM().ID() != kem.ID() {
			return nil, fmt.Errorf("packet: central key uses KEM %#04x, want ML-KEM-768+X25519", k.KEM().ID())
		}
		id := hpkeKeyID(k.PublicKey())
		if _, dup := c.keys[id]; dup {
			return nil, fmt.Errorf("packet: central key %s configured twice", id)
		}
		c.keys[id] = k
	}
	return c, nil
}

// KeyIDs lists the configured key ids.
func (c *CentralKeys) KeyIDs() []string {
	var ids []string
	for id := range c.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// LoadCentralKeys reads the central's private keys ("HPKE PRIVATE KEY"
// PEM files readable only by their owner).
func LoadCentralKeys(paths ...string) (*CentralKeys, error) {
	kem, _, _ := suite()
	var keys []hpke.PrivateKey
	for _, p := range paths {
		data, err := readKeyFile(p, true)
		if err != nil {
			return nil, err
		}
		blk, err := onePEM(data, p, pemHPKEPrivate)
		if err != nil {
			return nil, err
		}
		k, err := kem.NewPrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("packet: %s: not an ML-KEM-768+X25519 private key: %w", p, err)
		}
		keys = append(keys, k)
	}
	return NewCentralKeys(keys...)
}

// writeNew writes a new file with the given mode, failing if it exists.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("packet: create key file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("packet: write key file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("packet: sync key file %s: %w", path, err)
	}
	return f.Close()
}

// GenerateStationKey creates an Ed25519 station key pair: the private key
// at privPath (mode 0600) and the public key, labelled with stationID, at
// pubPath (mode 0644) for the central's trust store. Existing files are
// never overwritten.
func GenerateStationKey(privPath, pubPath, stationID string) (*Signer, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	pder, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	hdr := map[string]string{}
	if stationID != "" {
		hdr[pemStationHeader] = stationID
	}
	if err := writeNew(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	if err := writeNew(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: hdr, Bytes: pder}), 0o644); err != nil {
		return nil, err
	}
	return NewSigner(priv)
}

// GenerateCentralKey creates an ML-KEM-768+X25519 key pair for the central:
// private key at privPath (0600), public key at pubPath (0644) to give to
// stations. It returns the key id.
func GenerateCentralKey(privPath, pubPath string) (string, error) {
	kem, _, _ := suite()
	k, err := kem.GenerateKey()
	if err != nil {
		return "", err
	}
	kb, err := k.Bytes()
	if err != nil {
		return "", err
	}
	if err := writeNew(privPath, pem.EncodeToMemory(&pem.Block{Type: pemHPKEPrivate, Bytes: kb}), 0o600); err != nil {
		return "", err
	}
	if err := writeNew(pubPath, pem.EncodeToMemory(&pem.Block{Type: pemHPKEPublic, Bytes: k.PublicKey().Bytes()}), 0o644); err != nil {
		return "", err
	}
	return hpkeKeyID(k.PublicKey()), nil
}
