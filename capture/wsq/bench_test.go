package wsq

import (
	"image"
	"testing"

	"github.com/openenroll/stationd/firmware-sim/synthfinger"
)

// benchImage is the image the benchmarks code: synthfinger's good
// impression as a scanner delivers it (σ = 1 px blur, noise 3), at the
// benchmark's size.
func benchImage(b *testing.B, w, h int) *image.Gray {
	b.Helper()
	return synthPrint(b, scannerImpression(w, h))
}

func benchEncode(b *testing.B, w, h int) {
	benchEncodeWith(b, benchImage(b, w, h), Encode)
}

// benchEncodeWith times enc on img at DefaultBitrate and reports ratio,
// PSNR and the actual bits per pixel.
func benchEncodeWith(b *testing.B, img *image.Gray, enc func(*image.Gray, int, float64) ([]byte, error)) {
	benchEncodeAt(b, img, enc, DefaultBitrate)
}

// benchEncodeAt times enc on img at rate bits per pixel and reports ratio,
// PSNR and the actual bits per pixel.
func benchEncodeAt(b *testing.B, img *image.Gray, enc func(*image.Gray, int, float64) ([]byte, error), rate float64) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	var data []byte
	var err error
	b.SetBytes(int64(w * h))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		data, err = enc(img, 500, rate)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	out, _, err := Decode(data)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(w*h)/float64(len(data)), "ratio")
	b.ReportMetric(psnr(img, out), "psnr_dB")
	b.ReportMetric(8*float64(len(data))/float64(w*h), "bpp")
}

func benchDecode(b *testing.B, w, h int) {
	img := benchImage(b, w, h)
	data, err := Encode(img, 500, DefaultBitrate)
	if err != nil {
		b.Fatal(err)
	}
	var out *image.Gray
	b.SetBytes(int64(w * h))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		out, _, err = Decode(data)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(w*h)/float64(len(data)), "ratio")
	b.ReportMetric(psnr(img, out), "psnr_dB")
}

func BenchmarkWSQEncode_416x560(b *testing.B) { benchEncode(b, 416, 560) }
func BenchmarkWSQEncode_800x750(b *testing.B) { benchEncode(b, 800, 750) }
func BenchmarkWSQDecode_416x560(b *testing.B) { benchDecode(b, 416, 560) }
func BenchmarkWSQDecode_800x750(b *testing.B) { benchDecode(b, 800, 750) }

// Fixed-rate encoding: the same prints held to 0.75 bpp, and synthfinger's
// sharp GoodImpression, where Encode undershoots most, with both encoders.
func BenchmarkWSQEncodeFixedRate_416x560(b *testing.B) {
	benchEncodeWith(b, benchImage(b, 416, 560), EncodeFixedRate)
}
func BenchmarkWSQEncodeFixedRate_800x750(b *testing.B) {
	benchEncodeWith(b, benchImage(b, 800, 750), EncodeFixedRate)
}
func BenchmarkWSQEncodeSharp_416x560(b *testing.B) {
	benchEncodeWith(b, synthPrint(b, synthfinger.GoodImpression()), Encode)
}
func BenchmarkWSQEncodeFixedRateSharp_416x560(b *testing.B) {
	benchEncodeWith(b, synthPrint(b, synthfinger.GoodImpression()), EncodeFixedRate)
}

// The MSE allocation (AllocMSE) on the sharp print: at 0.75 bpp, and held
// to a 12:1 file (the ratio goal), next to the FBI allocation
// held to the same budget.
func BenchmarkWSQEncodeMSESharp_416x560(b *testing.B) {
	benchEncodeWith(b, synthPrint(b, synthfinger.GoodImpression()), EncodeMSE)
}
func BenchmarkWSQEncodeMSESharpRatio12_416x560(b *testing.B) {
	benchEncodeAt(b, synthPrint(b, synthfinger.GoodImpression()), EncodeMSE, ratio12Rate)
}
func BenchmarkWSQEncodeFixedRateSharpRatio12_416x560(b *testing.B) {
	benchEncodeAt(b, synthPrint(b, synthfinger.GoodImpression()), EncodeFixedRate, ratio12Rate)
}
func BenchmarkWSQEncodeMSE_416x560(b *testing.B) {
	benchEncodeWith(b, benchImage(b, 416, 560), EncodeMSE)
}
func BenchmarkWSQEncodeMSE_800x750(b *testing.B) {
	benchEncodeWith(b, benchImage(b, 800, 750), EncodeMSE)
}
