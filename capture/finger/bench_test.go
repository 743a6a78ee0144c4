package finger

import (
	"image"
	"slices"
	"testing"
	"time"

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

// benchAssess times Assess and also reports the median wall time per image
// ("ms_median") and the process CPU time per image ("cpu_ms"), both less
// disturbed than the mean wall time when other processes share the machine.
func benchAssess(b *testing.B, img *image.Gray, ppi int) {
	if _, err := Assess(img, ppi); err != nil { // warm the buffer pool
		b.Fatal(err)
	}
	var times []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for b.Loop() {
		t0 := time.Now()
		res, err := Assess(img, ppi)
		times = append(times, time.Since(t0))
		if err != nil || !res.Fingerprint {
			b.Fatalf("not scored: %v %s", err, res.Rejection)
		}
	}
	b.StopTimer()
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu)/1e6/float64(len(times)), "cpu_ms")
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2])/1e6, "ms_median")
}

// BenchmarkQuality_416x560: one full-size 500 ppi plain impression, single
// goroutine (goal <= 10 ms, about a tenth of NFIQ 2 on this machine).
func BenchmarkQuality_416x560(b *testing.B) { benchAssess(b, benchPrint(b, 416, 560), StandardPPI) }

// BenchmarkQuality_256x288: an R30x-module-sized image.
func BenchmarkQuality_256x288(b *testing.B) { benchAssess(b, benchPrint(b, 256, 288), StandardPPI) }

// BenchmarkQuality_1000ppi: a 1000 ppi 832x1120 image, resampled first.
func BenchmarkQuality_1000ppi_832x1120(b *testing.B) {
	img := benchPrint(b, 416, 560)
	big := image.NewGray(image.Rect(0, 0, 832, 1120))
	for y := 0; y < 1120; y++ {
		for x := 0; x < 832; x++ {
			big.Pix[y*832+x] = img.Pix[(y/2)*img.Stride+x/2]
		}
	}
	benchAssess(b, big, 1000)
}
