package synthfinger

import (
	"math"
	"testing"
)

// FuzzPrint feeds arbitrary impression parameters to Print: it must never
// panic, must reject out-of-range input with an error, and must otherwise
// return an image of the requested size with a label in 0..100. Identities
// are folded onto a few values so the fuzzer spends its time on the
// impression code rather than on growing new masters.
func FuzzPrint(f *testing.F) {
	f.Add(uint8(0), 1, 416, 560, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, uint64(1))
	f.Add(uint8(1), 2, 256, 288, 0.3, 0.1, -1.0, 3.0, 50.0, 30.0, 0.4, -0.3, 1.0, 0.0, uint64(7))
	f.Add(uint8(2), 10, 16, 16, 0.0, 1.0, 1.0, 10.0, 128.0, -180.0, -1.0, 1.0, 0.5, 0.0, uint64(0))
	f.Add(uint8(0), 0, 416, 560, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, uint64(1))
	f.Add(uint8(0), 3, 15, 5000, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, uint64(1))
	f.Add(uint8(0), 3, 300, 300, math.NaN(), 0.5, 0.0, math.Inf(1), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, uint64(1))
	f.Add(uint8(1), 4, 320, 430, 0.8, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, uint64(3))
	f.Add(uint8(1), 4, 64, 40, 0.8, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, uint64(9))
	f.Add(uint8(1), 4, 64, 40, 0.8, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, math.NaN(), uint64(9))
	f.Fuzz(func(t *testing.T, id uint8, finger, w, h int, contact, pressure, moisture, blur, noise, rot, ox, oy, dirt, ink float64, seed uint64) {
		imp := Impression{Width: w, Height: h, Contact: contact, Pressure: pressure, Moisture: moisture,
			Blur: blur, Noise: noise, RotationDeg: rot, OffsetX: ox, OffsetY: oy, Dirt: dirt, Ink: ink, Seed: seed}
		valid := finger >= 1 && finger <= 10 && imp.validate() == nil
		if valid && w*h > 640*640 {
			t.Skip("large valid image: slow, and no different from a small one")
		}
		img, lab, err := Print(uint64(id%3), finger, imp)
		if !valid {
			if err == nil {
				t.Fatalf("invalid input accepted: finger %d %+v", finger, imp)
			}
			return
		}
		if err != nil {
			t.Fatalf("valid input rejected: %v", err)
		}
		if img.Bounds().Dx() != w || img.Bounds().Dy() != h {
			t.Fatalf("image %v, want %dx%d", img.Bounds(), w, h)
		}
		if lab.Quality < 0 || lab.Quality > 100 || math.IsNaN(lab.Usable) || math.IsNaN(lab.Clarity) {
			t.Fatalf("label out of range: %+v", lab)
		}
	})
}
