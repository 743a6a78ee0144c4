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

// maxFilterHalf bounds the filters a DTT may define (taps per side); the
// spec's filters have 4 and 3. A byte-sized length allows up to 127.
const maxFilterHalf = 127

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
	return fb, nil
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

// filterAt computes sum_d h[|d|] e[j+d] for a symmetric half filter h.
func filterAt(h, e []float32, j int) float32 {
	s := h[0] * e[j]
	for d := 1; d < len(h); d++ {
		s += h[d] * (e[j-d] + e[j+d])
	}
	return s
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
		for k := 0; k < llen; k++ {
			line[lOff+k] = filterAt(lo, e, pad+2*k)
		}
		for k := 0; k < hlen; k++ {
			line[hOff+k] = filterAt(hi, e, pad+2*k+1)
		}
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
	c0 := h[0]
	src := rows[j][:len(dst)]
	for i := range dst {
		dst[i] = c0 * src[i]
	}
	for d := 1; d < len(h); d++ {
		c := h[d]
		a, b := rows[j-d][:len(dst)], rows[j+d][:len(dst)]
		for i := range dst {
			dst[i] += c * (a[i] + b[i])
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
	lOff, hOff, _, _ := offsets(n, inv)
	ke, ko := t.fb.keven, t.fb.kodd
	for y := r.y; y < r.y+r.h; y++ {
		line := t.plane[y*t.width+r.x : y*t.width+r.x+n]
		if n == 1 {
			line[0] *= t.fb.dcSynth
			continue
		}
		for p := 0; p < n; p++ {
			if p%2 == 0 {
				z[pad+p] = line[lOff+p/2]
			} else {
				z[pad+p] = line[hOff+p/2]
			}
		}
		for i := 1; i <= pad; i++ {
			z[pad-i] = z[pad+reflect(-i, n)]
			z[pad+n-1+i] = z[pad+reflect(n-1+i, n)]
		}
		for p := 0; p < n; p += 2 {
			line[p] = filterAt(ke, z, pad+p)
		}
		for p := 1; p < n; p += 2 {
			line[p] = filterAt(ko, z, pad+p)
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
