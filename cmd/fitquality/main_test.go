package main

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
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
