package packet

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/openenroll/stationd/capture/wsq"
	"github.com/openenroll/stationd/station/packet/ansinist"
)

func build(t testing.TB, e *Enrollment, o Options) *Packet {
	t.Helper()
	p, err := Build(e, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBuildOpenRoundTrip(t *testing.T) {
	k := sharedKeys(t)
	e := testEnrollment(t, 64, 80)
	p := build(t, e, testOptions(k))
	sum := sha256.Sum256(p.Bytes)
	if p.ID != hex.EncodeToString(sum[:]) {
		t.Fatalf("ID is not the SHA-256 of the packet")
	}
	c, err := Open(p.Bytes, k.ring, k.trusted)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != p.ID {
		t.Errorf("opened id %s, built %s", c.ID, p.ID)
	}
	m := c.Manifest
	if !reflect.DeepEqual(m, p.Manifest) {
		t.Errorf("opened manifest differs from built:\n%+v\n%+v", m, p.Manifest)
	}
	if m.SessionID != e.SessionID || m.ApplicantRef != "APP-42" || m.OperatorID != "op-17" || m.StationID != "BOOTH-7" {
		t.Errorf("ids lost: %+v", m)
	}
	if m.StationKeyID != k.signer.KeyID || m.CentralKeyID != k.recipient.KeyID {
		t.Errorf("key ids %s/%s", m.StationKeyID, m.CentralKeyID)
	}
	if len(m.Devices) != 2 || m.Devices[0].Calibration != "ok" || m.Devices[0].Serial != "123" {
		t.Errorf("devices %+v", m.Devices)
	}
	if m.Card == nil || !m.Card.OK || len(m.Card.Checks) != 2 {
		t.Errorf("card %+v", m.Card)
	}
	if m.Face == nil || m.Face.Quality.Score != 91 || m.Face.Attempts != 2 || m.Face.Width != 120 {
		t.Errorf("face %+v", m.Face)
	}
	// Fingers are listed in position order 1..10 whatever the capture order.
	if len(m.Fingers) != 10 {
		t.Fatalf("%d finger entries", len(m.Fingers))
	}
	for i, f := range m.Fingers {
		if int(f.Position) != i+1 {
			t.Fatalf("entry %d is position %d", i, f.Position)
		}
	}
	if f := m.Fingers[7]; f.Status != StatusException || f.Exception.Reason != ExceptionAmputated || f.Exception.PhotoItem != "exception-08.jpg" {
		t.Errorf("finger 8: %+v", f)
	}
	if f := m.Fingers[9]; f.Status != StatusException || f.Exception.Reason != ExceptionBandaged || f.Exception.PhotoItem != "" || f.Attempts != 3 {
		t.Errorf("finger 10: %+v", f)
	}
	if f := m.Fingers[6]; f.Status != StatusCaptured || f.Quality.Score != 57 || f.PPI != 500 || f.Width != 64 {
		t.Errorf("finger 7: %+v", f)
	}
	// Items: transaction, ISO finger and face records, one photo.
	var names []string
	for _, it := range c.Items {
		names = append(names, it.Name)
	}
	if want := []string{ItemTransaction, ItemFingers, ItemFace, "exception-08.jpg"}; !reflect.DeepEqual(names, want) {
		t.Errorf("items %v, want %v", names, want)
	}
	if ph, _ := c.Item("exception-08.jpg"); !bytes.Equal(ph, e.Fingers[8].Exception.Photo) {
		t.Errorf("exception photo altered")
	}
	// Records: CNT lists Type-2, Type-10 and eight Type-14.
	d := c.Records.Transaction
	if len(d.Type1.Content) != 10 || d.Type1.Content[0] != [2]int{2, 0} || d.Type1.Content[1] != [2]int{10, 1} {
		t.Errorf("CNT %v", d.Type1.Content)
	}
	if d.Type1.NSR != "19.69" || d.Type1.TCN != e.SessionID || d.Type1.ORI != "BOOTH-7" || d.Type1.DAI != "CENTRAL" {
		t.Errorf("Type-1 %+v", d.Type1)
	}
	if !bytes.Equal(d.Type10[0].Data, e.Face.JPEG) || d.Type10[0].CSP != "YCC" {
		t.Errorf("Type-10 lost the JPEG or colour space")
	}
	// Lossless: every Type-14 PNG decodes to the exact captured pixels, and
	// the ISO representation carries the same bytes.
	byPos := map[int]*image.Gray{}
	for _, f := range e.Fingers {
		if f.Image != nil {
			byPos[int(f.Position)] = f.Image
		}
	}
	for i, t14 := range d.Type14 {
		img, err := png.Decode(bytes.NewReader(t14.Data))
		if err != nil {
			t.Fatal(err)
		}
		g, ok := img.(*image.Gray)
		if !ok || !bytes.Equal(g.Pix, byPos[t14.FGP[0]].Pix) {
			t.Errorf("Type-14 finger %d pixels differ from capture", t14.FGP[0])
		}
		if t14.FQM[0].Score != 50+t14.FGP[0] || t14.CGA != "PNG" || t14.IMP != ansinist.ImpressionPlain {
			t.Errorf("Type-14 %d fields %+v", t14.FGP[0], t14.FQM)
		}
		if !bytes.Equal(c.Records.Fingers.Representations[i].Image, t14.Data) {
			t.Errorf("ISO representation %d differs from Type-14", i)
		}
	}
	t2 := map[int][][]string{}
	for _, f := range d.Type2[0].Fields {
		t2[f.Num] = f.Items
	}
	if want := [][]string{{"8", "XX", "amputated"}, {"10", "UP", "bandaged"}}; !reflect.DeepEqual(t2[t2Exceptions], want) {
		t.Errorf("Type-2 exceptions %v, want %v", t2[t2Exceptions], want)
	}
	if !reflect.DeepEqual(t2[t2Card], [][]string{{"read", "OK"}}) {
		t.Errorf("Type-2 card %v", t2[t2Card])
	}
}

func TestHashChain(t *testing.T) {
	k := sharedKeys(t)
	p := build(t, testEnrollment(t, 32, 40), testOptions(k))
	c, err := Open(p.Bytes, k.ring, k.trusted)
	if err != nil {
		t.Fatal(err)
	}
	// Recompute the chain from the documented formula, independently.
	prev := sha256.Sum256([]byte("openenroll-packet-chain/1\x00" + c.Manifest.SessionID))
	for i, it := range c.Items {
		s := sha256.Sum256(it.Data)
		var buf bytes.Buffer
		buf.Write(prev[:])
		buf.Write(s[:])
		buf.Write([]byte{0, 0, 0, byte(len(it.Name))})
		buf.WriteString(it.Name)
		buf.Write([]byte{0, 0, 0, byte(len(it.MediaType))})
		buf.WriteString(it.MediaType)
		prev = sha256.Sum256(buf.Bytes())
		if got := c.Manifest.Items[i]; got.Chain != hex.EncodeToString(prev[:]) || got.SHA256 != hex.EncodeToString(s[:]) {
			t.Fatalf("item %d chain/hash differ from the formula", i)
		}
	}
	if c.Manifest.ChainHead != hex.EncodeToString(prev[:]) {
		t.Fatal("chain head is not the last chain value")
	}
}

// decrypt opens the envelope without further checks (test helper).
func decrypt(t *testing.T, k testKeys, b []byte) []payloadItem {
	t.Helper()
	env, err := parseEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	_, kdf, aead := suite()
	rcp, err := hpke.NewRecipient(env.enc, k.central, kdf, aead, []byte(hpkeInfo))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := rcp.Open(env.header, env.ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	items, err := decodePayload(pt)
	if err != nil {
		t.Fatal(err)
	}
	for i := range items {
		items[i].data = bytes.Clone(items[i].data)
	}
	return items
}

// reseal re-encrypts altered contents to the central: anybody can do
// that with the central's public key, so only the signature stops it.
func reseal(t *testing.T, k testKeys, items []payloadItem) []byte {
	t.Helper()
	b, err := seal(k.recipient, encodePayload(items))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// resign signs a (possibly altered) manifest with key s.
func resign(t *testing.T, s *Signer, m *Manifest) []byte {
	t.Helper()
	mj, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := sign(s, mj)
	if err != nil {
		t.Fatal(err)
	}
	return jws
}

func TestTamperingDetected(t *testing.T) {
	k := sharedKeys(t)
	e := testEnrollment(t, 32, 40)
	p := build(t, e, testOptions(k))
	env, err := parseEnvelope(p.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	hdrLen := len(env.header)
	flip := func(off int) []byte {
		b := bytes.Clone(p.Bytes)
		b[off] ^= 0x01
		return b
	}
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"magic", flip(0), ErrMalformed},
		{"suite", flip(6), ErrMalformed},
		{"key id", flip(12), ErrUnknownRecipient},
		{"encapsulated key", flip(hdrLen - 100), ErrDecrypt},
		{"ciphertext start", flip(hdrLen + 3), ErrDecrypt},
		{"ciphertext middle", flip(hdrLen + (len(p.Bytes)-hdrLen)/2), ErrDecrypt},
		{"tag", flip(len(p.Bytes) - 1), ErrDecrypt},
		{"truncated", p.Bytes[:len(p.Bytes)-1], ErrDecrypt},
		{"appended", append(bytes.Clone(p.Bytes), 0), ErrDecrypt},
		{"empty", nil, ErrMalformed},
	}
	items := decrypt(t, k, p.Bytes)
	// Manifest altered after signing: change the applicant reference in
	// the JWS payload, keep the signature.
	{
		parts := strings.Split(string(items[0].data), ".")
		var m Manifest
		raw, _ := jose.ParseSigned(string(items[0].data), signatureAlgorithms)
		if err := json.Unmarshal(raw.UnsafePayloadWithoutVerification(), &m); err != nil {
			t.Fatal(err)
		}
		m.ApplicantRef = "APP-43"
		mj, _ := json.Marshal(m)
		parts[1] = b64(mj)
		alt := cloneItems(items)
		alt[0].data = []byte(strings.Join(parts, "."))
		cases = append(cases, struct {
			name string
			in   []byte
			want error
		}{"manifest edited", reseal(t, k, alt), ErrBadSignature})
	}
	// One byte of a record changed.
	{
		alt := cloneItems(items)
		alt[2].data[len(alt[2].data)/2] ^= 0x80 // fingers.fir image bytes
		cases = append(cases, struct {
			name string
			in   []byte
			want error
		}{"record byte", reseal(t, k, alt), ErrTampered})
	}
	// An item dropped, or two swapped.
	{
		alt := cloneItems(items)
		alt = append(alt[:4], alt[5:]...) // drop the exception photo
		cases = append(cases, struct {
			name string
			in   []byte
			want error
		}{"item dropped", reseal(t, k, alt), ErrTampered})
		alt = cloneItems(items)
		alt[2], alt[3] = alt[3], alt[2]
		cases = append(cases, struct {
			name string
			in   []byte
			want error
		}{"items swapped", reseal(t, k, alt), ErrTampered})
	}
	// Signed by a key the central does not trust.
	{
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		rogue, _ := NewSigner(priv)
		m := *p.Manifest
		m.StationKeyID = rogue.KeyID
		alt := cloneItems(items)
		alt[0].data = resign(t, rogue, &m)
		cases = append(cases, struct {
			name string
			in   []byte
			want error
		}{"untrusted signer", reseal(t, k, alt), ErrUntrustedStation})
	}
	// Signed by the trusted key, but the records do not match the manifest:
	// records from another enrollment with the chain recomputed.
	{
		e2 := testEnrollment(t, 32, 40)
		e2.Fingers[0].Image = testFinger(32, 40, 99)
		p2 := build(t, e2, testOptions(k))
		items2 := decrypt(t, k, p2.Bytes)
		m := *p.Manifest
		m.Items = nil
		alt := cloneItems(items)
		alt[1] = items2[1] // transaction.an2 from the other packet
		m.chainItems(withMedia(alt[1:], p.Manifest))
		alt[0].data = resign(t, k.signer, &m)
		cases = append(cases, struct {
			name string
			in   []byte
			want error
		}{"records mismatch", reseal(t, k, alt), ErrInvalidRecords})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Open(c.in, k.ring, k.trusted)
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
		})
	}
	// And the untouched packet still opens.
	if _, err := Open(p.Bytes, k.ring, k.trusted); err != nil {
		t.Fatal(err)
	}
}

func cloneItems(items []payloadItem) []payloadItem {
	out := make([]payloadItem, len(items))
	for i, it := range items {
		out[i] = payloadItem{it.name, it.mediaType, bytes.Clone(it.data)}
	}
	return out
}

func withMedia(items []payloadItem, m *Manifest) []payloadItem {
	out := cloneItems(items)
	for i := range out {
		out[i].mediaType = m.Items[i].MediaType
	}
	return out
}

func b64(b []byte) string {
	return strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(stdB64(b)), "=")
}

func TestWrongKeys(t *testing.T) {
	k := sharedKeys(t)
	other := newTestKeys(t)
	p := build(t, testEnrollment(t, 16, 20), testOptions(k))
	// A central without the packet's key.
	if _, err := Open(p.Bytes, other.ring, k.trusted); !errors.Is(err, ErrUnknownRecipient) {
		t.Fatalf("other central: %v", err)
	} else if !strings.Contains(err.Error(), k.recipient.KeyID) {
		t.Errorf("error does not name the key: %v", err)
	}
	// The right key id configured with the wrong private key.
	wrong := &CentralKeys{keys: map[string]hpke.PrivateKey{k.recipient.KeyID: other.central}}
	if _, err := Open(p.Bytes, wrong, k.trusted); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong private key: %v", err)
	}
	// A central that trusts other stations only.
	if _, err := Open(p.Bytes, k.ring, other.trusted); !errors.Is(err, ErrUntrustedStation) {
		t.Fatalf("untrusted station: %v", err)
	}
	// Trusted key, but registered for another station id.
	tr, _ := NewTrustedStations(StationKey{StationID: "BOOTH-8", Public: k.stationPk})
	if _, err := Open(p.Bytes, k.ring, tr); !errors.Is(err, ErrUntrustedStation) || !strings.Contains(err.Error(), "BOOTH-8") {
		t.Fatalf("station id mismatch: %v", err)
	}
	// Re-wrapped for another central: the signed manifest names the first.
	items := decrypt(t, k, p.Bytes)
	b, err := seal(other.recipient, encodePayload(items))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(b, other.ring, k.trusted); !errors.Is(err, ErrTampered) {
		t.Fatalf("re-wrapped packet: %v", err)
	}
}

func TestKeyRotation(t *testing.T) {
	oldK := sharedKeys(t)
	newK := newTestKeys(t)
	ring, err := NewCentralKeys(oldK.central, newK.central)
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := NewTrustedStations(StationKey{Public: oldK.stationPk}, StationKey{Public: newK.stationPk})
	if err != nil {
		t.Fatal(err)
	}
	e := testEnrollment(t, 16, 20)
	for _, o := range []Options{testOptions(oldK), testOptions(newK),
		{Signer: oldK.signer, Recipient: newK.recipient}, {Signer: newK.signer, Recipient: oldK.recipient}} {
		p := build(t, e, o)
		c, err := Open(p.Bytes, ring, trusted)
		if err != nil {
			t.Fatalf("station key %s, central key %s: %v", o.Signer.KeyID, o.Recipient.KeyID, err)
		}
		if c.Manifest.CentralKeyID != o.Recipient.KeyID || c.Manifest.StationKeyID != o.Signer.KeyID {
			t.Errorf("key ids not recorded")
		}
	}
	if _, err := NewCentralKeys(oldK.central, oldK.central); err == nil {
		t.Error("duplicate central key accepted")
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	signer, err := GenerateStationKey(p("station.key"), p("station.pub"), "BOOTH-7")
	if err != nil {
		t.Fatal(err)
	}
	kid, err := GenerateCentralKey(p("central.key"), p("central.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(p("station.key")); st.Mode().Perm() != 0o600 {
		t.Errorf("station key written with mode %o", st.Mode().Perm())
	}
	if _, err := GenerateStationKey(p("station.key"), p("x.pub"), ""); err == nil {
		t.Error("existing key file overwritten")
	}
	s2, err := LoadSigner(p("station.key"))
	if err != nil {
		t.Fatal(err)
	}
	if s2.KeyID != signer.KeyID {
		t.Errorf("loaded signer id %s, generated %s", s2.KeyID, signer.KeyID)
	}
	rcp, err := LoadRecipient(p("central.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if rcp.KeyID != kid {
		t.Errorf("recipient id %s, generated %s", rcp.KeyID, kid)
	}
	ring, err := LoadCentralKeys(p("central.key"))
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := LoadTrustedStations(p("station.pub"))
	if err != nil {
		t.Fatal(err)
	}
	e := testEnrollment(t, 16, 20)
	pk := build(t, e, Options{Signer: s2, Recipient: rcp})
	if _, err := Open(pk.Bytes, ring, trusted); err != nil {
		t.Fatalf("open with keys from files: %v", err)
	}
	// The public key file's Station-Id header is enforced.
	e.StationID = "BOOTH-9"
	pk = build(t, e, Options{Signer: s2, Recipient: rcp})
	if _, err := Open(pk.Bytes, ring, trusted); !errors.Is(err, ErrUntrustedStation) {
		t.Errorf("station id header not enforced: %v", err)
	}

	// Permissions.
	for _, c := range []struct {
		file string
		mode os.FileMode
		load func(string) error
		ok   bool
	}{
		{"station.key", 0o640, func(s string) error { _, err := LoadSigner(s); return err }, false},
		{"station.key", 0o604, func(s string) error { _, err := LoadSigner(s); return err }, false},
		{"station.key", 0o400, func(s string) error { _, err := LoadSigner(s); return err }, true},
		{"central.key", 0o644, func(s string) error { _, err := LoadCentralKeys(s); return err }, false},
		{"central.key", 0o600, func(s string) error { _, err := LoadCentralKeys(s); return err }, true},
		{"central.pub", 0o666, func(s string) error { _, err := LoadRecipient(s); return err }, false},
		{"central.pub", 0o644, func(s string) error { _, err := LoadRecipient(s); return err }, true},
		{"station.pub", 0o664, func(s string) error { _, err := LoadTrustedStations(s); return err }, false},
	} {
		if err := os.Chmod(p(c.file), c.mode); err != nil {
			t.Fatal(err)
		}
		err := c.load(p(c.file))
		if c.ok && err != nil {
			t.Errorf("%s mode %04o refused: %v", c.file, c.mode, err)
		}
		if !c.ok && !errors.Is(err, ErrKeyPermissions) {
			t.Errorf("%s mode %04o: error %v, want ErrKeyPermissions", c.file, c.mode, err)
		}
	}
	// Wrong block type.
	if _, err := LoadSigner(p("central.key")); err == nil || !strings.Contains(err.Error(), "HPKE PRIVATE KEY") {
		t.Errorf("central key loaded as station key: %v", err)
	}
}

func TestBuildRejects(t *testing.T) {
	k := sharedKeys(t)
	for name, mut := range map[string]func(e *Enrollment, o *Options){
		"finger neither": func(e *Enrollment, o *Options) { e.Fingers[0].Image = nil },
		"finger both":    func(e *Enrollment, o *Options) { e.Fingers[8].Image = testFinger(8, 8, 1) },
		"duplicate":      func(e *Enrollment, o *Options) { e.Fingers[1].Position = e.Fingers[0].Position },
		"position 11":    func(e *Enrollment, o *Options) { e.Fingers[0].Position = 11 },
		"bad reason":     func(e *Enrollment, o *Options) { e.Fingers[8].Exception.Reason = "lost" },
		"no session":     func(e *Enrollment, o *Options) { e.SessionID = "" },
		"separator":      func(e *Enrollment, o *Options) { e.ApplicantRef = "A\x1dB" },
		"face not JPEG":  func(e *Enrollment, o *Options) { e.Face.JPEG = []byte("GIF89a") },
		"no signer":      func(e *Enrollment, o *Options) { o.Signer = nil },
		"WSQ fails": func(e *Enrollment, o *Options) {
			o.FingerCompression = CompressionWSQ
			o.WSQEncode = func(*image.Gray, int, float64) ([]byte, error) { return nil, errors.New("no") }
		},
		"unknown codec": func(e *Enrollment, o *Options) { o.FingerCompression = "JPEGL" },
		"no ppi":        func(e *Enrollment, o *Options) { e.Fingers[0].PPI = 0 },
	} {
		e := testEnrollment(t, 16, 20)
		o := testOptions(k)
		mut(e, &o)
		if _, err := Build(e, o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCompressions(t *testing.T) {
	k := sharedKeys(t)
	e := testEnrollment(t, 96, 104)
	e.Face = nil
	for _, c := range []Compression{CompressionNone, CompressionWSQ} {
		o := testOptions(k)
		o.FingerCompression = c // WSQ: the default encoder, capture/wsq
		p := build(t, e, o)
		got, err := Open(p.Bytes, k.ring, k.trusted)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if _, ok := got.Item(ItemFace); ok || len(got.Records.Transaction.Type10) != 0 {
			t.Errorf("%s: face record without a face", c)
		}
		for i, t14 := range got.Records.Transaction.Type14 {
			if t14.CGA != string(c) {
				t.Errorf("%s: CGA %q", c, t14.CGA)
			}
			rep := got.Records.Fingers.Representations[i]
			switch c {
			case CompressionNone:
				if rep.Compression != 0 || len(t14.Data) != 96*104 {
					t.Errorf("raw: ISO code %d, %d bytes", rep.Compression, len(t14.Data))
				}
			case CompressionWSQ:
				if rep.Compression != 2 {
					t.Errorf("WSQ: ISO code %d", rep.Compression)
				}
				img, ppi, err := wsq.Decode(t14.Data)
				if err != nil || ppi != 500 || img.Bounds().Dx() != 96 {
					t.Errorf("WSQ data does not decode: %v ppi %d", err, ppi)
				}
			}
		}
	}
}

func TestNoFingersCaptured(t *testing.T) {
	k := sharedKeys(t)
	e := testEnrollment(t, 16, 20)
	for i := range e.Fingers {
		e.Fingers[i].Image = nil
		e.Fingers[i].Exception = &Exception{Reason: ExceptionUnable}
	}
	p := build(t, e, testOptions(k))
	c, err := Open(p.Bytes, k.ring, k.trusted)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Item(ItemFingers); ok {
		t.Error("finger record without fingers")
	}
	if c.Records.Transaction.Type1.NSR != "00.00" {
		t.Errorf("NSR %q without fingerprint images, want 00.00", c.Records.Transaction.Type1.NSR)
	}
}
