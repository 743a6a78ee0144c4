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

// The ceiling: the model's form fitted to NFIQ 2's own scores agrees with
// them at least as well in-sample as the shipped model (fitted on
// synthetic labels) does, and no better held out than in-sample by more
// than noise. Needs the shared calibration set.
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
	for _, c := range cal {
		shipped = append(shipped, float64(c.score))
		ref = append(ref, c.nfiq2)
	}
	in, held, n := ceiling(cal, 2000, 1e-3)
	ship := finger.Spearman(shipped, ref)
	t.Logf("%d prints of %d sources: shipped model %.3f; the model's form fitted to NFIQ 2: %.3f in-sample, %.3f held out", len(cal), n, ship, in, held)
	if in < ship-0.01 {
		t.Errorf("fitted to NFIQ 2 itself (%.3f) agrees less than the shipped model (%.3f): the fit is broken", in, ship)
	}
	if held > in+0.05 {
		t.Errorf("held out (%.3f) better than in-sample (%.3f)", held, in)
	}
}
