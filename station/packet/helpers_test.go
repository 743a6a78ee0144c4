package packet

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hpke"
	crand "crypto/rand"
	"encoding/base64"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/openenroll/stationd/devices"
)

// testFinger draws a ridge-like pattern (curved sinusoidal ridges at a
// ~9 px period, the 500 ppi norm, plus noise) so PNG sizes are realistic.
func testFinger(w, h int, seed uint64) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(seed, 7))
	cx, cy := float64(w)/2+float64(r.IntN(40)-20), float64(h)/2+float64(r.IntN(40)-20)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			dx, dy := float64(x)-cx, float64(y)-cy
			d := math.Sqrt(dx*dx+dy*dy*0.6) + 6*math.Sin(float64(x)/37+float64(seed))
			v := 128 + 90*math.Sin(2*math.Pi*d/9) + r.NormFloat64()*12
			img.Pix[y*img.Stride+x] = uint8(max(0, min(255, v)))
		}
	}
	return img
}

func testFaceJPEG(t testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8(r.IntN(64) + 96), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type testKeys struct {
	signer    *Signer
	stationPk ed25519.PublicKey
	central   hpke.PrivateKey
	recipient *Recipient
	ring      *CentralKeys
	trusted   *TrustedStations
}

var (
	keysOnce sync.Once
	keys     testKeys
)

func newTestKeys(t testing.TB) testKeys {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	kem, _, _ := suite()
	ck, err := kem.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	rcp, err := NewRecipient(ck.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	ring, err := NewCentralKeys(ck)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrustedStations(StationKey{StationID: "BOOTH-7", Public: pub})
	if err != nil {
		t.Fatal(err)
	}
	return testKeys{s, pub, ck, rcp, ring, tr}
}

func sharedKeys(t testing.TB) testKeys {
	keysOnce.Do(func() { keys = newTestKeys(t) })
	return keys
}

// testEnrollment has a face, eight captured fingers (in a shuffled order)
// and two exceptions, one with a photo.
func testEnrollment(t testing.TB, w, h int) *Enrollment {
	at := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)
	e := &Enrollment{
		SessionID: "S-20261127-0001", ApplicantRef: "APP-42", OperatorID: "op-17", StationID: "BOOTH-7",
		Started: at, Finalized: at.Add(4 * time.Minute),
		Face: &Face{JPEG: testFaceJPEG(t, 120, 160), Quality: Quality{Score: 91, Reasons: []string{"eyes-open"}}, Attempts: 2,
			Captured: at.Add(time.Minute), DeviceID: "cam0"},
		Card: &CardResult{Mode: "read", OK: true, Checks: []CardCheck{{Name: "BAC", OK: true}, {Name: "passive-auth", OK: true}}},
		Devices: []DeviceInfo{
			{Info: devices.Info{ID: "fp0", Kind: devices.KindFingerprint, Driver: "zfm", Vendor: "sim", Serial: "123"}, Calibration: "ok", CBEFFVendor: 0x0042, CBEFFType: 7},
			{Info: devices.Info{ID: "cam0", Kind: devices.KindCamera, Driver: "v4l"}, Calibration: "not-applicable"},
		},
	}
	for _, p := range []int{7, 1, 2, 3, 4, 5, 6, 9} {
		e.Fingers = append(e.Fingers, Finger{Position: FingerPosition(p), Image: testFinger(w, h, uint64(p)), PPI: 500,
			Quality: Quality{Score: 50 + p, Reasons: []string{"ok"}}, Attempts: 1 + p%3, Captured: at.Add(2 * time.Minute), DeviceID: "fp0"})
	}
	e.Fingers = append(e.Fingers,
		Finger{Position: 8, Exception: &Exception{Reason: ExceptionAmputated, Note: "since birth", Photo: testFaceJPEG(t, 40, 30)}},
		Finger{Position: 10, Attempts: 3, Exception: &Exception{Reason: ExceptionBandaged}})
	return e
}

func testOptions(k testKeys) Options {
	return Options{Signer: k.signer, Recipient: k.recipient, Now: func() time.Time { return time.Date(2026, 11, 27, 9, 35, 0, 0, time.UTC) }}
}

func stdB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
