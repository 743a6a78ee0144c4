package wsq

import (
	"image"
	"math"
	"math/rand/v2"
)

// ridgeImage draws a fingerprint-like test image: a roughly elliptical
// print area on a light background, filled with ridges of ~9 px period
// (500 ppi) that curve around a core, plus sensor noise.
func ridgeImage(w, h int, seed uint64) *image.Gray {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	img := image.NewGray(image.Rect(0, 0, w, h))
	cx, cy := float64(w)*(0.45+0.1*rng.Float64()), float64(h)*(0.4+0.1*rng.Float64())
	ax, ay := float64(w)*0.42, float64(h)*0.46
	period := 8.5 + rng.Float64()
	phase := rng.Float64() * 2 * math.Pi
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			dx, dy := float64(x)-cx, float64(y)-cy
			e := (dx*dx)/(ax*ax) + (dy*dy)/(ay*ay)
			v := 225.0
			if e < 1 {
				// Loops around the core, flattening into arches below it.
				r := math.Hypot(dx, dy*1.3)
				if dy > 0 {
					r = math.Hypot(dx*0.5, dy) + 0.2*dy
				}
				ridge := math.Sin(2*math.Pi*r/period + phase + 0.3*math.Sin(float64(x)/37))
				contrast := 90 * math.Min(1, 4*(1-e))
				v = 135 - contrast*ridge
			}
			v += rng.NormFloat64() * 6
			img.Pix[y*img.Stride+x] = uint8(math.Max(0, math.Min(255, math.Round(v))))
		}
	}
	return img
}

// psnr is the peak signal-to-noise ratio of b against a, in dB.
func psnr(a, b *image.Gray) float64 {
	var se float64
	w, h := a.Rect.Dx(), a.Rect.Dy()
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			d := float64(a.Pix[y*a.Stride+x]) - float64(b.Pix[y*b.Stride+x])
			se += d * d
		}
	}
	mse := se / float64(w*h)
	if mse == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/mse)
}
