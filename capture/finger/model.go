package finger

import "math"

// nFeat is the length of the model's feature vector.
const nFeat = 7

// FeatureNames names the entries of the model's feature vector, in order.
var FeatureNames = [nFeat]string{
	"ridge_area", "ofl_ridge", "lcs_best", "fda_best", "ocl_best",
	"ridge_ratio_dev", "minutiae_density",
}

// Vector returns the model inputs for f. The set was chosen among the
// variants tried on cached measurements (cmd/fitquality -cache) for
// agreement with the synthetic labels of both impression styles (live
// scans and ink cards; validation Spearman about 0.85 for all the good
// variants) and, as a check only, with NFIQ 2 on the shared calibration
// set, where it did best:
//
//   - grey-level contrast and brightness (NFIQ 2's Mu and MMB) are
//     measured and used for the reasons but left out of the score: they
//     follow the sensor or the ink more than the print;
//   - clarity (LCS, FDA, OCL) is the mean over the best half of the
//     blocks and orientation flow is taken between ridge-like blocks only,
//     so that card text, ink spatter, smudges and the print's margin do
//     not count as the print; how much of the foreground does carry clear
//     ridges enters through the ridge area: foreground area times the
//     ridge-like share, relative to fullContactPixels and capped at 1, the
//     same saturation as the labels' usable area. The foreground's share of
//     the image is left out: a small sensor's window filled by the finger
//     holds less of it than a large platen does, and the score must not
//     depend on the frame around the finger;
//   - the ridge/valley width ratio enters as its distance from 1 (log);
//   - densities are clipped, so that one extreme value cannot dominate.
func Vector(f *Features) [nFeat]float64 {
	return [nFeat]float64{
		math.Min(f.RidgeFraction*float64(f.ForegroundPixels)/fullContactPixels, 1),
		f.OFLRidge,
		f.LCSBest,
		f.FDABest,
		f.OCLBest,
		math.Abs(math.Log(f.RidgeRatio + 0.05)),
		math.Min(f.MinutiaeDensity, 40) / 10,
	}
}

// fullContactPixels is the contact area, in pixels at 500 ppi, at which a
// print's area counts as whole: about 300 mm², a whole flat fingertip. It is
// synthfinger.FullContactArea, the saturation of the training labels'
// usable area (a test checks that the two agree).
const fullContactPixels = 120000

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
