package finger

import (
	"image"
	"testing"

	"github.com/openenroll/stationd/firmware-sim/synthfinger"
)

func benchPrint(b *testing.B, w, h int) *image.Gray {
	b.Helper()
	imp := synthfinger.GoodImpression()
	imp.Width, imp.Height = w, h
	imp.Noise, imp.Moisture = 8, -0.2 // a typical, not a perfect, capture
	img, _, err := synthfinger.Print(3, 2, imp)
	if err != nil {
		b.Fatal(err)
	}
	return img
}

func benchAssess(b *testing.B, img *image.Gray) {
	if _, err := Assess(img, StandardPPI); err != nil { // warm the buffer pool
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := Assess(img, StandardPPI)
		if err != nil || !res.Fingerprint {
			b.Fatalf("not scored: %v %s", err, res.Rejection)
		}
	}
}

// BenchmarkQuality_416x560: one full-size 500 ppi plain impression, single
// goroutine (goal <= 10 ms, about a tenth of NFIQ 2 on this machine).
func BenchmarkQuality_416x560(b *testing.B) { benchAssess(b, benchPrint(b, 416, 560)) }

// BenchmarkQuality_256x288: an R30x-module-sized image.
func BenchmarkQuality_256x288(b *testing.B) { benchAssess(b, benchPrint(b, 256, 288)) }

// BenchmarkQuality_1000ppi: a 1000 ppi 832x1120 image, resampled first.
func BenchmarkQuality_1000ppi_832x1120(b *testing.B) {
	img := benchPrint(b, 416, 560)
	big := image.NewGray(image.Rect(0, 0, 832, 1120))
	for y := 0; y < 1120; y++ {
		for x := 0; x < 832; x++ {
			big.Pix[y*832+x] = img.Pix[(y/2)*img.Stride+x/2]
		}
	}
	if _, err := Assess(big, 1000); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Assess(big, 1000); err != nil {
			b.Fatal(err)
		}
	}
}
