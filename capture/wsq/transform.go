package wsq

import (
	"fmt"
	"math"
)

// The analysis filters of the WSQ reference encoder: the Cohen-Daubechies-
// Feauveau 9/7 biorthogonal pair as listed in the specification (Part 1
// §A.1 and the transform table of Part 3). Both filters are symmetric, so
// only the centre tap and one side are kept: h[0] is the centre, h[i] the
// taps at ±i. The lowpass filter has 9 taps and sums to √2; the highpass
// filter has 7 taps, is centred on the odd samples and sums to 0.
var (
	specLowpass  = []float64{0.85269867900940344, 0.37740285561265380, -0.11062440441842342, -0.02384946501937986, 0.03782845550699535}
	specHighpass = []float64{0.78848561640566439, -0.41809227322221221, -0.04068941760955844, 0.06453888262893845}
)

// maxFilterHalf bounds the filters a DTT may define (taps per side, 65
// taps in all); the spec's filters have 4 and 3. Longer filters are
// refused rather than spent time on.
const maxFilterHalf = 32

// filterBank holds a symmetric odd-length analysis pair and the synthesis
// kernels derived from it.
type filterBank struct {
	lo, hi []float32 // analysis halves, centre first
	// Synthesis: output sample n is sum_d k[d] z[n-d] over the interleaved
	// subband line z (lowpass at even, highpass at odd positions). The
	// kernel depends on the parity of n; both are symmetric in d.
	keven, kodd []float32
	pad         int     // samples of symmetric extension needed per side
	dcSynth     float32 // synthesis gain for a one-sample line
}

// newFilterBank derives the synthesis filters from the analysis halves: the
// synthesis lowpass is the analysis highpass modulated by (-1)^n and the
// synthesis highpass is the analysis lowpass modulated by (-1)^n, which is
// how the spec's decoder obtains them from the DTT (Part 1 §A.1).
func newFilterBank(lo, hi []float64) (*filterBank, error) {
	if len(lo) == 0 || len(hi) == 0 || len(lo) > maxFilterHalf+1 || len(hi) > maxFilterHalf+1 {
		return nil, fmt.Errorf("filter halves of %d and %d taps are out of range", len(lo), len(hi))
	}
	for _, v := range append(append([]float64(nil), lo...), hi...) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("filter coefficient %v is not a finite number", v)
		}
	}
	r := max(len(lo), len(hi)) - 1
	fb := &filterBank{
		lo:    make([]float32, len(lo)),
		hi:    make([]float32, len(hi)),
		keven: make([]float32, r+1),
		kodd:  make([]float32, r+1),
		pad:   r + 1,
	}
	for i, v := range lo {
		fb.lo[i] = float32(v)
	}
	for i, v := range hi {
		fb.hi[i] = float32(v)
	}
	tap := func(h []float64, d int) float64 {
		if d >= len(h) {
			return 0
		}
		if d%2 == 1 {
			return -h[d]
		}
		return h[d]
	}
	var dc float64
	for d := 0; d <= r; d++ {
		g0, g1 := tap(hi, d), tap(lo, d) // synthesis lowpass, highpass
		if d%2 == 0 {
			fb.keven[d], fb.kodd[d] = float32(g0), float32(g1)
			if d == 0 {
				dc += g0
			} else {
				dc += 2 * g0
			}
		} else {
			fb.keven[d], fb.kodd[d] = float32(g1), float32(g0)
		}
	}
	fb.dcSynth = float32(dc)
	fb.keven, fb.kodd = trimZeros(fb.keven), trimZeros(fb.kodd)
	return fb, nil
}

// trimZeros drops trailing zero taps (the 9/7 pair's even-output kernel
// has 7 taps, not 9).
func trimZeros(k []float32) []float32 {
	for len(k) > 1 && k[len(k)-1] == 0 {
		k = k[:len(k)-1]
	}
	return k
}

var specFilters = func() *filterBank {
	fb, err := newFilterBank(specLowpass, specHighpass)
	if err != nil {
		panic(err)
	}
	return fb
}()

// reflect maps position m of the whole-sample symmetric extension of a
// line of n samples (x[-i] = x[i], x[n-1+i] = x[n-1-i]) back into [0, n).
func reflect(m, n int) int {
	if n <= 1 {
		return 0
	}
	period := 2 * (n - 1)
	m %= period
	if m < 0 {
		m += period
	}
	if m >= n {
		m = period - m
	}
	return m
}

// transformer holds scratch space reused across the lines and nodes of one
// transform.
type transformer struct {
	fb    *filterBank
	ext   []float32   // one extended line
	half  []float32   // the two output phases of one line
	tmp   []float32   // a copy of the region being split
	rows  [][]float32 // extended list of row slices for vertical passes
	rIdx  []int
	plane []float32
	width int
}

// newTransformer prepares a transform of plane; tmp, if it has room for
// width×height values, is used as scratch space.
func newTransformer(fb *filterBank, plane, tmp []float32, width, height int) *transformer {
	n := max(width, height)
	if cap(tmp) < width*height {
		tmp = make([]float32, 0, width*height)
	}
	return &transformer{
		fb:    fb,
		ext:   make([]float32, n+2*fb.pad),
		half:  make([]float32, n),
		tmp:   tmp[:0],
		rows:  make([][]float32, n+2*fb.pad),
		rIdx:  make([]int, n+2*fb.pad),
		plane: plane,
		width: width,
	}
}

// forward runs the analysis over all 20 nodes of g, in place.
func (t *transformer) forward(g *geometry) {
	for _, nd := range g.nodes {
		t.analyzeRows(nd.r, nd.invX)
		t.analyzeCols(nd.r, nd.invY)
	}
}

// inverse runs the synthesis over the nodes of g in reverse order, in place.
func (t *transformer) inverse(g *geometry) {
	for i := len(g.nodes) - 1; i >= 0; i-- {
		nd := g.nodes[i]
		t.synthCols(nd.r, nd.invY)
		t.synthRows(nd.r, nd.invX)
	}
}

// offsets returns where the lowpass and highpass runs of a split line of n
// samples start.
func offsets(n int, inv bool) (lOff, hOff, llen, hlen int) {
	llen, hlen = (n+1)/2, n/2
	if inv {
		return hlen, 0, llen, hlen
	}
	return 0, llen, llen, hlen
}

// convolve2 computes out[k] = sum_d h[|d|] e[j0+2k+d] for a symmetric half
// filter h: one polyphase branch of a filter, every other input sample.
// The 9/7 bank's lengths get unrolled loops.
func convolve2(out, h, e []float32, j0 int) {
	switch len(h) {
	case 5:
		c0, c1, c2, c3, c4 := h[0], h[1], h[2], h[3], h[4]
		for k := range out {
			j := j0 + 2*k
			s := e[j-4 : j+5 : j+5]
			out[k] = c0*s[4] + c1*(s[3]+s[5]) + c2*(s[2]+s[6]) + c3*(s[1]+s[7]) + c4*(s[0]+s[8])
		}
	case 4:
		c0, c1, c2, c3 := h[0], h[1], h[2], h[3]
		for k := range out {
			j := j0 + 2*k
			s := e[j-3 : j+4 : j+4]
			out[k] = c0*s[3] + c1*(s[2]+s[4]) + c2*(s[1]+s[5]) + c3*(s[0]+s[6])
		}
	default:
		for k := range out {
			j := j0 + 2*k
			v := h[0] * e[j]
			for d := 1; d < len(h); d++ {
				v += h[d] * (e[j-d] + e[j+d])
			}
			out[k] = v
		}
	}
}

func (t *transformer) analyzeRows(r rect, inv bool) {
	n := r.w
	if n == 0 || r.h == 0 {
		return
	}
	pad := t.fb.pad
	e := t.ext[:n+2*pad]
	lOff, hOff, llen, hlen := offsets(n, inv)
	lo, hi := t.fb.lo, t.fb.hi
	for y := r.y; y < r.y+r.h; y++ {
		line := t.plane[y*t.width+r.x : y*t.width+r.x+n]
		copy(e[pad:], line)
		for i := 1; i <= pad; i++ {
			e[pad-i] = line[reflect(-i, n)]
			e[pad+n-1+i] = line[reflect(n-1+i, n)]
		}
		convolve2(line[lOff:lOff+llen], lo, e, pad)
		convolve2(line[hOff:hOff+hlen], hi, e, pad+1)
	}
}

// regionRows copies region r into t.tmp and returns, for extended row
// index m in [-pad, n+pad), the copied row at reflect(m).
func (t *transformer) regionRows(r rect) [][]float32 {
	pad := t.fb.pad
	t.tmp = t.tmp[:r.w*r.h]
	for y := 0; y < r.h; y++ {
		off := (r.y+y)*t.width + r.x
		copy(t.tmp[y*r.w:(y+1)*r.w], t.plane[off:off+r.w])
	}
	rows := t.rows[:r.h+2*pad]
	for m := -pad; m < r.h+pad; m++ {
		y := reflect(m, r.h)
		rows[m+pad] = t.tmp[y*r.w : (y+1)*r.w]
	}
	return rows
}

// filterRows writes sum_d h[|d|] rows[j+d] into dst.
func filterRows(dst []float32, h []float32, rows [][]float32, j int) {
	n := len(dst)
	switch len(h) {
	case 5:
		c0, c1, c2, c3, c4 := h[0], h[1], h[2], h[3], h[4]
		r0 := rows[j][:n]
		a1, b1 := rows[j-1][:n], rows[j+1][:n]
		a2, b2 := rows[j-2][:n], rows[j+2][:n]
		a3, b3 := rows[j-3][:n], rows[j+3][:n]
		a4, b4 := rows[j-4][:n], rows[j+4][:n]
		for i := range dst {
			dst[i] = c0*r0[i] + c1*(a1[i]+b1[i]) + c2*(a2[i]+b2[i]) + c3*(a3[i]+b3[i]) + c4*(a4[i]+b4[i])
		}
	case 4:
		c0, c1, c2, c3 := h[0], h[1], h[2], h[3]
		r0 := rows[j][:n]
		a1, b1 := rows[j-1][:n], rows[j+1][:n]
		a2, b2 := rows[j-2][:n], rows[j+2][:n]
		a3, b3 := rows[j-3][:n], rows[j+3][:n]
		for i := range dst {
			dst[i] = c0*r0[i] + c1*(a1[i]+b1[i]) + c2*(a2[i]+b2[i]) + c3*(a3[i]+b3[i])
		}
	default:
		c0 := h[0]
		src := rows[j][:n]
		for i := range dst {
			dst[i] = c0 * src[i]
		}
		for d := 1; d < len(h); d++ {
			c := h[d]
			a, b := rows[j-d][:n], rows[j+d][:n]
			for i := range dst {
				dst[i] += c * (a[i] + b[i])
			}
		}
	}
}

func (t *transformer) analyzeCols(r rect, inv bool) {
	n := r.h
	if n == 0 || r.w == 0 {
		return
	}
	pad := t.fb.pad
	rows := t.regionRows(r)
	lOff, hOff, llen, hlen := offsets(n, inv)
	row := func(k int) []float32 {
		off := (r.y+k)*t.width + r.x
		return t.plane[off : off+r.w]
	}
	for k := 0; k < llen; k++ {
		filterRows(row(lOff+k), t.fb.lo, rows, pad+2*k)
	}
	for k := 0; k < hlen; k++ {
		filterRows(row(hOff+k), t.fb.hi, rows, pad+2*k+1)
	}
}

func (t *transformer) synthRows(r rect, inv bool) {
	n := r.w
	if n == 0 || r.h == 0 {
		return
	}
	pad := t.fb.pad
	z := t.ext[:n+2*pad]
	lOff, hOff, llen, hlen := offsets(n, inv)
	ke, ko := t.fb.keven, t.fb.kodd
	for y := r.y; y < r.y+r.h; y++ {
		line := t.plane[y*t.width+r.x : y*t.width+r.x+n]
		if n == 1 {
			line[0] *= t.fb.dcSynth
			continue
		}
		for k, v := range line[lOff : lOff+llen] {
			z[pad+2*k] = v
		}
		for k, v := range line[hOff : hOff+hlen] {
			z[pad+2*k+1] = v
		}
		for i := 1; i <= pad; i++ {
			z[pad-i] = z[pad+reflect(-i, n)]
			z[pad+n-1+i] = z[pad+reflect(n-1+i, n)]
		}
		even, odd := t.half[:(n+1)/2], t.half[(n+1)/2:n]
		convolve2(even, ke, z, pad)
		convolve2(odd, ko, z, pad+1)
		for k, v := range even {
			line[2*k] = v
		}
		for k, v := range odd {
			line[2*k+1] = v
		}
	}
}

func (t *transformer) synthCols(r rect, inv bool) {
	n := r.h
	if n == 0 || r.w == 0 {
		return
	}
	pad := t.fb.pad
	row := func(k int) []float32 {
		off := (r.y+k)*t.width + r.x
		return t.plane[off : off+r.w]
	}
	if n == 1 {
		dst := row(0)
		for i := range dst {
			dst[i] *= t.fb.dcSynth
		}
		return
	}
	// Copy the region, then lay its rows out in interleaved order (lowpass
	// rows at even, highpass rows at odd positions) with the symmetric
	// extension applied to that interleaved sequence.
	t.tmp = t.tmp[:r.w*r.h]
	for y := 0; y < n; y++ {
		copy(t.tmp[y*r.w:(y+1)*r.w], row(y))
	}
	lOff, hOff, _, _ := offsets(n, inv)
	src := func(p int) []float32 {
		var y int
		if p%2 == 0 {
			y = lOff + p/2
		} else {
			y = hOff + p/2
		}
		return t.tmp[y*r.w : (y+1)*r.w]
	}
	rows := t.rows[:n+2*pad]
	for m := -pad; m < n+pad; m++ {
		rows[m+pad] = src(reflect(m, n))
	}
	for p := 0; p < n; p++ {
		k := t.fb.keven
		if p%2 == 1 {
			k = t.fb.kodd
		}
		filterRows(row(p), k, rows, pad+p)
	}
}
