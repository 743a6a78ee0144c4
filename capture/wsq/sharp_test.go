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
// least-squares C), not estimated. Quantizing to other than the nearest
// bin adds at most rdoqAllowance (TestSharpPrintRDOQ). The bound plus
// that stays below 30 dB, and our codec's real files come within about
// 0.7 dB of the bound.
func TestSharpPrintBound(t *testing.T) {
	if raceEnabled {
		t.Skip("numerical bound only: slow under the race detector and free of concurrency")
	}
	for _, sp := range []sharpPrint{sharpPrints[0], sharpPrints[2]} {
		t.Run(sp.String(), func(t *testing.T) {
			img := sp.image(t)
			a := newIdealAlloc(img)
			bound, idealBytes, realBytes := idealisedPSNR(a, ratio12Rate)
			got := trip(t, img, EncodeMSE, ratio12Rate)
			t.Logf("ratio 12: idealised allocation %.2f dB (ideal entropy %d bytes; real WSQ coding of the same indices %d bytes); EncodeMSE %.2f dB at ratio %.2f",
				bound, idealBytes, realBytes, got.psnr, got.ratio)
			if bound+rdoqAllowance >= 30 {
				t.Errorf("the idealised allocation reaches %.2f dB at ratio 12 (+%.1f dB for RDOQ): the 30 dB goal may now be reachable on sharp prints; revisit the encoder and TestSharpPrints", bound, rdoqAllowance)
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

// rdoqAllowance bounds what quantizing to other than the nearest bin may
// add to TestSharpPrintBound's bound.
const rdoqAllowance = 0.3

// Rate-distortion optimised quantization (a lower index than the nearest
// bin where the bits saved outweigh the error added) is the one encoder
// freedom TestSharpPrintBound leaves out. On the sharp print it buys
// little: at the same size it stays within rdoqAllowance of the
// nearest-bin quantization of the idealised allocation (measured: 0.12
// and 0.15 dB).
func TestSharpPrintRDOQ(t *testing.T) {
	if raceEnabled {
		t.Skip("numerical bound only: slow under the race detector and free of concurrency")
	}
	a := newIdealAlloc(sharpPrints[0].image(t))
	lam := a.lambdaFor(ratio12Rate)
	// The nearest-bin curve: sizes and PSNRs around the 12:1 point.
	type point struct{ logBytes, psnr float64 }
	var curve []point
	for _, f := range []float64{0.7, 1, 1.3, 1.7, 2.2, 3} {
		Q, Z, _ := a.choose(lam * f)
		idx := a.indices(&Q, &Z)
		b, p := a.code(&idx, &Q, &Z)
		curve = append(curve, point{math.Log(float64(b)), p})
	}
	// Larger multipliers give smaller files: the curve runs from large
	// to small.
	at := func(bytes int) (float64, bool) {
		lb := math.Log(float64(bytes))
		for i := 1; i < len(curve); i++ {
			hi, lo := curve[i-1], curve[i]
			if lb <= hi.logBytes && lb >= lo.logBytes {
				return lo.psnr + (hi.psnr-lo.psnr)*(lb-lo.logBytes)/(hi.logBytes-lo.logBytes), true
			}
		}
		return 0, false
	}
	for _, f := range []float64{1, 2} {
		Q, Z, _ := a.choose(lam)
		idx := a.indices(&Q, &Z)
		a.rdoq(&idx, &Q, &Z, 0.6, lam*f)
		b, p := a.code(&idx, &Q, &Z)
		ref, ok := at(b)
		if !ok {
			t.Fatalf("RDOQ (λ×%v) file of %d bytes outside the nearest-bin curve %v", f, b, curve)
		}
		t.Logf("RDOQ λ×%v: %d bytes (ratio %.2f), %.2f dB; nearest bins at that size %.2f dB: gain %+.2f dB",
			f, b, float64(a.w*a.h)/float64(b), p, ref, p-ref)
		if p-ref > rdoqAllowance {
			t.Errorf("RDOQ gains %.2f dB at %d bytes: quantizing to the nearest bin is no longer close to the best, and TestSharpPrintBound's bound no longer covers all encoders", p-ref, b)
		}
	}
}

// idealAlloc holds one image's transform and, per subband, the
// rate-distortion points of TestSharpPrintBound's idealised allocation.
type idealAlloc struct {
	img       *image.Gray
	w, h      int
	mean, r   float64
	plane     []float32
	g         *geometry
	header    float64
	curves    [numSubbands][]rdPoint
	bandCoefs [numSubbands][]float32
}

// rdPoint is one choice for a subband: bin width q, zero bin zr·q (q = 0:
// not coded), the G_k-weighted squared error d and the ideal bits.
type rdPoint struct{ q, zr, d, bits float64 }

func newIdealAlloc(img *image.Gray) *idealAlloc {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	a := &idealAlloc{img: img, w: w, h: h}
	var sum float64
	lo, hi := 255.0, 0.0
	for y := 0; y < h; y++ {
		for _, p := range img.Pix[y*img.Stride : y*img.Stride+w] {
			sum += float64(p)
			lo, hi = math.Min(lo, float64(p)), math.Max(hi, float64(p))
		}
	}
	a.mean = sum / float64(w*h)
	a.r = math.Max(a.mean-lo, hi-a.mean) / 128
	a.plane = make([]float32, w*h)
	for y := 0; y < h; y++ {
		for x, p := range img.Pix[y*img.Stride : y*img.Stride+w] {
			a.plane[y*w+x] = float32((float64(p) - a.mean) / a.r)
		}
	}
	a.g = newGeometry(w, h)
	newTransformer(specFilters, a.plane, nil, w, h).forward(a.g)
	a.header = float64(fixedHeaderLen(500, w, h, ratio12Rate, nil))
	G := synthesisGains()
	zrs := []float64{1.0, 1.2, 1.5, 1.8, 2.2, 2.8}
	for k := 0; k < numSubbands; k++ {
		br := a.g.bands[k]
		var energy float64
		for y := br.y; y < br.y+br.h; y++ {
			for _, v := range a.plane[y*w+br.x : y*w+br.x+br.w] {
				a.bandCoefs[k] = append(a.bandCoefs[k], v)
				energy += float64(v) * float64(v)
			}
		}
		a.curves[k] = append(a.curves[k], rdPoint{d: energy * G[k]}) // not coded
		for q := 4.0; q < 200; q *= 1.07 {
			for _, zr := range zrs {
				d, bits := subbandRD(a.bandCoefs[k], float32(q), float32(q*zr), 0.6)
				a.curves[k] = append(a.curves[k], rdPoint{q, zr, d * G[k], bits})
			}
		}
	}
	return a
}

// choose picks every subband's point with the least d + lambda·bits.
func (a *idealAlloc) choose(lambda float64) (Q, Z [numSubbands]float64, bits float64) {
	for k := range a.curves {
		best := math.Inf(1)
		var pick rdPoint
		for _, p := range a.curves[k] {
			if j := p.d + lambda*p.bits; j < best {
				best, pick = j, p
			}
		}
		Q[k], Z[k] = pick.q, pick.q*pick.zr
		bits += pick.bits
	}
	return
}

// lambdaFor is the multiplier whose choice fits rate bits per pixel.
func (a *idealAlloc) lambdaFor(rate float64) float64 {
	budget := rate * float64(a.w*a.h)
	lo, hi := 1e-6, 1e4
	for i := 0; i < 60; i++ {
		m := math.Sqrt(lo * hi)
		if _, _, bits := a.choose(m); bits+8*a.header > budget {
			lo = m
		} else {
			hi = m
		}
	}
	return hi
}

// indices quantizes every subband to the nearest bins of Q, Z, in subband
// order (the order the stream codes them).
func (a *idealAlloc) indices(Q, Z *[numSubbands]float64) [numSubbands][]int32 {
	var idx [numSubbands][]int32
	for k, coef := range a.bandCoefs {
		idx[k] = make([]int32, len(coef))
		if Q[k] == 0 {
			continue
		}
		for i, v := range coef {
			idx[k][i] = quantize(v, float32(Q[k]), float32(Z[k]))
		}
	}
	return idx
}

// code returns the size real WSQ coding of idx takes (2 Huffman tables,
// 3 blocks) and the PSNR of the decoded pixels, with C fitted by least
// squares as the encoder does.
func (a *idealAlloc) code(idx *[numSubbands][]int32, Q, Z *[numSubbands]float64) (bytes int, psnrDB float64) {
	var qp quantPass
	G := synthesisGains()
	var e errStats
	for b, rng := range blockRanges {
		rc := runCoder{freq: &qp.freq[min(b, 1)]}
		for k := rng[0]; k < rng[1]; k++ {
			if Q[k] == 0 {
				continue
			}
			q, hz := Q[k], Z[k]/2
			var zero, sq, lin float64
			n := 0
			for i, p := range idx[k] {
				rc.add(p)
				v := float64(a.bandCoefs[k][i])
				if p == 0 {
					zero += v * v
					continue
				}
				d := math.Abs(v) - q*math.Abs(float64(p)) - hz
				sq += d * d
				lin += d
				n++
			}
			e.zero += G[k] * zero
			e.sq += G[k] * sq
			e.lin += G[k] * q * lin
			e.quad += G[k] * q * q * float64(n)
		}
		rc.finish()
		qp.extraBits += rc.extraBits
	}
	qp.blocks = 3
	bytes = int(a.header) + qp.estimatePayload()
	c, _ := e.bestC()

	rec := make([]float32, a.w*a.h)
	for k, br := range a.g.bands {
		if Q[k] == 0 {
			continue
		}
		i := 0
		for y := br.y; y < br.y+br.h; y++ {
			for x := br.x; x < br.x+br.w; x++ {
				rec[y*a.w+x] = dequantize(idx[k][i], float32(Q[k]), float32(Z[k]), float32(c))
				i++
			}
		}
	}
	newTransformer(specFilters, rec, nil, a.w, a.h).inverse(a.g)
	out := image.NewGray(image.Rect(0, 0, a.w, a.h))
	for i, v := range rec {
		out.Pix[i] = uint8(max(0, min(255, math.Round(float64(v)*a.r+a.mean))))
	}
	return bytes, psnr(a.img, out)
}

// idealisedPSNR carries out TestSharpPrintBound's idealised allocation at
// rate bits per pixel and returns the PSNR of its decoded pixels, its
// ideal size and the size real WSQ coding of its indices takes.
func idealisedPSNR(a *idealAlloc, rate float64) (psnrDB float64, idealBytes, realBytes int) {
	Q, Z, bits := a.choose(a.lambdaFor(rate))
	idealBytes = int(math.Ceil(bits/8 + a.header))
	idx := a.indices(&Q, &Z)
	realBytes, psnrDB = a.code(&idx, &Q, &Z)
	return psnrDB, idealBytes, realBytes
}

// rdoq lowers indices where that pays by d + lambda·bits: a ±1 between
// two zero runs becomes 0 (the runs merge), a ±2 becomes ±1. Bits are the
// ideal code lengths of each subband's own symbol counts, recounted once.
func (a *idealAlloc) rdoq(idx *[numSubbands][]int32, Q, Z *[numSubbands]float64, c, lambda float64) {
	G := synthesisGains()
	for k := range idx {
		if Q[k] == 0 {
			continue
		}
		seq := idx[k]
		q, z := float32(Q[k]), float32(Z[k])
		for range 2 {
			var freq [256]int
			rc := runCoder{freq: &freq}
			for _, p := range seq {
				rc.add(p)
			}
			rc.finish()
			total := 1
			for _, f := range freq {
				total += f
			}
			L := func(sym int) float64 { return -math.Log2(float64(max(freq[sym], 1)) / float64(total)) }
			runBits := func(n int) float64 {
				b := 0.0
				for n > 0 {
					m := min(n, 0xFFFF)
					switch {
					case m <= symMaxRun:
						b += L(m)
					case m <= 0xFF:
						b += L(symRun8) + 8
					default:
						b += L(symRun16) + 16
					}
					n -= m
				}
				return b
			}
			valBits := func(p int32) float64 {
				if p >= -directMax && p <= directMax {
					return L(int(symCoefZero + p))
				}
				return L(symPos8) + 8
			}
			last := -1 // index of the last nonzero kept
			for i, p := range seq {
				if p == 0 {
					continue
				}
				j := i + 1
				for j < len(seq) && seq[j] == 0 {
					j++
				}
				v := float64(a.bandCoefs[k][i])
				cur := v - float64(dequantize(p, q, z, float32(c)))
				switch p {
				case 1, -1:
					before, after := i-last-1, j-i-1
					dBits := runBits(before+1+after) - runBits(before) - valBits(p) - runBits(after)
					if (v*v-cur*cur)*G[k]+lambda*dBits < 0 {
						seq[i] = 0
						continue
					}
				case 2, -2:
					alt := v - float64(dequantize(p/2, q, z, float32(c)))
					if (alt*alt-cur*cur)*G[k]+lambda*(valBits(p/2)-valBits(p)) < 0 {
						seq[i] = p / 2
					}
				}
				last = i
			}
		}
	}
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
