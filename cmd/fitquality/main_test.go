package main

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/openenroll/stationd/capture/finger"
)

// fit recovers a logistic model from noise-free labels.
func TestFitRecoversLogistic(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var train []sample
	for range 400 {
		var s sample
		for k := range s.x {
			s.x[k] = rng.NormFloat64()*2 + 5
		}
		z := 1.5*(s.x[0]-5)/2 - 1.0*(s.x[1]-5)/2 + 0.3
		s.Y = 100 / (1 + math.Exp(-z))
		train = append(train, s)
	}
	m := fit(train, 3000, 0)
	rmse, rho := evaluate(&m, train)
	if rmse > 1.5 || rho < 0.99 {
		t.Errorf("RMSE %.2f, Spearman %.3f on noise-free data", rmse, rho)
	}
	if m.W[0] < 1.2 || m.W[1] > -0.8 {
		t.Errorf("weights %v, want about 1.5 and -1.0", m.W[:2])
	}
	for k := 2; k < nFeat; k++ {
		if math.Abs(m.W[k]) > 0.2 {
			t.Errorf("irrelevant feature %d weight %.2f", k, m.W[k])
		}
	}
	src := generateGo(&m, 400, 1, 4, 0.5, 400, 0, 0, rmse, rho, 0, 0)
	if !bytes.Contains(src, []byte("var fitted = Model{")) || !bytes.Contains(src, []byte("DO NOT EDIT")) {
		t.Errorf("generated source:\n%s", src)
	}
}

// The ceiling: the model's form fitted to NFIQ 2's own scores by least
// squares comes closer to them in-sample than the shipped model (fitted on
// synthetic labels, the same form) does, and ranks no better held out than
// in-sample by more than noise. Rank agreement is only reported: a least
// squares fit need not rank better than another member of its family.
// Needs the shared calibration set.
func TestCeilingOnCalibrationSet(t *testing.T) {
	const dir = "../../../shared/testdata/fingerprints"
	if _, err := os.Stat(filepath.Join(dir, "calibration.csv")); err != nil {
		t.Skipf("no NFIQ 2 calibration set (%v): it lives outside the project", err)
	}
	if testing.Short() {
		t.Skip("fits eight models")
	}
	cal, err := loadCalibration(dir)
	if err != nil {
		t.Fatal(err)
	}
	var shipped, ref []float64
	shipRMSE := 0.0
	for _, c := range cal {
		shipped = append(shipped, float64(c.score))
		ref = append(ref, c.nfiq2)
		shipRMSE += (float64(c.score) - c.nfiq2) * (float64(c.score) - c.nfiq2)
	}
	shipRMSE = math.Sqrt(shipRMSE / float64(len(cal)))
	in, held, n, rmse := ceiling(cal, 2000, 1e-3)
	ship := finger.Spearman(shipped, ref)
	t.Logf("%d prints of %d sources: shipped model RMSE %.1f, Spearman %.3f; the model's form fitted to NFIQ 2: RMSE %.1f, Spearman %.3f in-sample, %.3f held out",
		len(cal), n, shipRMSE, ship, rmse, in, held)
	if rmse > shipRMSE {
		t.Errorf("fitted to NFIQ 2 itself (RMSE %.1f) is further from it than the shipped model (RMSE %.1f): the fit is broken", rmse, shipRMSE)
	}
	if held > in+0.05 {
		t.Errorf("held out (%.3f) better than in-sample (%.3f)", held, in)
	}
}
