package finger

import (
	"image"
	"math"
	"testing"
)

// measureImage runs the pipeline up to the features.
func measureImage(t testing.TB, img *image.Gray, ppi int) (*work, Features) {
	t.Helper()
	w := new(work)
	if _, err := w.load(img, ppi); err != nil {
		t.Fatal(err)
	}
	w.smooth()
	w.blockStats()
	w.segment()
	w.gradients()
	var f Features
	w.measure(&f)
	return w, f
}

func angleDiffDeg(a, b float64) float64 {
	d := math.Mod(math.Abs(a-b), 180)
	return math.Min(d, 180-d)
}

// A pure sinusoid has a known orientation and period in every block.
func TestBlockSinusoidKnownAnswers(t *testing.T) {
	for _, period := range []float64{6, 8, 10, 12} {
		for _, phi := range []float64{0, 30, 45, 60, 90, 135, 160} {
			img := sinusoid(96, 96, period, phi, 128, 80)
			w, _ := measureImage(t, img, StandardPPI)
			// The block at (32, 32) is clear of the image border.
			var a, b, c float64
			for _, i := range []int{2*w.nbx + 2, 2*w.nbx + 3, 3*w.nbx + 2, 3*w.nbx + 3} {
				a += float64(w.gxx[i])
				b += float64(w.gyy[i])
				c += float64(w.gxy[i])
			}
			var f blockFeat
			w.analyseBlock(&f, 32, 32, a, b, c)
			wantTheta := math.Mod(phi+90, 180)
			if d := angleDiffDeg(f.theta*180/math.Pi, wantTheta); d > 2 {
				t.Errorf("period %v phi %v: ridge orientation %.1f°, want %.1f°", period, phi, f.theta*180/math.Pi, wantTheta)
			}
			if math.Abs(f.period-period) > 0.08*period {
				t.Errorf("period %v phi %v: measured period %.2f", period, phi, f.period)
			}
			if f.ocl < 0.95 || f.coh < 0.95 {
				t.Errorf("period %v phi %v: OCL %.3f coherence %.3f, want > 0.95", period, phi, f.ocl, f.coh)
			}
			if f.lcs < 0.85 {
				t.Errorf("period %v phi %v: LCS %.3f, want > 0.85", period, phi, f.lcs)
			}
			if f.fda < 0.35 {
				t.Errorf("period %v phi %v: FDA %.3f, want > 0.35", period, phi, f.fda)
			}
			if r := f.wr / f.wv; math.Abs(r-1) > 0.35 {
				t.Errorf("period %v phi %v: ridge/valley width ratio %.2f, want ~1", period, phi, r)
			}
			if !f.ridgeLike {
				t.Errorf("period %v phi %v: block not ridge-like", period, phi)
			}
		}
	}
}

func TestImageSinusoidFeatures(t *testing.T) {
	_, f := measureImage(t, sinusoid(256, 288, 9, 20, 128, 80), StandardPPI)
	if f.ForegroundFraction != 1 {
		t.Errorf("foreground %.2f, want the whole image", f.ForegroundFraction)
	}
	if math.Abs(f.RidgePeriod-9) > 0.5 {
		t.Errorf("ridge period %.2f, want 9", f.RidgePeriod)
	}
	if f.OrientationSpread > 0.005 || f.OFL > 0.01 {
		t.Errorf("orientation spread %.4f, OFL %.4f: want ~0 for parallel lines", f.OrientationSpread, f.OFL)
	}
	if f.RidgeFraction < 0.99 || f.OCL < 0.95 || f.Coherence < 0.95 {
		t.Errorf("ridge fraction %.2f, OCL %.2f, coherence %.2f", f.RidgeFraction, f.OCL, f.Coherence)
	}
	if f.RVU > 0.15 {
		t.Errorf("RVU %.3f: a sinusoid is uniform", f.RVU)
	}
	if f.Minutiae > 2 {
		t.Errorf("%d minutiae in parallel lines", f.Minutiae)
	}
	if math.Abs(f.Mean-128) > 2 || math.Abs(f.MeanBlockMean-128) > 2 {
		t.Errorf("mean %.1f, MMB %.1f, want 128", f.Mean, f.MeanBlockMean)
	}
}

// A 1000 ppi image is resampled: the period halves and the mask maps back.
func TestResample(t *testing.T) {
	img := sinusoid(400, 400, 20, 0, 128, 80)
	for y := 0; y < 400; y++ { // blank the right half
		for x := 200; x < 400; x++ {
			img.Pix[y*img.Stride+x] = 250
		}
	}
	_, f := measureImage(t, img, 1000)
	if f.Width != 200 || f.Height != 200 {
		t.Fatalf("resampled to %dx%d, want 200x200", f.Width, f.Height)
	}
	if math.Abs(f.RidgePeriod-10) > 0.7 {
		t.Errorf("period %.2f at 500 ppi, want 10", f.RidgePeriod)
	}
	res, err := Assess(img, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Mask.At(50, 200) || res.Mask.At(350, 200) {
		t.Errorf("mask in caller pixels: left %v right %v, want true false", res.Mask.At(50, 200), res.Mask.At(350, 200))
	}
}

func TestBlankHasNoForeground(t *testing.T) {
	for _, v := range []uint8{0, 128, 255} {
		res, err := Assess(uniform(416, 560, v), StandardPPI)
		if err != nil {
			t.Fatal(err)
		}
		if res.Features.ForegroundPixels != 0 || res.Mask.Count() != 0 {
			t.Errorf("uniform %d: foreground %d px", v, res.Features.ForegroundPixels)
		}
		if res.Fingerprint || res.Score != 0 || len(res.Reasons) != 1 || res.Reasons[0] != NotAFingerprint {
			t.Errorf("uniform %d: %+v", v, res)
		}
	}
}

// Segmentation keeps a textured patch and drops the blank rest.
func TestSegmentationPatch(t *testing.T) {
	img := uniform(320, 320, 230)
	s := sinusoid(320, 320, 9, 30, 128, 90)
	for y := 96; y < 224; y++ {
		for x := 96; x < 224; x++ {
			img.Pix[y*320+x] = s.Pix[y*320+x]
		}
	}
	res, err := Assess(img, StandardPPI)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Features.ForegroundPixels; got != 128*128 {
		t.Errorf("foreground %d px, want %d", got, 128*128)
	}
	if !res.Mask.At(160, 160) || res.Mask.At(20, 20) {
		t.Error("mask wrong at the patch centre or the blank corner")
	}
}

func TestNoiseHasNoRidges(t *testing.T) {
	_, f := measureImage(t, gaussNoise(256, 288, 128, 50, 1), StandardPPI)
	if f.OCL > 0.3 || f.RidgeFraction > 0.02 {
		t.Errorf("noise: OCL %.2f ridge fraction %.2f", f.OCL, f.RidgeFraction)
	}
	if f.LCS > 0.6 || f.FDA > 0.25 {
		t.Errorf("noise: LCS %.2f FDA %.2f", f.LCS, f.FDA)
	}
}

// Orientation flow: a field that turns smoothly has a small OFL; columns of
// blocks alternating between orthogonal directions give 6 of 8 neighbours at
// 90°: (67.5° - 4°) / 86° = 0.74.
func TestOFL(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 256, 256))
	for by := 0; by < 8; by++ {
		for bx := 0; bx < 8; bx++ {
			phi := 0.0
			if bx%2 == 1 {
				phi = 90
			}
			s := sinusoid(32, 32, 8, phi, 128, 80)
			for y := 0; y < 32; y++ {
				copy(img.Pix[(by*32+y)*256+bx*32:], s.Pix[y*32:y*32+32])
			}
		}
	}
	_, f := measureImage(t, img, StandardPPI)
	if math.Abs(f.OFL-0.74) > 0.05 {
		t.Errorf("alternating columns: OFL %.2f, want 0.74", f.OFL)
	}
	_, g := measureImage(t, rings(256, 256, 9), StandardPPI)
	if g.OFL > 0.25 {
		t.Errorf("rings: OFL %.2f, want small", g.OFL)
	}
}

// Horizontal ridges where one ridge stops half-way: the extractor finds that
// ending and nothing else.
func TestMinutiaKnownEnding(t *testing.T) {
	const W, H, T = 256, 256, 10
	img := sinusoid(W, H, T, 90, 140, 90) // ridges (dark) where cos = -1: y = 5, 15, ...
	ry := 125                             // a ridge centre line
	for y := ry - 4; y <= ry+4; y++ {
		for x := W / 2; x < W; x++ {
			img.Pix[y*W+x] = clamp8(140 + 90*math.Cos(2*math.Pi*float64(y-ry+5)/T*0)) // valley level
		}
	}
	w, f := measureImage(t, img, StandardPPI)
	found := false
	for _, m := range w.minu {
		if m.dead {
			continue
		}
		if abs(int(m.x)-W/2) <= 6 && abs(int(m.y)-ry) <= 3 && m.kind == Ending {
			found = true
		}
	}
	if !found {
		t.Errorf("ending at (%d,%d) not found; minutiae %d", W/2, ry, f.Minutiae)
	}
	// The valleys either side merge into one: the crossing number sees no
	// second minutia at the ridge end (a valley has no skeleton).
	if f.Minutiae < 1 || f.Minutiae > 2 {
		t.Errorf("%d minutiae, want 1 (the ending)", f.Minutiae)
	}
}

// Short skeleton fragments (dust) are removed as spurious.
func TestMinutiaSpuriousRemoval(t *testing.T) {
	const W, H = 256, 256
	img := sinusoid(W, H, 10, 90, 140, 90)
	// Dark dots in the valleys: each would be a short ridge with two endings.
	for _, p := range [][2]int{{60, 70}, {100, 110}, {150, 150}, {190, 90}, {120, 190}} {
		for y := p[1] - 1; y <= p[1]+1; y++ {
			for x := p[0] - 2; x <= p[0]+2; x++ {
				img.Pix[y*W+x] = 40
			}
		}
	}
	_, f := measureImage(t, img, StandardPPI)
	if f.Minutiae != 0 {
		t.Errorf("%d minutiae from dust in the valleys, want 0", f.Minutiae)
	}
}

func TestCrossingNumberTable(t *testing.T) {
	cases := []struct {
		code int
		cn   uint8
	}{
		{0b00000001, 1}, // one neighbour: ending
		{0b00010001, 2}, // N and S: ridge through
		{0b01010001, 3}, // N, S, W: bifurcation
		{0b01010101, 4}, // cross
		{0, 0},          // isolated
		{0b00000011, 1}, // N and NE adjacent: still an ending
	}
	for _, c := range cases {
		if got := cnLUT[c.code]; got != c.cn {
			t.Errorf("crossing number of %08b = %d, want %d", c.code, got, c.cn)
		}
	}
}

// Best-half clarity and ridge-only orientation flow describe the print where
// it is clear: an image half clean ridges, half noise (as a card's margin or
// ink spatter beside a print) gives the clean half's values.
func TestBestHalfIgnoresJunk(t *testing.T) {
	const W, H = 256, 288
	_, clean := measureImage(t, sinusoid(W, H, 9, 20, 128, 80), StandardPPI)
	img := sinusoid(W, H, 9, 20, 128, 80)
	noise := gaussNoise(W, H, 128, 50, 3)
	for y := 0; y < H; y++ {
		copy(img.Pix[y*W+W/2:y*W+W], noise.Pix[y*W+W/2:y*W+W])
	}
	_, f := measureImage(t, img, StandardPPI)
	t.Logf("clean LCS %.3f OCL %.3f FDA %.3f OFL %.3f; half noise: LCS %.3f top %.3f best %.3f, OCL %.3f best %.3f, FDA %.3f best %.3f, OFL %.3f ridge %.3f, ridge fraction %.2f",
		clean.LCS, clean.OCL, clean.FDA, clean.OFL, f.LCS, f.LCSTop, f.LCSBest, f.OCL, f.OCLBest, f.FDA, f.FDABest, f.OFL, f.OFLRidge, f.RidgeFraction)
	if f.RidgeFraction > 0.8 {
		t.Fatalf("ridge fraction %.2f: the noise half should not count as ridges", f.RidgeFraction)
	}
	for _, c := range []struct {
		name              string
		all, best, cleanV float64
	}{{"LCS", f.LCS, f.LCSBest, clean.LCS}, {"OCL", f.OCL, f.OCLBest, clean.OCL}, {"FDA", f.FDA, f.FDABest, clean.FDA}} {
		if math.Abs(c.best-c.cleanV) > 0.05*c.cleanV {
			t.Errorf("%s best half %.3f, want the clean image's %.3f", c.name, c.best, c.cleanV)
		}
		if c.all >= c.best {
			t.Errorf("%s over all blocks %.3f not below the best half %.3f", c.name, c.all, c.best)
		}
	}
	if f.OFLRidge > clean.OFL+0.02 || f.OFLRidge >= f.OFL {
		t.Errorf("OFL between ridge blocks %.3f, want about the clean %.3f and below OFL over all blocks %.3f", f.OFLRidge, clean.OFL, f.OFL)
	}
}
