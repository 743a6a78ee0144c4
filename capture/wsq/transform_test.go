package wsq

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The filter bank must reconstruct perfectly (up to float32 rounding) for
// every image size, odd and even, including ones so small that some
// subbands are empty.
func TestTransformPerfectReconstruction(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][2]int{{416, 560}, {33, 47}, {64, 64}, {1, 1}, {2, 3}, {5, 9}, {17, 1}, {100, 31}} {
		w, h := sz[0], sz[1]
		plane := make([]float32, w*h)
		orig := make([]float32, w*h)
		for i := range plane {
			plane[i] = float32(rng.Float64()*256 - 128)
			orig[i] = plane[i]
		}
		g := newGeometry(w, h)
		tr := newTransformer(specFilters, plane, nil, w, h)
		tr.forward(g)
		tr.inverse(g)
		var maxErr float64
		for i := range plane {
			maxErr = math.Max(maxErr, math.Abs(float64(plane[i]-orig[i])))
		}
		if maxErr > 1e-3 {
			t.Errorf("%dx%d: forward+inverse max error %g, want < 1e-3", w, h, maxErr)
		}
	}
}
