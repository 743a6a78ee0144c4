package packet

import (
	"bytes"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/openenroll/stationd/capture/wsq"
)

// Errors of Open. Each is wrapped with detail; test with errors.Is.
var (
	ErrMalformed        = errors.New("packet: malformed")
	ErrUnknownRecipient = errors.New("packet: encrypted to a central key that is not configured here")
	ErrDecrypt          = errors.New("packet: cannot decrypt (wrong central key, or the ciphertext was altered)")
	ErrUntrustedStation = errors.New("packet: signed by a station key that is not trusted")
	ErrBadSignature     = errors.New("packet: station signature does not verify")
	ErrTampered         = errors.New("packet: contents do not match the signed manifest")
	ErrInvalidRecords   = errors.New("packet: biometric records do not match the manifest")
)

// Envelope constants (format documented in doc.go).
var (
	envelopeMagic = [4]byte{'O', 'E', 'P', 'K'}
	payloadMagic  = [4]byte{'O', 'E', 'P', 'I'}
)

const (
	envelopeVersion = 1
	payloadVersion  = 1
	// hpkeInfo binds the HPKE key schedule to this application and
	// version (RFC 9180 §5.1 "info").
	hpkeInfo = "openenroll packet v1"
	// manifestItem is the name of the payload's first entry.
	manifestItem = "manifest.jws"
	// MaxPacketSize bounds what Open accepts, the same bound the uplink
	// puts on offers: ten uncompressed 800x750 prints twice (ANSI/NIST and
	// ISO) and a large portrait are ~13 MB, so 64 MiB is ample.
	MaxPacketSize = 64 << 20
	// maxItems bounds the payload: transaction, two ISO records, ten
	// exception photos and the manifest are 14.
	maxItems = 64
)

// Options configure Build.
type Options struct {
	Signer    *Signer    // the station's signing key (required)
	Recipient *Recipient // the central's public key (required)

	// FingerCompression is PNG (default), WSQ20 or NONE.
	FingerCompression Compression
	// WSQEncode is the WSQ encoder used when FingerCompression is WSQ20
	// (default capture/wsq.Encode); WSQBitrate its target in bits per
	// pixel (default 0.75, the usual 500 ppi setting, about 15:1).
	WSQEncode  func(img *image.Gray, ppi int, bitrate float64) ([]byte, error)
	WSQBitrate float64
	// PNGLevel is the zlib effort for PNG fingers. The default
	// (png.DefaultCompression) makes packets ~8% smaller than
	// png.BestSpeed at ~9x the encoding time (BenchmarkPacketBuild vs
	// BenchmarkPacketBuildPNGFast); on slow links size matters more.
	PNGLevel png.CompressionLevel

	// ANSI/NIST-ITL Type-1 values: TOT (default "ENR"), DAI (default
	// "CENTRAL"), ORI (default the station id).
	TOT, DAI, ORI string
	// FaceSAP is the Type-10 subject acquisition profile (default 0,
	// unknown: the station does not certify a profile).
	FaceSAP int
	// QualityVendorID and QualityProductCode identify our quality
	// algorithm in FQM (14.024) and ISO quality blocks. IBIA registers
	// vendor ids; 0 means unregistered. Product code defaults to 1.
	QualityVendorID    uint16
	QualityProductCode uint16

	// Now returns the build time (default time.Now).
	Now func() time.Time
}

func (o *Options) defaults() error {
	if o.Signer == nil {
		return fmt.Errorf("packet: no station signing key configured")
	}
	if o.Recipient == nil {
		return fmt.Errorf("packet: no central public key configured")
	}
	if o.FingerCompression == "" {
		o.FingerCompression = CompressionPNG
	}
	if o.WSQBitrate == 0 {
		o.WSQBitrate = wsq.DefaultBitrate
	}
	if o.WSQEncode == nil {
		o.WSQEncode = wsq.Encode
	}
	if o.TOT == "" {
		o.TOT = "ENR"
	}
	if o.DAI == "" {
		o.DAI = "CENTRAL"
	}
	if o.QualityProductCode == 0 {
		o.QualityProductCode = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Packet is a built packet.
type Packet struct {
	// ID is the packet's content hash: hex SHA-256 of Bytes. The outbox,
	// uplink and central all name the packet by it.
	ID       string
	Bytes    []byte
	Manifest *Manifest
}

// ID returns the id of packet bytes: hex SHA-256 of the whole packet.
func ID(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

type payloadItem struct {
	name, mediaType string
	data            []byte
}

// Build turns a finished enrollment into a signed, encrypted packet: the
// ANSI/NIST-ITL transaction, the ISO/IEC 19794-4/-5 records and exception
// photos, a manifest chaining their hashes, signed (JWS) by the station and
// sealed with HPKE to the central's key.
func Build(e *Enrollment, opts Options) (*Packet, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if err := e.validate(); err != nil {
		return nil, err
	}
	m := &Manifest{Format: ManifestFormat, SessionID: e.SessionID, StationID: e.StationID,
		OperatorID: e.OperatorID, ApplicantRef: e.ApplicantRef, Started: e.Started.UTC(),
		Finalized: e.Finalized.UTC(), Built: opts.Now().UTC(), StationKeyID: opts.Signer.KeyID,
		CentralKeyID: opts.Recipient.KeyID, FingerCompression: opts.FingerCompression,
		Devices: e.Devices, Card: e.Card}
	if e.Started.IsZero() {
		m.Started = time.Time{}
	}
	var face *faceInfo
	if e.Face != nil {
		fi, err := inspectJPEG(e.Face.JPEG)
		if err != nil {
			return nil, fmt.Errorf("packet: face image: %w", err)
		}
		face = &fi
		m.Face = &FaceEntry{Quality: e.Face.Quality, Attempts: e.Face.Attempts, Captured: e.Face.Captured.UTC(),
			DeviceID: e.Face.DeviceID, Width: fi.w, Height: fi.h, ImageSHA256: hexSum(e.Face.JPEG)}
		if e.Face.Captured.IsZero() {
			m.Face.Captured = time.Time{}
		}
	}
	// Fingers in position order, so records and manifest agree whatever
	// order the session captured them in.
	ordered := make([]*Finger, 11)
	for i := range e.Fingers {
		ordered[e.Fingers[i].Position] = &e.Fingers[i]
	}
	var fingers []encodedFinger
	var photos []payloadItem
	for _, f := range ordered {
		if f == nil {
			continue
		}
		fe := FingerEntry{Position: f.Position, Name: f.Position.String(), Attempts: f.Attempts}
		if f.Exception != nil {
			fe.Status = StatusException
			fe.Exception = &ExceptionEntry{Reason: f.Exception.Reason, Note: f.Exception.Note}
			if len(f.Exception.Photo) > 0 {
				name := photoItemName(f.Position)
				fe.Exception.PhotoItem = name
				photos = append(photos, payloadItem{name, MediaJPEG, f.Exception.Photo})
			}
		} else {
			data, err := encodeFinger(f.Image, f.PPI, f.Position, &opts)
			if err != nil {
				return nil, err
			}
			w, h := imageSize(f.Image)
			fingers = append(fingers, encodedFinger{f: f, data: data, w: w, h: h})
			q := f.Quality
			fe.Status = StatusCaptured
			fe.Quality = &q
			fe.PPI, fe.Width, fe.Height, fe.Rolled = f.PPI, w, h, f.Rolled
			fe.Captured, fe.DeviceID = f.Captured.UTC(), f.DeviceID
			if f.Captured.IsZero() {
				fe.Captured = time.Time{}
			}
			fe.ImageSHA256 = hexSum(data)
		}
		m.Fingers = append(m.Fingers, fe)
	}
	var slaps []encodedSlap
	for i := range e.Slaps {
		sl := &e.Slaps[i]
		data, err := encodeFinger(sl.Image, sl.PPI, sl.Position, &opts)
		if err != nil {
			return nil, err
		}
		se := slapEntry(sl, data)
		m.Slaps = append(m.Slaps, se)
		slaps = append(slaps, encodedSlap{s: sl, m: se, data: data})
	}
	an2, fir, fac, err := records(e, fingers, slaps, face, &opts)
	if err != nil {
		return nil, err
	}
	items := []payloadItem{{ItemTransaction, MediaAN2, an2}}
	if fir != nil {
		items = append(items, payloadItem{ItemFingers, MediaISOFinger, fir})
	}
	if fac != nil {
		items = append(items, payloadItem{ItemFace, MediaISOFace, fac})
	}
	items = append(items, photos...)
	m.chainItems(items)

	mj, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("packet: manifest: %w", err)
	}
	jws, err := sign(opts.Signer, mj)
	if err != nil {
		return nil, err
	}
	payload := encodePayload(append([]payloadItem{{manifestItem, "", jws}}, items...))
	b, err := seal(opts.Recipient, payload)
	if err != nil {
		return nil, err
	}
	return &Packet{ID: ID(b), Bytes: b, Manifest: m}, nil
}

// slapEntry is the manifest's account of a slap whose image was encoded as
// data: its edges and outlines in the stored image's pixels, as the Type-14
// SEG and ASEG fields give them.
func slapEntry(sl *Slap, data []byte) SlapEntry {
	w, h := imageSize(sl.Image)
	se := SlapEntry{Position: sl.Position, Name: sl.Position.String(), PPI: sl.PPI, Width: w, Height: h,
		DeviceID: sl.DeviceID, ImageSHA256: hexSum(data)}
	if !sl.Captured.IsZero() {
		se.Captured = sl.Captured.UTC()
	}
	o := sl.Image.Bounds().Min
	for _, g := range sl.Segments {
		r := g.Box.Sub(o)
		entry := SegmentEntry{Position: g.Position, Name: g.Position.String(),
			Left: r.Min.X, Right: r.Max.X - 1, Top: r.Min.Y, Bottom: r.Max.Y - 1, Quality: g.Quality}
		for _, p := range g.Outline {
			p = p.Sub(o)
			entry.Outline = append(entry.Outline, [2]int{p.X, p.Y})
		}
		se.Segments = append(se.Segments, entry)
	}
	return se
}

// manifestContentType is the JWS "cty" of a packet manifest.
const manifestContentType = "openenroll-manifest+json"

func sign(s *Signer, payload []byte) ([]byte, error) {
	opts := (&jose.SignerOptions{}).WithContentType(manifestContentType)
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: jose.JSONWebKey{Key: s.key, KeyID: s.KeyID}}, opts)
	if err != nil {
		return nil, fmt.Errorf("packet: signer: %w", err)
	}
	obj, err := sg.Sign(payload)
	if err != nil {
		return nil, fmt.Errorf("packet: sign manifest: %w", err)
	}
	c, err := obj.CompactSerialize()
	if err != nil {
		return nil, fmt.Errorf("packet: sign manifest: %w", err)
	}
	return []byte(c), nil
}

// encodePayload frames the signed manifest and the items.
func encodePayload(items []payloadItem) []byte {
	n := 7
	for _, it := range items {
		n += 6 + len(it.name) + len(it.data)
	}
	b := make([]byte, 0, n)
	b = append(b, payloadMagic[:]...)
	b = append(b, payloadVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(len(items)))
	for _, it := range items {
		b = binary.BigEndian.AppendUint16(b, uint16(len(it.name)))
		b = append(b, it.name...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(it.data)))
		b = append(b, it.data...)
	}
	return b
}

// decodePayload splits the plaintext into named entries.
func decodePayload(b []byte) ([]payloadItem, error) {
	bad := func(off int, format string, args ...any) error {
		return fmt.Errorf("%w: payload at offset %d: %s", ErrMalformed, off, fmt.Sprintf(format, args...))
	}
	if len(b) < 7 || [4]byte(b[:4]) != payloadMagic {
		return nil, bad(0, "no OEPI payload header")
	}
	if b[4] != payloadVersion {
		return nil, bad(4, "payload version %d, want %d", b[4], payloadVersion)
	}
	n := int(binary.BigEndian.Uint16(b[5:]))
	if n < 1 || n > maxItems {
		return nil, bad(5, "%d entries, want 1..%d", n, maxItems)
	}
	pos := 7
	seen := map[string]bool{}
	items := make([]payloadItem, 0, n)
	for i := 0; i < n; i++ {
		if len(b)-pos < 2 {
			return nil, bad(pos, "entry %d: name length missing", i)
		}
		nl := int(binary.BigEndian.Uint16(b[pos:]))
		pos += 2
		if nl == 0 || len(b)-pos < nl+4 {
			return nil, bad(pos, "entry %d: name of %d bytes does not fit", i, nl)
		}
		name := string(b[pos : pos+nl])
		pos += nl
		dl := int(binary.BigEndian.Uint32(b[pos:]))
		pos += 4
		if dl > len(b)-pos {
			return nil, bad(pos, "entry %d (%q): %d data bytes, %d left", i, name, dl, len(b)-pos)
		}
		if seen[name] {
			return nil, bad(pos, "entry %q appears twice", name)
		}
		seen[name] = true
		items = append(items, payloadItem{name: name, data: b[pos : pos+dl : pos+dl]})
		pos += dl
	}
	if pos != len(b) {
		return nil, bad(pos, "%d bytes after the last entry", len(b)-pos)
	}
	if items[0].name != manifestItem {
		return nil, bad(7, "first entry is %q, want %q", items[0].name, manifestItem)
	}
	return items, nil
}

// seal encrypts the payload to the central: the envelope header is the
// HPKE additional data, so altering any header byte fails decryption.
func seal(r *Recipient, payload []byte) ([]byte, error) {
	kem, kdf, aead := suite()
	enc, sender, err := hpke.NewSender(r.pub, kdf, aead, []byte(hpkeInfo))
	if err != nil {
		return nil, fmt.Errorf("packet: HPKE: %w", err)
	}
	hdr := make([]byte, 0, 16+len(r.KeyID)+len(enc))
	hdr = append(hdr, envelopeMagic[:]...)
	hdr = append(hdr, envelopeVersion)
	hdr = binary.BigEndian.AppendUint16(hdr, kem.ID())
	hdr = binary.BigEndian.AppendUint16(hdr, kdf.ID())
	hdr = binary.BigEndian.AppendUint16(hdr, aead.ID())
	hdr = append(hdr, uint8(len(r.KeyID)))
	hdr = append(hdr, r.KeyID...)
	hdr = binary.BigEndian.AppendUint16(hdr, uint16(len(enc)))
	hdr = append(hdr, enc...)
	ct, err := sender.Seal(hdr, payload)
	if err != nil {
		return nil, fmt.Errorf("packet: HPKE seal: %w", err)
	}
	return append(hdr, ct...), nil
}

// envelope is a parsed outer header.
type envelope struct {
	kid        string
	enc        []byte
	header     []byte // the AAD
	ciphertext []byte
}

func parseEnvelope(b []byte) (*envelope, error) {
	bad := func(off int, format string, args ...any) error {
		return fmt.Errorf("%w: envelope at offset %d: %s", ErrMalformed, off, fmt.Sprintf(format, args...))
	}
	if len(b) > MaxPacketSize {
		return nil, bad(0, "%d bytes exceed the %d-byte limit", len(b), MaxPacketSize)
	}
	if len(b) < 14 || [4]byte(b[:4]) != envelopeMagic {
		return nil, bad(0, "not a packet (no OEPK header)")
	}
	if b[4] != envelopeVersion {
		return nil, bad(4, "envelope version %d, want %d", b[4], envelopeVersion)
	}
	kem, kdf, aead := suite()
	if k, d, a := binary.BigEndian.Uint16(b[5:]), binary.BigEndian.Uint16(b[7:]), binary.BigEndian.Uint16(b[9:]); k != kem.ID() || d != kdf.ID() || a != aead.ID() {
		return nil, bad(5, "HPKE suite KEM %#04x KDF %#04x AEAD %#04x, want %#04x/%#04x/%#04x (ML-KEM-768+X25519, HKDF-SHA256, AES-256-GCM)",
			k, d, a, kem.ID(), kdf.ID(), aead.ID())
	}
	pos := 11
	kl := int(b[pos])
	pos++
	if kl == 0 || len(b)-pos < kl+2 {
		return nil, bad(pos, "key id of %d bytes does not fit", kl)
	}
	kid := string(b[pos : pos+kl])
	pos += kl
	el := int(binary.BigEndian.Uint16(b[pos:]))
	pos += 2
	if el == 0 || len(b)-pos < el {
		return nil, bad(pos, "encapsulated key of %d bytes does not fit", el)
	}
	enc := b[pos : pos+el]
	pos += el
	// AES-256-GCM appends a 16-byte tag (RFC 9180 §7.3, Nt = 16).
	if len(b)-pos < 16 {
		return nil, bad(pos, "ciphertext shorter than its authentication tag")
	}
	return &envelope{kid: kid, enc: enc, header: b[:pos:pos], ciphertext: b[pos:]}, nil
}

// Contents is an opened, verified packet.
type Contents struct {
	ID       string // hex SHA-256 of the packet bytes
	Manifest *Manifest
	// Items in manifest order; the signed manifest's own JWS is in
	// ManifestJWS.
	Items       []ContentItem
	ManifestJWS []byte
	Records     *Records
}

// ContentItem is one item of an opened packet.
type ContentItem struct {
	Name      string
	MediaType string
	Data      []byte
}

// Item returns the named item's bytes.
func (c *Contents) Item(name string) ([]byte, bool) {
	for _, it := range c.Items {
		if it.Name == name {
			return it.Data, true
		}
	}
	return nil, false
}

// Open decrypts a packet with whichever configured central key it names,
// verifies the station's signature against the trusted keys, checks every
// item against the signed hash chain, and parses the records back and
// checks them against the manifest. Any failure returns an error wrapping
// one of the Err* values.
func Open(b []byte, keys *CentralKeys, trusted *TrustedStations) (*Contents, error) {
	if keys == nil || trusted == nil {
		return nil, fmt.Errorf("packet: open needs central keys and trusted station keys")
	}
	env, err := parseEnvelope(b)
	if err != nil {
		return nil, err
	}
	priv, ok := keys.keys[env.kid]
	if !ok {
		return nil, fmt.Errorf("%w: packet names key %q; configured: %v (add the old key back to the central's key list)",
			ErrUnknownRecipient, env.kid, keys.KeyIDs())
	}
	_, kdf, aead := suite()
	rcp, err := hpke.NewRecipient(env.enc, priv, kdf, aead, []byte(hpkeInfo))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	pt, err := rcp.Open(env.header, env.ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: key %s: %v", ErrDecrypt, env.kid, err)
	}
	c, err := openPayload(pt, trusted)
	if err != nil {
		return nil, err
	}
	if c.Manifest.CentralKeyID != env.kid {
		return nil, fmt.Errorf("%w: manifest was signed for central key %q but the packet is encrypted to %q",
			ErrTampered, c.Manifest.CentralKeyID, env.kid)
	}
	c.ID = ID(b)
	return c, nil
}

// openPayload verifies a decrypted payload.
func openPayload(pt []byte, trusted *TrustedStations) (*Contents, error) {
	items, err := decodePayload(pt)
	if err != nil {
		return nil, err
	}
	m, err := verifyManifest(items[0].data, trusted)
	if err != nil {
		return nil, err
	}
	c := &Contents{Manifest: m, ManifestJWS: items[0].data}
	if err := checkItems(m, items[1:]); err != nil {
		return nil, err
	}
	for i, it := range items[1:] {
		c.Items = append(c.Items, ContentItem{Name: it.name, MediaType: m.Items[i].MediaType, Data: it.data})
	}
	if c.Records, err = checkRecords(m, c); err != nil {
		return nil, err
	}
	return c, nil
}

var signatureAlgorithms = []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256, jose.ES384}

func verifyManifest(jws []byte, trusted *TrustedStations) (*Manifest, error) {
	obj, err := jose.ParseSigned(string(jws), signatureAlgorithms)
	if err != nil {
		return nil, fmt.Errorf("%w: manifest signature: %v", ErrBadSignature, err)
	}
	if len(obj.Signatures) != 1 {
		return nil, fmt.Errorf("%w: manifest has %d signatures, want 1", ErrBadSignature, len(obj.Signatures))
	}
	hdr := obj.Signatures[0].Protected
	key, ok := trusted.keys[hdr.KeyID]
	if !ok {
		return nil, fmt.Errorf("%w: key %q (add the station's public key to the central's trust list)", ErrUntrustedStation, hdr.KeyID)
	}
	payload, err := obj.Verify(key.Public)
	if err != nil {
		return nil, fmt.Errorf("%w: key %s: %v", ErrBadSignature, hdr.KeyID, err)
	}
	if cty, _ := hdr.ExtraHeaders[jose.HeaderContentType].(string); cty != manifestContentType {
		return nil, fmt.Errorf("%w: signed content type %q, want %q", ErrBadSignature, cty, manifestContentType)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	m := &Manifest{}
	if err := dec.Decode(m); err != nil {
		return nil, fmt.Errorf("%w: manifest JSON: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the manifest JSON", ErrMalformed)
	}
	if m.Format != ManifestFormat {
		return nil, fmt.Errorf("%w: manifest format %q, want %q", ErrMalformed, m.Format, ManifestFormat)
	}
	if m.StationKeyID != hdr.KeyID {
		return nil, fmt.Errorf("%w: manifest names station key %q but was signed by %q", ErrTampered, m.StationKeyID, hdr.KeyID)
	}
	if key.StationID != "" && key.StationID != m.StationID {
		return nil, fmt.Errorf("%w: key %s belongs to station %q, manifest claims %q", ErrUntrustedStation, hdr.KeyID, key.StationID, m.StationID)
	}
	return m, nil
}

// checkItems compares the carried items with the signed manifest and
// recomputes the hash chain.
func checkItems(m *Manifest, items []payloadItem) error {
	if len(items) != len(m.Items) {
		return fmt.Errorf("%w: packet carries %d items, manifest lists %d", ErrTampered, len(items), len(m.Items))
	}
	prev := chainGenesis(m.SessionID)
	for i, it := range items {
		want := m.Items[i]
		if it.name != want.Name {
			return fmt.Errorf("%w: item %d is %q, manifest lists %q", ErrTampered, i, it.name, want.Name)
		}
		if int64(len(it.data)) != want.Size {
			return fmt.Errorf("%w: item %q has %d bytes, manifest says %d", ErrTampered, it.name, len(it.data), want.Size)
		}
		sum := sha256.Sum256(it.data)
		if hex.EncodeToString(sum[:]) != want.SHA256 {
			return fmt.Errorf("%w: item %q SHA-256 differs from the manifest", ErrTampered, it.name)
		}
		prev = chainNext(prev, sum, want.Name, want.MediaType)
		if hex.EncodeToString(prev[:]) != want.Chain {
			return fmt.Errorf("%w: hash chain breaks at item %q", ErrTampered, it.name)
		}
	}
	if hex.EncodeToString(prev[:]) != m.ChainHead {
		return fmt.Errorf("%w: chain head differs from the manifest", ErrTampered)
	}
	return nil
}
