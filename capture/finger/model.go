package finger

import "math"

// nFeat is the length of the model's feature vector.
const nFeat = 12

// FeatureNames names the entries of the model's feature vector, in order.
var FeatureNames = [nFeat]string{
	"fg_fraction", "fg_area", "contrast", "mmb", "ocl", "coherence",
	"ofl", "lcs", "fda", "rvu", "ridge_fraction", "minutiae_centre",
}

// Vector returns the model inputs for f. Counts and areas enter as logs and
// are clipped, so that one extreme value cannot dominate the score.
func Vector(f *Features) [nFeat]float64 {
	return [nFeat]float64{
		f.ForegroundFraction,
		math.Log1p(float64(f.ForegroundPixels) / 1e4),
		math.Min(f.Contrast, 100) / 100,
		f.MeanBlockMean / 255,
		f.OCL,
		f.Coherence,
		f.OFL,
		f.LCS,
		f.FDA,
		math.Min(f.RVU, 2),
		f.RidgeFraction,
		math.Log1p(float64(f.MinutiaeCentre)),
	}
}

// Model is a logistic model: score = 100 / (1 + exp(-(Bias + Σ W_i (x_i -
// Mean_i) / Scale_i))).
type Model struct {
	Mean, Scale, W [nFeat]float64
	Bias           float64
}

// Predict returns the model's 0-100 score for the feature vector x.
func (m *Model) Predict(x [nFeat]float64) float64 {
	z := m.Bias
	for i := range x {
		s := m.Scale[i]
		if s == 0 {
			continue
		}
		z += m.W[i] * (x[i] - m.Mean[i]) / s
	}
	p := 100 / (1 + math.Exp(-z))
	if math.IsNaN(p) {
		return 0
	}
	return p
}

func score(f *Features) int {
	s := int(math.Round(fitted.Predict(Vector(f))))
	return min(max(s, 0), 100)
}
