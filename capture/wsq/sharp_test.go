package wsq

import (
	"fmt"
	"image"
	"math"
	"testing"

	"github.com/openenroll/stationd/firmware-sim/synthfinger"
)

// The goal is ratio ≥ 12 with PSNR ≥ 30 dB on synthetic prints.
// The scanner-like print meets it (TestRoundTripSynthfinger). The prints
// the simulated scanner actually sends, synthfinger's GoodImpression with
// perfectly sharp, almost binary ridges, do not, with any allocation a WSQ
// encoder can make: TestSharpPrintBound shows that even an idealised
// allocation stays under 30 dB at ratio 12. These tests hold the codec to
// what it reaches on them instead: ratio ≥ 12 with at least minPSNR12 dB
// (measured value less 0.3 dB), and the MSE allocation ahead of the FBI
// allocation at the same budget.

// ratio12Rate is the bit rate of a 12:1 file.
const ratio12Rate = 8.0 / 12

type sharpPrint struct {
	identity  uint64
	finger    int
	seed      uint64
	minPSNR12 float64 // EncodeMSE at ratio ≥ 12
}

// sharpPrints: two impressions of one finger (the master print is shared,
// so the second costs little) and two other fingers.
var sharpPrints = []sharpPrint{
	{1, 2, 1, 28.35}, // measured 28.67 dB (FBI allocation at the same size: 28.42)
	{1, 2, 2, 28.5},  // measured 28.79 (28.60)
	{2, 1, 1, 25.6},  // measured 25.91 (25.65)
	{3, 7, 1, 27.7},  // measured 28.02 (27.74)
}

func (s sharpPrint) String() string {
	return fmt.Sprintf("identity %d finger %d seed %d", s.identity, s.finger, s.seed)
}

func (s sharpPrint) image(tb testing.TB) *image.Gray {
	imp := synthfinger.GoodImpression()
	imp.Seed = s.seed
	if s.identity == 1 && s.finger == 2 {
		return synthPrint(tb, imp)
	}
	if testing.Short() {
		tb.Skip("-short: synthfinger needs seconds to grow a master print")
	}
	img, _, err := synthfinger.Print(s.identity, s.finger, imp)
	if err != nil {
		tb.Fatalf("synthfinger: %v", err)
	}
	return img
}

// trip encodes with enc at rate and decodes.
func trip(t *testing.T, img *image.Gray, enc func(*image.Gray, int, float64) ([]byte, error), rate float64) roundTrip {
	t.Helper()
	data, err := enc(img, 500, rate)
	if err != nil {
		t.Fatalf("encode at %v bpp: %v", rate, err)
	}
	out, _, err := Decode(data)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	n := img.Rect.Dx() * img.Rect.Dy()
	return roundTrip{bytes: len(data), ratio: float64(n) / float64(len(data)), psnr: psnr(img, out), decoded: out}
}

func TestSharpPrints(t *testing.T) {
	prints := sharpPrints
	if raceEnabled {
		// Rendering prints takes seconds under the race detector; the
		// plain test run covers the other seed and fingers.
		prints = prints[:1]
	}
	for _, sp := range prints {
		t.Run(sp.String(), func(t *testing.T) {
			img := sp.image(t)
			mse12 := trip(t, img, EncodeMSE, ratio12Rate)
			fbi12 := trip(t, img, EncodeFixedRate, ratio12Rate)
			mse := [2]roundTrip{trip(t, img, EncodeMSE, 0.75), trip(t, img, EncodeMSE, 2.25)}
			plain := [2]roundTrip{trip(t, img, Encode, 0.75), trip(t, img, Encode, 2.25)}
			for i, rate := range []float64{0.75, 2.25} {
				t.Logf("%.2f bpp: Encode (FBI) ratio %.2f (%.3f bpp) %.2f dB; EncodeMSE ratio %.2f (%.3f bpp) %.2f dB",
					rate, plain[i].ratio, 8/plain[i].ratio, plain[i].psnr, mse[i].ratio, 8/mse[i].ratio, mse[i].psnr)
			}
			t.Logf("ratio 12 budget: EncodeMSE ratio %.2f %.2f dB, EncodeFixedRate ratio %.2f %.2f dB (issue goal 30 dB: not reachable, see TestSharpPrintBound)",
				mse12.ratio, mse12.psnr, fbi12.ratio, fbi12.psnr)
			if mse12.ratio < 12 {
				t.Errorf("EncodeMSE at %.3f bpp: ratio %.2f, want ≥ 12", ratio12Rate, mse12.ratio)
			}
			if mse12.psnr < sp.minPSNR12 {
				t.Errorf("EncodeMSE at ratio %.2f: %.2f dB, want ≥ %.2f", mse12.ratio, mse12.psnr, sp.minPSNR12)
			}
			// At no more bytes, the MSE allocation must beat the FBI
			// allocation's PSNR (measured: by 0.2-0.3 dB).
			if mse12.bytes > fbi12.bytes*102/100 || mse12.psnr < fbi12.psnr+0.1 {
				t.Errorf("ratio 12: MSE allocation %.2f dB in %d bytes, FBI allocation %.2f dB in %d", mse12.psnr, mse12.bytes, fbi12.psnr, fbi12.bytes)
			}
			if mse[0].ratio < 8/0.75 || mse[1].ratio < 8/2.25 {
				t.Errorf("EncodeMSE over budget: ratio %.2f at 0.75 bpp, %.2f at 2.25", mse[0].ratio, mse[1].ratio)
			}
			if mse[1].psnr < mse[0].psnr+4 {
				t.Errorf("EncodeMSE: %.2f dB at 2.25 bpp not clearly above %.2f at 0.75", mse[1].psnr, mse[0].psnr)
			}
		})
	}
}

// TestSharpPrintBound estimates the best PSNR any WSQ encoder that
// quantizes each coefficient to its nearest bin could reach at ratio 12 on
// the sharp prints, under assumptions that all favour the encoder:
//
//   - every subband gets its own Q_k and Z_k, chosen from a fine grid by a
//     Lagrangian rate-distortion optimisation (the spec allows any);
//   - the rate is the zeroth-order entropy of each subband's own WSQ
//     symbol stream (run lengths, values, escapes with their extra bits):
//     as if every subband had its own perfectly matched Huffman table
//     with fractional code lengths, and no DHT or SOB bytes. No prefix
//     code with one table per subband can do better, and the format
//     allows only eight tables in three blocks;
//   - the header counts only SOI, COM, DTT, DQT, SOF and EOI.
//
// The PSNR of that allocation is measured on the decoded pixels (with the
// least-squares C of fitBinCenter), not estimated. The bound is below
// 30 dB, and our codec's real files come within about 0.7 dB of it.
// (Quantizing to other than the nearest bin, rate-distortion optimised
// quantization, was tried as well: zeroing isolated ±1 indices where the
// run merge pays gained under 0.1 dB at the same size.)
func TestSharpPrintBound(t *testing.T) {
	if raceEnabled {
		t.Skip("numerical bound only: slow under the race detector and free of concurrency")
	}
	for _, sp := range []sharpPrint{sharpPrints[0], sharpPrints[2]} {
		t.Run(sp.String(), func(t *testing.T) {
			img := sp.image(t)
			bound, idealBytes, realBytes := idealisedPSNR(img, ratio12Rate)
			got := trip(t, img, EncodeMSE, ratio12Rate)
			t.Logf("ratio 12: idealised allocation %.2f dB (ideal entropy %d bytes; real WSQ coding of the same indices %d bytes); EncodeMSE %.2f dB at ratio %.2f",
				bound, idealBytes, realBytes, got.psnr, got.ratio)
			if bound >= 30 {
				t.Errorf("the idealised allocation reaches %.2f dB at ratio 12: the 30 dB goal may now be reachable on sharp prints; revisit the encoder and TestSharpPrints", bound)
			}
			if got.psnr > bound+0.1 {
				t.Errorf("EncodeMSE %.2f dB beats the idealised bound %.2f dB: the bound is wrong", got.psnr, bound)
			}
			if got.psnr < bound-1 {
				t.Errorf("EncodeMSE %.2f dB, more than 1 dB under the idealised bound %.2f dB", got.psnr, bound)
			}
		})
	}
}

// idealisedPSNR carries out TestSharpPrintBound's idealised allocation at
// rate bits per pixel and returns the PSNR of its decoded pixels, its
// ideal size and the size real WSQ coding of its indices takes.
func idealisedPSNR(img *image.Gray, rate float64) (psnrDB float64, idealBytes, realBytes int) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	var sum float64
	for y := 0; y < h; y++ {
		for _, p := range img.Pix[y*img.Stride : y*img.Stride+w] {
			sum += float64(p)
		}
	}
	mean := sum / float64(w*h)
	lo, hi := 255.0, 0.0
	for y := 0; y < h; y++ {
		for _, p := range img.Pix[y*img.Stride : y*img.Stride+w] {
			lo, hi = math.Min(lo, float64(p)), math.Max(hi, float64(p))
		}
	}
	r := math.Max(mean-lo, hi-mean) / 128
	plane := make([]float32, w*h)
	for y := 0; y < h; y++ {
		for x, p := range img.Pix[y*img.Stride : y*img.Stride+w] {
			plane[y*w+x] = float32((float64(p) - mean) / r)
		}
	}
	g := newGeometry(w, h)
	newTransformer(specFilters, plane, nil, w, h).forward(g)
	G := synthesisGains()

	type point struct{ q, zr, d, bits float64 }
	var zrs = []float64{1.0, 1.2, 1.5, 1.8, 2.2, 2.8}
	var curves [numSubbands][]point
	for k := 0; k < numSubbands; k++ {
		br := g.bands[k]
		coef := make([]float32, 0, br.w*br.h)
		var energy float64
		for y := br.y; y < br.y+br.h; y++ {
			for _, v := range plane[y*w+br.x : y*w+br.x+br.w] {
				coef = append(coef, v)
				energy += float64(v) * float64(v)
			}
		}
		curves[k] = append(curves[k], point{d: energy * G[k]}) // not coded
		for q := 4.0; q < 200; q *= 1.07 {
			for _, zr := range zrs {
				d, bits := subbandRD(coef, float32(q), float32(q*zr), 0.6)
				curves[k] = append(curves[k], point{q, zr, d * G[k], bits})
			}
		}
	}
	choose := func(lambda float64) (Q, Z [numSubbands]float64, bits float64) {
		for k := range curves {
			best := math.Inf(1)
			var pick point
			for _, p := range curves[k] {
				if j := p.d + lambda*p.bits; j < best {
					best, pick = j, p
				}
			}
			Q[k], Z[k] = pick.q, pick.q*pick.zr
			bits += pick.bits
		}
		return
	}
	header := float64(fixedHeaderLen(500, w, h, rate, nil))
	budget := rate * float64(w*h)
	lamLo, lamHi := 1e-6, 1e4
	for i := 0; i < 60; i++ {
		m := math.Sqrt(lamLo * lamHi)
		if _, _, bits := choose(m); bits+8*header > budget {
			lamLo = m
		} else {
			lamHi = m
		}
	}
	Q, Z, bits := choose(lamHi)
	idealBytes = int(math.Ceil(bits/8 + header))

	var qp quantPass
	for k := range Q {
		if Q[k] > 0 {
			qp.qv[k], qp.zv[k] = float32(Q[k]), float32(Z[k])
		}
	}
	c := float32(fitBinCenter(plane, g, &qp.qv, &qp.zv))
	rec := make([]float32, w*h)
	var freq [2][256]int
	extra := 0
	for b, rng := range blockRanges {
		rc := runCoder{freq: &freq[min(b, 1)]}
		for k := rng[0]; k < rng[1]; k++ {
			if Q[k] == 0 {
				continue
			}
			br := g.bands[k]
			for y := br.y; y < br.y+br.h; y++ {
				for x := br.x; x < br.x+br.w; x++ {
					p := quantize(plane[y*w+x], qp.qv[k], qp.zv[k])
					rc.add(p)
					rec[y*w+x] = dequantize(p, qp.qv[k], qp.zv[k], c)
				}
			}
		}
		rc.finish()
		extra += rc.extraBits
	}
	qp.freq, qp.extraBits, qp.blocks = freq, extra, 3
	realBytes = int(header) + qp.estimatePayload()

	newTransformer(specFilters, rec, nil, w, h).inverse(g)
	out := image.NewGray(image.Rect(0, 0, w, h))
	for i, v := range rec {
		out.Pix[i] = uint8(max(0, min(255, math.Round(float64(v)*r+mean))))
	}
	return psnr(img, out), idealBytes, realBytes
}

// subbandRD quantizes one subband's coefficients with bin width q, zero
// bin z and reconstruction parameter c, and returns the squared error and
// the zeroth-order entropy in bits of the WSQ symbols that code them
// (plus the escapes' extra bits), the run of zeros ending at the subband.
func subbandRD(coef []float32, q, z, c float32) (se, bits float64) {
	var freq [256]int
	extra, total := 0, 0
	run := 0
	emit := func(sym int, nbits int) {
		freq[sym]++
		extra += nbits
		total++
	}
	flush := func() {
		for run > 0 {
			n := min(run, 0xFFFF)
			switch {
			case n <= symMaxRun:
				emit(n, 0)
			case n <= 0xFF:
				emit(symRun8, 8)
			default:
				emit(symRun16, 16)
			}
			run -= n
		}
	}
	for _, v := range coef {
		p := quantize(v, q, z)
		d := float64(v - dequantize(p, q, z, c))
		se += d * d
		if p == 0 {
			run++
			continue
		}
		flush()
		switch a := max(p, -p); {
		case a <= directMax:
			emit(int(symCoefZero+p), 0)
		case a <= 0xFF && p > 0:
			emit(symPos8, 8)
		case a <= 0xFF:
			emit(symNeg8, 8)
		case p > 0:
			emit(symPos16, 16)
		default:
			emit(symNeg16, 16)
		}
	}
	flush()
	bits = float64(extra)
	for _, f := range freq {
		if f > 0 {
			bits -= float64(f) * math.Log2(float64(f)/float64(total))
		}
	}
	return se, bits
}
