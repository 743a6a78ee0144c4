package wsq

import (
	"fmt"
	"math"
)

// Even-length filter banks. The spec lets an encoder send a pair of
// even-length filters in the DTT: a symmetric lowpass and an antisymmetric
// highpass, applied with half-sample symmetric extension (x[-1-i] = x[i],
// x[n+i] = x[n-1-i]). The FBI's encoder #1 never uses them, but a decoder
// must accept them. Only decoding needs them here, so this path favours
// clarity over speed.
//
// Conventions (those of the spec's reference decoder, written here as
// correlations): both outputs of line sample pair k sit at 2k + ½,
//
//	L[k] = Σ_t a0[t]·x[2k+t], t ∈ [1-L0/2, L0/2],  a0 the lowpass,
//	H[k] = Σ_t a1[t]·x[2k+t], t ∈ [1-L1/2, L1/2],  a1 = −(the highpass),
//
// and the DTT carries the right half of each filter (the taps right of
// the centre, nearest first).

// evenBank is an even-length analysis pair and its synthesis filters.
type evenBank struct {
	a0, a1 []float64 // analysis taps; a0[i] is tap t = i + a0Min
	a0Min  int
	a1Min  int
	s0, s1 []float64 // synthesis taps (convolution form); s0[i] is t = i + s0Min
	s0Min  int
	s1Min  int
}

// newEvenBank builds the bank from the DTT's right halves.
func newEvenBank(loHalf, hiHalf []float64) (*evenBank, error) {
	n0, n1 := len(loHalf), len(hiHalf)
	if n0 == 0 || n1 == 0 || n0 > maxFilterHalf || n1 > maxFilterHalf {
		return nil, fmt.Errorf("filter halves of %d and %d taps are out of range (1-%d)", n0, n1, maxFilterHalf)
	}
	for _, v := range append(append([]float64(nil), loHalf...), hiHalf...) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("filter coefficient %v is not a finite number", v)
		}
	}
	lo := make([]float64, 2*n0) // the full filters, as an encoder holds them
	hi := make([]float64, 2*n1)
	for i := 0; i < n0; i++ {
		lo[n0+i], lo[n0-1-i] = loHalf[i], loHalf[i]
	}
	for i := 0; i < n1; i++ {
		hi[n1+i], hi[n1-1-i] = hiHalf[i], -hiHalf[i]
	}
	b := &evenBank{a0: lo, a0Min: 1 - n0, a1: make([]float64, 2*n1), a1Min: 1 - n1}
	for i, v := range hi {
		b.a1[i] = -v
	}
	// Alias cancellation: s0[t] = (-1)^t a1[1-t], s1[t] = (-1)^(t+1) a0[1-t].
	mk := func(a []float64, aMin int, sign float64) ([]float64, int) {
		sMin := 1 - (aMin + len(a) - 1)
		s := make([]float64, len(a))
		for i := range s {
			t := sMin + i
			v := a[(1-t)-aMin]
			if (t%2+2)%2 == 1 {
				v = -v
			}
			s[i] = sign * v
		}
		return s, sMin
	}
	b.s0, b.s0Min = mk(b.a1, b.a1Min, 1)
	b.s1, b.s1Min = mk(b.a0, b.a0Min, -1)
	// The remaining distortion must be a pure gain: check it on both
	// output phases and normalise it away.
	gain := 0.0
	for p := 0; p < 2; p++ {
		for d := -2 * (n0 + n1); d <= 2*(n0+n1); d++ {
			var v float64
			for k := -(n0 + n1); k <= n0+n1; k++ {
				v += tap(b.a0, b.a0Min, p-2*k)*tap(b.s0, b.s0Min, p+d-2*k) +
					tap(b.a1, b.a1Min, p-2*k)*tap(b.s1, b.s1Min, p+d-2*k)
			}
			if d == 0 {
				if p == 0 {
					gain = v
				} else if math.Abs(v-gain) > 1e-6*math.Abs(gain) {
					return nil, fmt.Errorf("filters do not reconstruct perfectly (phase gains %v and %v)", gain, v)
				}
			} else if math.Abs(v) > 1e-6*math.Max(1, math.Abs(gain)) {
				return nil, fmt.Errorf("filters do not reconstruct perfectly (distortion %v at offset %d)", v, d)
			}
		}
	}
	if math.Abs(gain) < 1e-9 {
		return nil, fmt.Errorf("filters have no passband")
	}
	for i := range b.s0 {
		b.s0[i] /= gain
	}
	for i := range b.s1 {
		b.s1[i] /= gain
	}
	return b, nil
}

func tap(a []float64, aMin, t int) float64 {
	i := t - aMin
	if i < 0 || i >= len(a) {
		return 0
	}
	return a[i]
}

// hsReflect maps a position of the half-sample symmetric extension of a
// line of n samples into [0, n).
func hsReflect(m, n int) int {
	m %= 2 * n
	if m < 0 {
		m += 2 * n
	}
	if m >= n {
		m = 2*n - 1 - m
	}
	return m
}

// analyze splits a line into its lowpass and highpass runs (used by tests
// to build even-filter streams).
func (b *evenBank) analyze(x []float64) (lo, hi []float64) {
	n := len(x)
	lo, hi = make([]float64, (n+1)/2), make([]float64, n/2)
	for k := range lo {
		for i, a := range b.a0 {
			lo[k] += a * x[hsReflect(2*k+b.a0Min+i, n)]
		}
	}
	for k := range hi {
		for i, a := range b.a1 {
			hi[k] += a * x[hsReflect(2*k+b.a1Min+i, n)]
		}
	}
	return lo, hi
}

// synthesize rebuilds a line of len(x) samples from its runs. Outside the
// line the runs continue as the analysis of the extended line would make
// them: the lowpass symmetric, the highpass antisymmetric (and zero at
// the centre of symmetry when n is odd).
func (b *evenBank) synthesize(x []float64, lo, hi []float64) {
	n := len(x)
	ext := func(k int, run []float64, anti bool) float64 {
		k0 := k % n
		if k0 < 0 {
			k0 += n
		}
		sign := 1.0
		if k0 > (n-1)/2 {
			k0 = n - 1 - k0
			if anti {
				sign = -1
			}
		}
		if k0 >= len(run) {
			return 0
		}
		return sign * run[k0]
	}
	for m := range x {
		var v float64
		// s0[m-2k] ≠ 0 needs m-2k in [s0Min, s0Min+len): k from ceil to floor.
		for k := floorDiv(m-(b.s0Min+len(b.s0)-1)+1, 2); 2*k <= m-b.s0Min; k++ {
			v += ext(k, lo, false) * tap(b.s0, b.s0Min, m-2*k)
		}
		for k := floorDiv(m-(b.s1Min+len(b.s1)-1)+1, 2); 2*k <= m-b.s1Min; k++ {
			v += ext(k, hi, true) * tap(b.s1, b.s1Min, m-2*k)
		}
		x[m] = v
	}
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// synthRegion runs the even-filter synthesis over region r of the plane:
// columns (inverted per invY), then rows (per invX).
func (b *evenBank) synthRegion(plane []float32, width int, r rect, invX, invY bool) {
	if r.w == 0 || r.h == 0 {
		return
	}
	// One set of line buffers for the whole region.
	buf := make([]float64, 2*max(r.w, r.h))
	line := func(n int, inv bool, get func(i int) float32, set func(i int, v float32)) {
		lOff, hOff, llen, _ := offsets(n, inv)
		lo, hi, x := buf[:llen], buf[llen:n], buf[n:2*n]
		for i := range lo {
			lo[i] = float64(get(lOff + i))
		}
		for i := range hi {
			hi[i] = float64(get(hOff + i))
		}
		b.synthesize(x, lo, hi)
		for i, v := range x {
			set(i, float32(v))
		}
	}
	for x := r.x; x < r.x+r.w; x++ {
		line(r.h, invY,
			func(i int) float32 { return plane[(r.y+i)*width+x] },
			func(i int, v float32) { plane[(r.y+i)*width+x] = v })
	}
	for y := r.y; y < r.y+r.h; y++ {
		row := plane[y*width+r.x : y*width+r.x+r.w]
		line(r.w, invX,
			func(i int) float32 { return row[i] },
			func(i int, v float32) { row[i] = v })
	}
}
