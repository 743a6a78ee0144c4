package packet

import (
	"bytes"
	"crypto/hpke"
	"encoding/binary"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"testing"

	"github.com/openenroll/stationd/capture/wsq"
	"github.com/openenroll/stationd/firmware-sim/hidsim"
	"github.com/openenroll/stationd/firmware-sim/synthfinger"
)

// FuzzOpen feeds arbitrary bytes to Open: it must never panic, and only
// the untouched seed may open.
func FuzzOpen(f *testing.F) {
	k := sharedKeys(f)
	p := build(f, fuzzEnrollment(f), testOptions(k))
	f.Add(p.Bytes)
	f.Add(p.Bytes[:200])
	f.Add(p.Bytes[:13])
	f.Add([]byte("OEPK\x01\x64\x7a\x00\x01\x00\x02\x01x\x00\x01e0123456789abcdef"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Open(b, k.ring, k.trusted)
		if err == nil && c.ID != ID(b) {
			t.Fatal("opened packet with a wrong id")
		}
	})
}

// FuzzPayload feeds arbitrary plaintext to the payload decoder and the
// checks behind it (what a station holding a valid encryption key but no
// signing key could send).
func FuzzPayload(f *testing.F) {
	k := sharedKeys(f)
	p := build(f, fuzzEnrollment(f), testOptions(k))
	items := decryptTB(f, k, p.Bytes)
	pt := encodePayload(items)
	f.Add(pt)
	f.Add(pt[:64])
	f.Add(encodePayload([]payloadItem{{name: manifestItem, data: []byte("e30.e30.AAAA")}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = openPayload(b, k.trusted)
	})
}

// fuzzEnrollment is a small enrollment (tiny images), so seeds stay small
// and the fuzzer spends its time mutating rather than minimizing.
func fuzzEnrollment(tb testing.TB) *Enrollment {
	e := testEnrollment(tb, 8, 8)
	e.Face.JPEG = testFaceJPEG(tb, 8, 8)
	e.Fingers[8].Exception.Photo = testFaceJPEG(tb, 8, 8)
	e.Fingers = e.Fingers[:3]
	e.Fingers = append(e.Fingers, Finger{Position: 8, Exception: &Exception{Reason: ExceptionAmputated, Photo: testFaceJPEG(tb, 8, 8)}})
	e.Slaps = []Slap{{Position: SlapThumbs, Image: testFinger(16, 12, 5), PPI: 500, Segments: []SlapSegment{
		{Position: 1, Box: image.Rect(9, 1, 15, 11), Quality: Quality{Score: 61},
			Outline: []image.Point{{10, 1}, {14, 2}, {13, 10}, {9, 9}}},
		{Position: 6, Box: image.Rect(1, 2, 7, 12), Quality: Quality{Score: 58}}}}}
	return e
}

func decryptTB(tb testing.TB, k testKeys, b []byte) []payloadItem {
	tb.Helper()
	env, err := parseEnvelope(b)
	if err != nil {
		tb.Fatal(err)
	}
	_, kdf, aead := suite()
	rcp, err := hpke.NewRecipient(env.enc, k.central, kdf, aead, []byte(hpkeInfo))
	if err != nil {
		tb.Fatal(err)
	}
	pt, err := rcp.Open(env.header, env.ciphertext)
	if err != nil {
		tb.Fatal(err)
	}
	items, err := decodePayload(pt)
	if err != nil {
		tb.Fatal(err)
	}
	return cloneItems(items)
}

func TestPayloadFraming(t *testing.T) {
	good := encodePayload([]payloadItem{{name: manifestItem, data: []byte("x")}, {name: "a", data: []byte("yz")}})
	if _, err := decodePayload(good); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"short":    good[:6],
		"count":    append(append(bytes.Clone(good[:5]), 0, 3), good[7:]...),
		"trailing": append(bytes.Clone(good), 0),
		"data len": func() []byte {
			c := bytes.Clone(good)
			binary.BigEndian.PutUint32(c[7+2+len(manifestItem):], 99)
			return c
		}(),
		"first name": encodePayload([]payloadItem{{name: "a", data: []byte("x")}}),
		"duplicate":  encodePayload([]payloadItem{{name: manifestItem, data: []byte("x")}, {name: "a"}, {name: "a"}}),
	} {
		if _, err := decodePayload(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// benchEnrollment: a 480x640 portrait and ten 416x560 500 ppi synthetic
// prints from firmware-sim/synthfinger.
func benchEnrollment(b *testing.B) *Enrollment {
	e := testEnrollment(b, 16, 20)
	img := image.NewRGBA(image.Rect(0, 0, 480, 640))
	r := rand.New(rand.NewPCG(3, 4))
	for y := 0; y < 640; y++ {
		for x := 0; x < 480; x++ {
			img.Set(x, y, color.RGBA{uint8(x / 2), uint8(y / 3), uint8(r.IntN(32) + 100), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	e.Face.JPEG = buf.Bytes()
	e.Fingers = e.Fingers[:0]
	for p := 1; p <= 10; p++ {
		g, _, err := synthfinger.Print(42, p, synthfinger.GoodImpression())
		if err != nil {
			b.Fatal(err)
		}
		e.Fingers = append(e.Fingers, Finger{Position: FingerPosition(p), Image: g, PPI: 500, Quality: Quality{Score: 80}, Attempts: 1, DeviceID: "fp0"})
	}
	return e
}

func benchBuild(b *testing.B, e *Enrollment, c Compression, level png.CompressionLevel) {
	k := sharedKeys(b)
	o := testOptions(k)
	o.FingerCompression = c
	o.WSQEncode = wsq.Encode
	o.PNGLevel = level
	b.ReportAllocs()
	b.ResetTimer()
	var size int
	for b.Loop() {
		p, err := Build(e, o)
		if err != nil {
			b.Fatal(err)
		}
		size = len(p.Bytes)
	}
	b.ReportMetric(float64(size), "bytes/packet")
}

// BenchmarkPacketBuild: face + ten 416x560 500 ppi fingers, lossless PNG:
// encode records, sign, encrypt.
func BenchmarkPacketBuild(b *testing.B) {
	benchBuild(b, benchEnrollment(b), CompressionPNG, png.DefaultCompression)
}

// BenchmarkPacketBuildPNGFast: PNG with png.BestSpeed.
func BenchmarkPacketBuildPNGFast(b *testing.B) {
	benchBuild(b, benchEnrollment(b), CompressionPNG, png.BestSpeed)
}

// BenchmarkPacketBuildWSQ: the same with WSQ at 0.75 bpp.
func BenchmarkPacketBuildWSQ(b *testing.B) { benchBuild(b, benchEnrollment(b), CompressionWSQ, 0) }

// BenchmarkPacketBuildWSQWithSlaps: the WSQ packet plus the three whole
// 1600x1500 slaps (4-4-2) from the slap scanner's simulator, as a booth with
// a slap scanner sends it.
func BenchmarkPacketBuildWSQWithSlaps(b *testing.B) {
	e := benchEnrollment(b)
	for i, kind := range []int{hidsim.KindRightFour, hidsim.KindLeftFour, hidsim.KindThumbs} {
		img, truth, err := hidsim.RenderSlap(hidsim.SlapSpec{Identity: 42, Kind: kind, RotationDeg: 8, Seed: uint64(i)})
		if err != nil {
			b.Fatal(err)
		}
		sl := Slap{Position: SlapRightFour + FingerPosition(i), Image: img, PPI: 500, DeviceID: "slap0"}
		for _, f := range truth.Fingers {
			sl.Segments = append(sl.Segments, SlapSegment{Position: FingerPosition(f.Position), Box: f.Box.Intersect(img.Bounds()), Quality: Quality{Score: 75}})
		}
		e.Slaps = append(e.Slaps, sl)
	}
	benchBuild(b, e, CompressionWSQ, 0)
}

// BenchmarkPacketOpen: decrypt, verify, check the chain and parse every
// record of the PNG packet.
func BenchmarkPacketOpen(b *testing.B) {
	k := sharedKeys(b)
	p, err := Build(benchEnrollment(b), testOptions(k))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(p.Bytes)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Open(p.Bytes, k.ring, k.trusted); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(p.Bytes)), "bytes/packet")
}

// FuzzSignedContents gets past the signature: it takes a fuzzed manifest
// and a fuzzed ANSI/NIST transaction, re-chains the items, signs with the
// trusted key and opens the payload. A trusted but faulty (or subverted)
// station must not be able to crash the central either.
func FuzzSignedContents(f *testing.F) {
	k := sharedKeys(f)
	p := build(f, fuzzEnrollment(f), testOptions(k))
	items := decryptTB(f, k, p.Bytes)
	mj, err := json.Marshal(p.Manifest)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(mj, items[1].data)
	f.Add([]byte(`{"format":"openenroll-packet-manifest/1","fingers":[{"position":3,"status":"captured"}],"items":[]}`), items[1].data)
	f.Fuzz(func(t *testing.T, manifest, an2 []byte) {
		_, _, _ = resignAndOpen(t, k, items, manifest, an2)
	})
}

// resignAndOpen replaces the manifest and the transaction, re-chains and
// re-signs with the trusted key, and opens the payload. ok is false when
// the inputs cannot even be framed.
func resignAndOpen(t testing.TB, k testKeys, items []payloadItem, manifest, an2 []byte) (c *Contents, ok bool, err error) {
	var m Manifest
	if json.Unmarshal(manifest, &m) != nil {
		return nil, false, nil
	}
	alt := cloneItems(items)
	alt[1].data = an2
	if len(m.Items) != len(alt)-1 {
		m.Items = make([]Item, len(alt)-1)
	}
	for i := range m.Items {
		alt[i+1].name = m.Items[i].Name
		alt[i+1].mediaType = m.Items[i].MediaType
	}
	// Unique names keep the framing valid; the checks behind it are the
	// target.
	seen := map[string]bool{manifestItem: true}
	for _, it := range alt[1:] {
		if it.name == "" || len(it.name) > 0xFFFF || seen[it.name] {
			return nil, false, nil
		}
		seen[it.name] = true
	}
	m.StationKeyID = k.signer.KeyID
	m.chainItems(alt[1:])
	mj, err := json.Marshal(&m)
	if err != nil {
		return nil, false, nil
	}
	jws, err := sign(k.signer, mj)
	if err != nil {
		t.Fatal(err)
	}
	alt[0].data = jws
	c, err = openPayload(encodePayload(alt), k.trusted)
	return c, true, err
}

// TestResignSeedOpens makes sure FuzzSignedContents's seed reaches the
// record checks (and passes them) rather than failing early.
func TestResignSeedOpens(t *testing.T) {
	k := sharedKeys(t)
	p := build(t, fuzzEnrollment(t), testOptions(k))
	items := decryptTB(t, k, p.Bytes)
	mj, _ := json.Marshal(p.Manifest)
	c, ok, err := resignAndOpen(t, k, items, mj, items[1].data)
	if !ok || err != nil || c.Records == nil {
		t.Fatalf("seed does not open: ok=%v err=%v", ok, err)
	}
	// And a changed quality score in the manifest is caught by the record
	// checks, past the signature.
	m := *p.Manifest
	m.Fingers = append([]FingerEntry{}, m.Fingers...)
	q := *m.Fingers[0].Quality
	q.Score++
	m.Fingers[0].Quality = &q
	mj, _ = json.Marshal(&m)
	if _, _, err := resignAndOpen(t, k, items, mj, items[1].data); !errors.Is(err, ErrInvalidRecords) {
		t.Fatalf("quality mismatch: %v", err)
	}
	// Item names are fixed by the format: a path is refused even when
	// signed, so a receiver can use names as file names.
	for _, bad := range []struct{ name, media string }{{"../evil.jpg", MediaJPEG}, {"exception-03.jpg", MediaJPEG}, {"exception-08.jpg", MediaAN2}} {
		m := *p.Manifest
		m.Items = append([]Item{}, m.Items...)
		last := len(m.Items) - 1
		m.Items[last].Name, m.Items[last].MediaType = bad.name, bad.media
		mj, _ = json.Marshal(&m)
		if _, ok, err := resignAndOpen(t, k, items, mj, items[1].data); !ok || !errors.Is(err, ErrInvalidRecords) {
			t.Errorf("item %q (%s): ok=%v err=%v", bad.name, bad.media, ok, err)
		}
	}
}
