package wsq

import (
	"math"
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
	if testing.Short() {
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
