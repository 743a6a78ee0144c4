package wsq

import (
	"fmt"
	"image"
	"math"
	"strings"
	"testing"
)

// The analytic synthesis gains match the energy that the decoder's own
// inverse transform gives a unit coefficient in the middle of each
// subband (far from the image edges, where symmetric extension would add
// reflections).
func TestSynthesisGains(t *testing.T) {
	const w, h = 416, 560
	g := newGeometry(w, h)
	G := synthesisGains()
	ks := []int{0, 1, 2, 3, 4, 7, 8, 15, 18, 19, 27, 33, 50, 51, 52, 54, 56, 59}
	if testing.Short() || raceEnabled {
		ks = []int{0, 7, 51, 56}
	}
	for _, k := range ks {
		p := make([]float32, w*h)
		br := g.bands[k]
		p[(br.y+br.h/2)*w+br.x+br.w/2] = 1
		newTransformer(specFilters, p, nil, w, h).inverse(g)
		var e float64
		for _, v := range p {
			e += float64(v) * float64(v)
		}
		if math.Abs(G[k]/e-1) > 1e-3 {
			t.Errorf("subband %d: analytic gain %.5f, inverse transform %.5f", k, G[k], e)
		}
	}
	for k, v := range G {
		if !(v > 0.5 && v < 2) {
			t.Errorf("subband %d: gain %v outside the 9/7 bank's plausible range", k, v)
		}
	}
}

// fitBinCenter finds the C that minimises the gain-weighted squared error:
// no C on a fine grid does better on Laplacian-like coefficients.
func TestFitBinCenter(t *testing.T) {
	const w, h = 128, 96
	g := newGeometry(w, h)
	plane := make([]float32, w*h)
	rng := uint64(12345)
	next := func() float64 { // xorshift, uniform in (0, 1)
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		return (float64(rng>>11) + 0.5) / (1 << 53)
	}
	for k := 0; k < numSubbands; k++ {
		br := g.bands[k]
		scale := 5 + float64(k%7)*6 // Laplacian scale per subband
		for y := br.y; y < br.y+br.h; y++ {
			for x := br.x; x < br.x+br.w; x++ {
				v := -scale * math.Log(next())
				if next() < 0.5 {
					v = -v
				}
				plane[y*w+x] = float32(v)
			}
		}
	}
	var qv, zv [numSubbands]float32
	for k := range qv {
		qv[k] = float32(8 + k%5*3)
		zv[k] = mseZeroBinRatio * qv[k]
	}
	G := synthesisGains()
	errAt := func(c float32) float64 {
		var e float64
		for k := 0; k < numSubbands; k++ {
			br := g.bands[k]
			for y := br.y; y < br.y+br.h; y++ {
				for _, v := range plane[y*w+br.x : y*w+br.x+br.w] {
					d := float64(v - dequantize(quantize(v, qv[k], zv[k]), qv[k], zv[k], c))
					e += G[k] * d * d
				}
			}
		}
		return e
	}
	c := fitBinCenter(plane, g, &qv, &zv)
	best := errAt(float32(c))
	t.Logf("fitted C = %.4f", c)
	// Laplacian bins hold more mass near their inner edge: C > 0.5.
	if c <= 0.5 || c >= maxFittedC {
		t.Errorf("fitted C = %v, want in (0.5, %v) for Laplacian coefficients", c, maxFittedC)
	}
	for gc := 0.0; gc < 1; gc += 0.01 {
		if e := errAt(float32(gc)); e < best*(1-1e-6) {
			t.Errorf("C = %.2f gives error %.6g, below the fitted C = %.4f's %.6g", gc, e, c, best)
		}
	}
	// Nothing coded: the spec's value.
	var none [numSubbands]float32
	if c := fitBinCenter(plane, g, &none, &none); c != binCenter {
		t.Errorf("no coded subbands: C = %v, want %v", c, binCenter)
	}
}

// An MSE-allocation stream has the same segments as an FBI one; its DQT
// carries either the FBI widths times one scale with Z_k = 1.2 Q_k, or
// widths with Q_k·√G_k the same for every coded subband and
// Z_k = 1.5 Q_k; the same coded subbands as the FBI allocation; and a
// fitted C. The file keeps to its budget and decodes.
func TestMSEStream(t *testing.T) {
	const w, h = 256, 320
	img := ridgeImage(w, h, 21)
	for _, rate := range []float64{ratio12Rate, 2.25} {
		data, err := EncodeOptions(img, Options{PPI: 500, Bitrate: rate, Allocation: AllocMSE})
		if err != nil {
			t.Fatal(err)
		}
		fbi, err := Encode(img, 500, rate)
		if err != nil {
			t.Fatal(err)
		}
		var names, fbiNames []string
		var c float64
		var q, z [64]float64
		for _, s := range walkSegments(t, data) {
			names = append(names, markerName(s.marker))
			if s.marker == markerDQT {
				c, q, z = readDQT(t, s.body)
			}
		}
		var qf [64]float64
		for _, s := range walkSegments(t, fbi) {
			fbiNames = append(fbiNames, markerName(s.marker))
			if s.marker == markerDQT {
				_, qf, _ = readDQT(t, s.body)
			}
		}
		if strings.Join(names, " ") != strings.Join(fbiNames, " ") {
			t.Errorf("segments %v, FBI allocation writes %v", names, fbiNames)
		}
		// The widths are the FBI allocation's or the gain-equalising ones,
		// scaled by one factor, with the matching zero bins.
		G := synthesisGains()
		family := "FBI"
		zr := zeroBinRatio
		if z[0] > 1.35*q[0] {
			family, zr = "gain-equalising", mseZeroBinRatio
		}
		ref := 0.0
		for k := 0; k < 64; k++ {
			if (q[k] == 0) != (qf[k] == 0) {
				t.Errorf("subband %d: MSE Q=%v, FBI Q=%v (coded differently)", k, q[k], qf[k])
			}
			if q[k] == 0 {
				continue
			}
			if math.Abs(z[k]-zr*q[k]) > 1e-4*z[k] {
				t.Errorf("%s widths, subband %d: Z=%v, want %v·Q = %v", family, k, z[k], zr, zr*q[k])
			}
			s := q[k] / qf[k]
			if family != "FBI" {
				s = q[k] * math.Sqrt(G[k])
			}
			if ref == 0 {
				ref = s
			}
			if math.Abs(s/ref-1) > 1e-3 {
				t.Errorf("%s widths, subband %d: %v, subband 0: %v (not one common scale)", family, k, s, ref)
			}
		}
		if c <= 0.44 || c >= maxFittedC {
			t.Errorf("C = %v: want a fitted value in (0.44, %v) for a print", c, maxFittedC)
		}
		budget := rate * w * h / 8
		if n := float64(len(data)); n > budget || n < budget*(1-3*rateTolerance) {
			t.Errorf("%v bpp: %d bytes, budget %.0f (want within %.0f%% under it)", rate, len(data), budget, 300*rateTolerance)
		}
		out, _, err := Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%.3f bpp: %s widths, %d bytes, C = %.4f, PSNR %.2f dB", rate, family, len(data), c, psnr(img, out))
	}
}

func TestEncodeOptions(t *testing.T) {
	img := ridgeImage(64, 48, 3)
	if _, err := EncodeOptions(img, Options{Allocation: Allocation(7)}); err == nil || !strings.Contains(err.Error(), "allocation") {
		t.Errorf("unknown allocation: err = %v", err)
	}
	a, err := EncodeOptions(img, Options{PPI: 500})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Encode(img, 500, DefaultBitrate)
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Error("EncodeOptions with zero options differs from Encode at DefaultBitrate")
	}
	for _, o := range []Options{{Bitrate: -1}, {Bitrate: 9, Allocation: AllocMSE}} {
		if _, err := EncodeOptions(img, o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	if AllocFBI.String() != "fbi" || AllocMSE.String() != "mse" {
		t.Errorf("names %q %q", AllocFBI, AllocMSE)
	}
}

// The MSE allocation on tiny, constant and pure-noise images, at rates
// from very low to the maximum: a valid stream every time, never over
// the budget where the budget exceeds the fixed header.
func TestMSEEdgeCases(t *testing.T) {
	constant := image.NewGray(image.Rect(0, 0, 40, 30))
	for i := range constant.Pix {
		constant.Pix[i] = 77
	}
	noise := ridgeImage(64, 64, 1)
	rng := uint32(7)
	for i := range noise.Pix {
		rng = rng*1664525 + 1013904223
		noise.Pix[i] = byte(rng >> 24)
	}
	cases := []struct {
		name string
		img  *image.Gray
	}{
		{"1x1", ridgeImage(1, 1, 6)}, {"1x9", ridgeImage(1, 9, 6)}, {"3x2", ridgeImage(3, 2, 6)},
		{"17x5", ridgeImage(17, 5, 6)}, {"constant", constant}, {"noise", noise},
	}
	for _, c := range cases {
		for _, rate := range []float64{0.1, DefaultBitrate, 8} {
			data, err := EncodeMSE(c.img, 500, rate)
			if err != nil {
				t.Fatalf("%s at %v bpp: %v", c.name, rate, err)
			}
			out, _, err := Decode(data)
			if err != nil {
				t.Fatalf("%s at %v bpp: %v", c.name, rate, err)
			}
			if out.Rect.Size() != c.img.Rect.Size() {
				t.Errorf("%s decoded as %v", c.name, out.Rect)
			}
			if c.name == "noise" {
				budget := rate * 64 * 64 / 8
				t.Logf("noise at %v bpp: %d bytes (budget %.0f), PSNR %.2f dB", rate, len(data), budget, psnr(noise, out))
				// Below ~1500 bytes the fixed header (about 550 bytes)
				// and the Huffman tables take most of the budget.
				if budget > 1500 && float64(len(data)) > budget {
					t.Errorf("noise at %v bpp: %d bytes, over the budget %.0f", rate, len(data), budget)
				}
			}
		}
	}
}

// Concurrent MSE encodes (the synthesis gains are computed once, on
// first use) give the same bytes.
func TestMSEConcurrentUse(t *testing.T) {
	img := ridgeImage(120, 140, 2)
	want, err := EncodeMSE(img, 500, DefaultBitrate)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for range 3 {
				got, err := EncodeMSE(img, 500, DefaultBitrate)
				if err != nil || string(got) != string(want) {
					errs <- fmt.Errorf("concurrent EncodeMSE gave different bytes (err %v)", err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
