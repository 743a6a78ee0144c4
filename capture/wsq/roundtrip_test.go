package wsq

import (
	"testing"
)

func TestRoundTripRidges(t *testing.T) {
	for _, sz := range [][2]int{{416, 560}, {800, 750}} {
		img := ridgeImage(sz[0], sz[1], 7)
		for _, rate := range []float64{0.75, 2.25} {
			data, err := Encode(img, 500, rate)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			out, ppi, err := Decode(data)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if ppi != 500 {
				t.Errorf("ppi = %d, want 500", ppi)
			}
			ratio := float64(sz[0]*sz[1]) / float64(len(data))
			p := psnr(img, out)
			t.Logf("%dx%d at %.2f bpp: %d bytes, ratio %.1f, %.3f bpp actual, PSNR %.2f dB", sz[0], sz[1], rate, len(data), ratio, 8/ratio, p)
		}
	}
}
