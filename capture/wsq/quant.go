package wsq

import (
	"math"
)

// Quantizer constants of FBI encoder #1 (spec Part 3).
const (
	// binCenter is C of FBI encoder #1. The decoder reconstructs index
	// p > 0 at (p - C)·Q + Z/2 (spec Part 1 §B), so bin 1, which spans
	// [Z/2, Z/2 + Q), is reconstructed (1 - C)·Q = 0.56·Q above its inner
	// edge. C is a DQT field: an encoder may choose another value.
	binCenter = 0.44
	// zeroBinRatio is Z_k / Q_k: the zero bin is 1.2 times as wide as the
	// other bins.
	zeroBinRatio = 1.2
	// varianceThreshold: subbands whose variance is below it are not
	// transmitted at all (Q_k = 0).
	varianceThreshold = 1.01
	// fullVarianceSum: if the variances of subbands 0-3, taken over their
	// central crops, sum to less than this, every subband's variance is
	// taken over the whole subband instead (the reference encoder's rule
	// for images with little low-frequency content).
	fullVarianceSum = 20000.0
	// maxCoefficient is the largest quantized magnitude the Huffman escape
	// categories can carry (16 bits).
	maxCoefficient = 65535
)

// subbandWeight is A_k of the bit allocation (spec Part 3): 1 except for
// the eight subbands of the first-level HL and LH bands.
func subbandWeight(k int) float64 {
	switch k {
	case 52, 56:
		return 1.32
	case 53, 55, 58, 59:
		return 1.08
	case 54, 57:
		return 1.42
	}
	return 1
}

// subbandShare is 1/m_k of the spec: the fraction of the image's samples
// that subband k holds (1/1024 for subbands 0-3, 1/256 for 4-50, 1/16 for
// 51-59).
func subbandShare(k int) float64 {
	switch {
	case k < 4:
		return 1.0 / 1024
	case k < 51:
		return 1.0 / 256
	}
	return 1.0 / 16
}

// bandVariance is the unbiased variance of the coefficients in r, or of its
// central crop (horizontally the middle 3/4, vertically 7/16 of the rows
// starting 9/32 down: the region where a print's ridges are, per spec
// Part 3) when crop is set.
func bandVariance(plane []float32, width int, r rect, crop bool) float64 {
	x0, y0, w, h := r.x, r.y, r.w, r.h
	if crop {
		x0 += r.w / 8
		y0 += 9 * r.h / 32
		w = 3 * r.w / 4
		h = 7 * r.h / 16
	}
	n := w * h
	if n < 2 {
		return 0
	}
	var sum, ssq float64
	for y := y0; y < y0+h; y++ {
		row := plane[y*width+x0 : y*width+x0+w]
		var s, q float32
		for _, v := range row {
			s += v
			q += v * v
		}
		sum += float64(s)
		ssq += float64(q)
	}
	return (ssq - sum*sum/float64(n)) / float64(n-1)
}

// variances computes the 60 subband variances as the reference encoder
// does: over central crops, falling back to whole subbands for images
// whose low bands carry little energy.
func variances(plane []float32, g *geometry) [numSubbands]float64 {
	var v [numSubbands]float64
	var lowSum float64
	for k := 0; k < 4; k++ {
		v[k] = bandVariance(plane, g.width, g.bands[k], true)
		lowSum += v[k]
	}
	crop := lowSum >= fullVarianceSum
	start := 4
	if !crop {
		start = 0
	}
	for k := start; k < numSubbands; k++ {
		v[k] = bandVariance(plane, g.width, g.bands[k], crop)
	}
	return v
}

// binWidths runs the bit allocation of FBI encoder #1 (spec Part 3): it
// returns Q_k for a target rate of bitrate bits per pixel, 0 for subbands
// that are not transmitted.
//
// Relative widths are Q'_k = 1 for k < 4 and 10/(A_k ln σ²_k) otherwise.
// With S = Σ m_k and P = Π (σ_k/Q'_k)^(m_k) over the subbands K that get a
// positive rate, the proportionality constant is
// q = 2^(r/S - 1) / (2.5 P^(1/S)) and Q_k = Q'_k / q. A subband whose
// Q_k ≥ 5σ_k would get a non-positive rate, leaves K, and q is
// recomputed until K is stable.
func binWidths(v [numSubbands]float64, bitrate float64) [numSubbands]float64 {
	var rel, sigma [numSubbands]float64
	var inK, coded [numSubbands]bool
	for k := range v {
		if v[k] < varianceThreshold {
			continue
		}
		coded[k], inK[k] = true, true
		sigma[k] = math.Sqrt(v[k])
		if k < 4 {
			rel[k] = 1
		} else {
			rel[k] = 10 / (subbandWeight(k) * math.Log(v[k]))
		}
	}
	var q float64
	for {
		var s, logP float64
		for k := range v {
			if inK[k] {
				s += subbandShare(k)
				logP += subbandShare(k) * math.Log(sigma[k]/rel[k])
			}
		}
		if s == 0 {
			break
		}
		q = math.Pow(2, bitrate/s-1) / 2.5 / math.Exp(logP/s)
		removed := false
		for k := range v {
			if inK[k] && rel[k]/q >= 5*sigma[k] {
				inK[k] = false
				removed = true
			}
		}
		if !removed {
			break
		}
	}
	var Q [numSubbands]float64
	for k := range v {
		// Subbands dropped from K for a non-positive rate are still coded
		// with the last q, as the reference encoder does; only those
		// under the variance threshold are left out.
		if coded[k] && q > 0 {
			Q[k] = rel[k] / q
		}
	}
	return Q
}

// quantize maps coefficient v to its bin index with bin width q and zero
// bin width z (spec Part 1 §B: dead-zone uniform quantizer).
func quantize(v, q, z float32) int32 {
	return quantizeInv(v, z/2, 1/q)
}

// quantizeInv is quantize with the half zero bin hz = z/2 and the inverse
// bin width iq = 1/q given, for loops over a subband (a multiplication
// instead of a division per coefficient; an encoder may place the rare
// coefficient that falls within rounding of a bin edge in either bin).
func quantizeInv(v, hz, iq float32) int32 {
	switch {
	case v > hz:
		p := int64((v-hz)*iq) + 1
		return int32(min(p, maxCoefficient))
	case v < -hz:
		p := int64((-v-hz)*iq) + 1
		return -int32(min(p, maxCoefficient))
	}
	return 0
}

// dequantize is the decoder's reconstruction of bin p (spec Part 1 §B).
func dequantize(p int32, q, z, c float32) float32 {
	switch {
	case p > 0:
		return q*(float32(p)-c) + z/2
	case p < 0:
		return q*(float32(p)+c) - z/2
	}
	return 0
}

// scaled is a number as the WSQ headers store it: an integer and a
// decimal exponent, value = n / 10^e.
type scaled struct {
	e uint8
	n uint32
}

func (s scaled) value() float64 {
	v := float64(s.n)
	for i := uint8(0); i < s.e; i++ {
		v /= 10
	}
	return v
}

// toScaled finds the representation of v ≥ 0 with the most decimal digits
// such that the integer stays below limit (65535 for 16-bit fields,
// 2^32-1 for the DTT's 32-bit fields), as the reference encoder writes it.
// Values at or above limit are clamped.
func toScaled(v float64, limit float64) scaled {
	if !(v > 0) {
		return scaled{}
	}
	if v >= limit {
		return scaled{n: uint32(limit)}
	}
	e := 0
	for v*math.Pow(10, float64(e+1)) < limit && e < 255 {
		e++
	}
	n := math.Round(v * math.Pow(10, float64(e)))
	if n > limit {
		n = limit
	}
	return scaled{e: uint8(e), n: uint32(n)}
}
