package wsq

import (
	"math"
	"slices"
	"sync"
)

// The MSE allocation (AllocMSE): an encoder choice the spec leaves open.
// Part 3's formula (binWidths) sets Q_k from each subband's variance with
// weights tuned for the FBI's visual and matcher tests; it does not try to
// minimise the squared error per coded byte. Here the bin widths follow
// the squared error the decoder's synthesis makes of a quantization error
// in each subband instead:
//
//   - the 9/7 synthesis is not orthonormal: a unit error on one coefficient
//     of subband k puts G_k of squared error into the image, with G_k
//     between about 0.6 and 1.6 depending on the subband's path through
//     the tree (synthesisGains). At high rates a uniform quantizer adds
//     Q²/12 of error per coefficient, and the allocation that minimises
//     the image error for a given entropy gives every subband the same
//     G_k·Q_k² (equal slopes), so Q_k = s/√G_k with one common s;
//   - the zero bin is 1.5 Q_k rather than 1.2 Q_k: measured on
//     synthfinger's sharp prints, the ink-card scans and the SFinGe
//     examples of the calibration set, 1.5 gave 0.05-0.1 dB more than 1.2
//     or 1.8 at the same size;
//   - C is fitted to the image: with the indices fixed, the error is
//     linear in C, so the C that minimises the G_k-weighted squared error
//     of all nonzero coefficients has a closed form (fitBinCenter). It
//     comes out near 0.6 on prints (reconstruction a little below the
//     middle of each bin, where a peaked distribution's mass is) and is
//     written to the DQT like any other C;
//   - s is found like EncodeFixedRate's common scale, so the file holds
//     bitrate × pixels / 8 bytes.
//
// The stream stays an ordinary WSQ stream: 3 blocks, 2 Huffman tables, the
// spec's filters, and a DQT that carries every Q_k, Z_k and C.

// mseZeroBinRatio is Z_k / Q_k of the MSE allocation (see above).
const mseZeroBinRatio = 1.5

// Bounds for a fitted C: the spec's field holds any non-negative value,
// but outside [0, 1) the reconstruction leaves the bin; such a fit means
// too few nonzero coefficients to trust, and binCenter is used.
const (
	minFittedC = 0.0
	maxFittedC = 0.99
)

var (
	gainsOnce sync.Once
	gains     [numSubbands]float64
)

// synthesisGains returns G_k for the spec's filter bank: the energy of the
// image-domain pattern that one unit coefficient of subband k synthesises
// (away from the image edges). It is the product of the energies of the
// two one-dimensional equivalent synthesis filters along the subband's
// path through the decomposition tree.
func synthesisGains() *[numSubbands]float64 {
	gainsOnce.Do(func() {
		// Synthesis lowpass: the analysis highpass modulated by (-1)^n;
		// synthesis highpass: the analysis lowpass modulated (spec Part 1
		// §A.1, as newFilterBank derives them). Only energies of cascades
		// are used, so the modulation's phase does not matter.
		full := func(half []float64) []float64 {
			n := len(half) - 1
			f := make([]float64, 2*n+1)
			for i := -n; i <= n; i++ {
				v := half[abs(i)]
				if i%2 != 0 {
					v = -v
				}
				f[i+n] = v
			}
			return f
		}
		synth := [2][]float64{full(specHighpass), full(specLowpass)} // [0] low, [1] high
		// pathEnergy: the filter g_{p0}(z)·g_{p1}(z²)·g_{p2}(z⁴)…, finest
		// split first.
		pathEnergy := func(path []int) float64 {
			f := []float64{1}
			for d, hi := range path {
				step := 1 << d
				g := synth[hi]
				out := make([]float64, len(f)+(len(g)-1)*step)
				for i, a := range f {
					for j, b := range g {
						out[i+j*step] += a * b
					}
				}
				f = out
			}
			var e float64
			for _, v := range f {
				e += v * v
			}
			return e
		}
		g := newGeometry(64, 64) // the flags, not the sizes, matter
		for k, sb := range subbandOf {
			var px, py []int // coarsest split first while walking up
			node, quad := sb.node, sb.quad
			for node >= 0 {
				nd := g.nodes[node]
				// An inverted node stores its highpass run first.
				px = append(px, b2i((quad&1 != 0) != nd.invX))
				py = append(py, b2i((quad&2 != 0) != nd.invY))
				quad = nodeParent[node].quad
				node = nodeParent[node].parent
			}
			slices.Reverse(px)
			slices.Reverse(py)
			gains[k] = pathEnergy(px) * pathEnergy(py)
		}
	})
	return &gains
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// mseBinWidths returns the MSE allocation's bin widths before the common
// scale: s0/√G_k for every subband the FBI allocation codes (the same
// variance threshold decides which are left out). s0 is the FBI widths'
// geometric mean over the coded coefficients, so the rate search starts
// close to the target.
func mseBinWidths(fbi *[numSubbands]float64) [numSubbands]float64 {
	G := synthesisGains()
	var logSum, share float64
	for k, q := range fbi {
		if q > 0 {
			logSum += subbandShare(k) * math.Log(q*math.Sqrt(G[k]))
			share += subbandShare(k)
		}
	}
	var Q [numSubbands]float64
	if share == 0 {
		return Q
	}
	s0 := math.Exp(logSum / share)
	for k, q := range fbi {
		if q > 0 {
			Q[k] = s0 / math.Sqrt(G[k])
		}
	}
	return Q
}

// fitBinCenter returns the C that minimises the G_k-weighted squared
// coefficient error of the quantization with widths qv, zv. For p ≠ 0 the
// error is |v| - Q·|p| - Z/2 + C·Q, so the least-squares C is
// -Σ G_k Q_k a / Σ G_k Q_k² over the nonzero coefficients, a being the
// error at C = 0. Falls back to binCenter if the fit is outside
// [minFittedC, maxFittedC].
func fitBinCenter(plane []float32, g *geometry, qv, zv *[numSubbands]float32) float64 {
	G := synthesisGains()
	w := g.width
	var num, den float64
	for k := 0; k < numSubbands; k++ {
		q, z := qv[k], zv[k]
		if q == 0 {
			continue
		}
		hz := z / 2
		var sa float64
		var n int
		for y := g.bands[k].y; y < g.bands[k].y+g.bands[k].h; y++ {
			br := g.bands[k]
			for _, v := range plane[y*w+br.x : y*w+br.x+br.w] {
				a := v
				if a < 0 {
					a = -a
				}
				if a <= hz {
					continue
				}
				p := quantize(a, q, z)
				sa += float64(a - q*float32(p) - hz)
				n++
			}
		}
		num += G[k] * float64(q) * sa
		den += G[k] * float64(q) * float64(q) * float64(n)
	}
	if den == 0 {
		return binCenter
	}
	c := -num / den
	if !(c >= minFittedC && c <= maxFittedC) {
		return binCenter
	}
	return c
}
