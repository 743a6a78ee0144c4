// Package ldstest makes test documents: a throw-away CSCA and document
// signer (ECDSA P-256, generated per process, never for production) and a
// sample Vietnamese CCCD enrollment with a synthetic portrait.
package ldstest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"image"
	"image/color"
	"image/jpeg"
	"math/big"
	"sync"
	"time"

	"github.com/openenroll/stationd/devices/smartcard/lds"
)

// PKI is a test CSCA with one document signer.
type PKI struct {
	CSCA    *x509.Certificate
	CSCAKey *ecdsa.PrivateKey
	DS      lds.Signer
}

var (
	once sync.Once
	pki  *PKI
)

// TestPKI returns the process's test PKI, generating it on first use.
func TestPKI() *PKI {
	once.Do(func() { pki = NewPKI("Test CSCA VN") })
	return pki
}

// NewPKI generates a CSCA (valid 10 years) and a document signer (3 years).
func NewPKI(name string) *PKI {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now().Add(-time.Hour)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{Country: []string{"VN"}, CommonName: name},
		NotBefore: now, NotAfter: now.AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		panic(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	dsKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dsTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{Country: []string{"VN"}, CommonName: name + " Document Signer"},
		NotBefore: now, NotAfter: now.AddDate(3, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature,
	}
	dsDER, err := x509.CreateCertificate(rand.Reader, dsTmpl, ca, &dsKey.PublicKey, caKey)
	if err != nil {
		panic(err)
	}
	ds, _ := x509.ParseCertificate(dsDER)
	return &PKI{CSCA: ca, CSCAKey: caKey, DS: lds.Signer{Cert: ds, Key: dsKey}}
}

// Portrait returns a synthetic JPEG portrait of roughly the given size in
// bytes (a face-like oval on a gradient with deterministic noise), and its
// dimensions.
func Portrait(approxBytes int) ([]byte, int, int) {
	portraitMu.Lock()
	defer portraitMu.Unlock()
	if b, ok := portraits[approxBytes]; ok {
		return b, portraitW, portraitH
	}
	b := makePortrait(approxBytes)
	portraits[approxBytes] = b
	return b, portraitW, portraitH
}

const portraitW, portraitH = 240, 320

var (
	portraitMu sync.Mutex
	portraits  = map[int][]byte{}
)

func makePortrait(approxBytes int) []byte {
	w, h := portraitW, portraitH
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	seed := uint32(12345)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			seed = seed*1664525 + 1013904223
			n := uint8(seed >> 28)
			dx, dy := float64(x-w/2)/70, float64(y-h/2)/95
			c := color.RGBA{uint8(180 - y/4), uint8(190 - y/4), 210, 255}
			if dx*dx+dy*dy < 1 {
				c = color.RGBA{224, 172, 140, 255}
			}
			c.R += n
			c.G += n
			img.Set(x, y, c)
		}
	}
	// Size grows with quality: bisect for the closest one.
	var best []byte
	lo, hi := 1, 100
	for lo <= hi {
		q := (lo + hi) / 2
		var buf bytes.Buffer
		jpeg.Encode(&buf, img, &jpeg.Options{Quality: q})
		if best == nil || abs(buf.Len()-approxBytes) < abs(len(best)-approxBytes) {
			best = buf.Bytes()
		}
		if buf.Len() < approxBytes {
			lo = q + 1
		} else {
			hi = q - 1
		}
	}
	return best
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// SampleMRZ is the MRZ of the sample card (TD1, Vietnam).
var SampleMRZ = lds.MRZ{
	Format: "TD1", DocumentCode: "ID", IssuingState: "VNM", DocumentNumber: "203012345",
	Optional1: "079203012345", BirthDate: "900115", Sex: "F", ExpiryDate: "300115",
	Nationality: "VNM", PrimaryName: "NGUYEN", SecondaryName: "THI LAN",
}

// SampleCCCD is the DG13 of the sample card (fictitious person).
var SampleCCCD = lds.CCCD{
	IDNumber: "079203012345", FullName: "Nguyễn Thị Lan", BirthDate: "15/01/1990", Sex: "Nữ",
	Nationality: "Việt Nam", Ethnicity: "Kinh", Religion: "Không", PlaceOfOrigin: "Hải Dương",
	Residence: "12 Lê Lợi, Phường Bến Nghé, Quận 1, TP. Hồ Chí Minh", Marks: "Nốt ruồi cách 2cm trên đuôi mắt trái",
	IssueDate: "15/01/2021", ExpiryDate: "15/01/2030", FatherName: "Nguyễn Văn Minh", MotherName: "Trần Thị Hoa",
}

// SampleEnrollment returns the sample card's enrollment with a ~15 KB
// portrait (the size of a typical DG2 on an ID card).
func SampleEnrollment() lds.Enrollment {
	img, w, h := Portrait(15000)
	c := SampleCCCD
	return lds.Enrollment{MRZ: SampleMRZ, CCCD: &c,
		Face: lds.Face{Gender: 2, ImageDataType: lds.ImageJPEG, Width: uint16(w), Height: uint16(h), Image: img}}
}
