package synthfinger

import (
	"bytes"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

func mustPrint(t testing.TB, id uint64, finger int, imp Impression) ([]byte, Label) {
	t.Helper()
	img, lab, err := Print(id, finger, imp)
	if err != nil {
		t.Fatalf("Print(%d, %d): %v", id, finger, err)
	}
	if img.Bounds().Dx() != imp.Width || img.Bounds().Dy() != imp.Height {
		t.Fatalf("image size %v, want %dx%d", img.Bounds(), imp.Width, imp.Height)
	}
	return img.Pix, lab
}

func TestDeterministic(t *testing.T) {
	imp := GoodImpression()
	imp.Noise, imp.Dirt, imp.Moisture, imp.Seed = 10, 0.3, -0.4, 42
	a, la := mustPrint(t, 11, 3, imp)
	masters.purge() // rebuild the master from scratch
	b, lb := mustPrint(t, 11, 3, imp)
	if !bytes.Equal(a, b) {
		t.Fatal("same identity, finger and impression gave different bytes")
	}
	if la.Quality != lb.Quality || la.Class != lb.Class {
		t.Fatalf("labels differ: %+v vs %+v", la, lb)
	}
}

func TestInvalidInput(t *testing.T) {
	bad := []struct {
		name   string
		finger int
		mod    func(*Impression)
		want   string
	}{
		{"finger 0", 0, func(*Impression) {}, "finger position 0"},
		{"finger 11", 11, func(*Impression) {}, "finger position 11"},
		{"tiny", 1, func(i *Impression) { i.Width = 8 }, "image size"},
		{"huge", 1, func(i *Impression) { i.Height = 100000 }, "image size"},
		{"nan blur", 1, func(i *Impression) { i.Blur = math.NaN() }, "Blur"},
		{"contact>1", 1, func(i *Impression) { i.Contact = 1.5 }, "Contact"},
		{"moisture", 1, func(i *Impression) { i.Moisture = -2 }, "Moisture"},
	}
	for _, c := range bad {
		imp := GoodImpression()
		c.mod(&imp)
		_, _, err := Print(1, c.finger, imp)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want mention of %q", c.name, err, c.want)
		}
	}
}

func TestRandomImpressionValid(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		imp := RandomImpression(rng)
		if err := imp.validate(); err != nil {
			t.Fatalf("RandomImpression gave an invalid impression: %v", err)
		}
	}
}

func TestValueNoiseStats(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n := newValueNoise(rng, 600, 600, 12)
	var s, s2 float64
	var below int
	z := valueNoiseStd * zOf(0.2)
	cnt := 0
	for y := 0; y < 600; y += 3 {
		for x := 0; x < 600; x += 3 {
			v := n.at(float64(x)+0.3, float64(y)+0.7)
			s += v
			s2 += v * v
			if v < z {
				below++
			}
			cnt++
		}
	}
	mean := s / float64(cnt)
	std := math.Sqrt(s2/float64(cnt) - mean*mean)
	if math.Abs(std-valueNoiseStd) > 0.12 {
		t.Errorf("value noise std %.3f, constant valueNoiseStd says %.3f", std, valueNoiseStd)
	}
	if f := float64(below) / float64(cnt); math.Abs(f-0.2) > 0.06 {
		t.Errorf("fraction below the 20%% threshold is %.3f", f)
	}
}

// classExamples finds, for finger 2, the first identity of each class.
func classExamples(t testing.TB) map[string]uint64 {
	t.Helper()
	ex := map[string]uint64{}
	for id := uint64(1); len(ex) < 5 && id < 5000; id++ {
		c, err := ClassOf(id, 2)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := ex[c]; !ok {
			ex[c] = id
		}
	}
	if len(ex) < 5 {
		t.Fatalf("only found classes %v", ex)
	}
	return ex
}

func TestClassSingularPoints(t *testing.T) {
	want := map[string][2]int{
		ClassArch: {0, 0}, ClassTentedArch: {1, 1},
		ClassLeftLoop: {1, 1}, ClassRightLoop: {1, 1}, ClassWhorl: {2, 2},
	}
	for class, id := range classExamples(t) {
		imp := GoodImpression()
		// the default frame: a clean plain impression shows all of them
		img, lab, err := Print(id, 2, imp)
		if err != nil {
			t.Fatal(err)
		}
		if lab.Class != class {
			t.Fatalf("identity %d: Print says class %s, ClassOf said %s", id, lab.Class, class)
		}
		if len(lab.Cores) != want[class][0] || len(lab.Deltas) != want[class][1] {
			t.Errorf("%s: %d cores, %d deltas; want %v", class, len(lab.Cores), len(lab.Deltas), want[class])
		}
		switch class {
		case ClassLeftLoop: // ridges enter and leave on the left, delta on the right
			if lab.Deltas[0].X <= lab.Cores[0].X {
				t.Errorf("left loop with delta %v left of core %v", lab.Deltas[0], lab.Cores[0])
			}
		case ClassRightLoop:
			if lab.Deltas[0].X >= lab.Cores[0].X {
				t.Errorf("right loop with delta %v right of core %v", lab.Deltas[0], lab.Cores[0])
			}
		}
		for _, d := range lab.Deltas {
			if d.Y <= lab.Cores[0].Y {
				t.Errorf("%s: delta %v above core %v", class, d, lab.Cores[0])
			}
		}
		// The picture itself must show the singularities the label claims:
		// the Poincare index of the measured orientation field is +1/2
		// around a core and -1/2 around a delta; around a whorl's pair of
		// cores it is +1; an arch has none near the centre.
		phi, w, h := orientationField(img, 6)
		check := func(what string, c image.Point, r, want float64) {
			t.Helper()
			idx, ok := poincare(phi, w, h, c, r)
			if !ok {
				t.Errorf("%s: %s circle at %v r=%v leaves the image", class, what, c, r)
				return
			}
			if math.Abs(idx-want) > 0.25 {
				t.Errorf("%s (identity %d): Poincare index around %s %v = %.2f, want %.1f", class, id, what, c, idx, want)
			}
		}
		switch class {
		case ClassWhorl:
			a, b := lab.Cores[0], lab.Cores[1]
			mid := image.Pt((a.X+b.X)/2, (a.Y+b.Y)/2)
			d := math.Hypot(float64(a.X-b.X), float64(a.Y-b.Y))
			check("whorl centre", mid, d/2+22, 1)
		case ClassArch:
			check("centre", image.Pt(w/2, h/2), 40, 0)
		default:
			check("core", lab.Cores[0], 20, 0.5)
		}
		for _, d := range lab.Deltas {
			check("delta", d, 20, -0.5)
		}
	}
}

func TestKernelPeriodCorrection(t *testing.T) {
	for _, T := range []float64{7, 9, 11, 13} {
		kp := kernelPeriod(T)
		if kp <= T || kp > 1.6*T {
			t.Errorf("kernelPeriod(%v) = %v, want a little longer than %v", T, kp, T)
		}
	}
}

func TestClassFrequencies(t *testing.T) {
	const n = 3000
	count := map[int]map[string]int{}
	total := map[string]int{}
	for f := 1; f <= 10; f++ {
		count[f] = map[string]int{}
		for id := uint64(0); id < n; id++ {
			c, err := ClassOf(id, f)
			if err != nil {
				t.Fatal(err)
			}
			count[f][c]++
			total[c]++
		}
	}
	frac := func(c string) float64 { return float64(total[c]) / (10 * n) }
	// natural distribution (SFinGe's "natural" option): A 3.7, T 2.9,
	// L 33.8, R 31.7, W 27.9 %
	if l := frac(ClassLeftLoop) + frac(ClassRightLoop); l < 0.55 || l > 0.75 {
		t.Errorf("loops %.3f of all fingers, want about 0.65", l)
	}
	if w := frac(ClassWhorl); w < 0.2 || w > 0.4 {
		t.Errorf("whorls %.3f, want about 0.28", w)
	}
	if a := frac(ClassArch) + frac(ClassTentedArch); a < 0.03 || a > 0.12 {
		t.Errorf("arches %.3f, want about 0.066", a)
	}
	// per finger: thumbs whorl more than little fingers; index fingers
	// carry the most arches; ulnar loops dominate each hand's loops.
	if count[1][ClassWhorl] <= 2*count[5][ClassWhorl] {
		t.Errorf("right thumb whorls %d vs right little %d", count[1][ClassWhorl], count[5][ClassWhorl])
	}
	if count[2][ClassArch] <= count[3][ClassArch] {
		t.Errorf("index arches %d vs middle %d", count[2][ClassArch], count[3][ClassArch])
	}
	for f := 1; f <= 10; f++ {
		ulnar, radial := ClassRightLoop, ClassLeftLoop
		if f > 5 {
			ulnar, radial = radial, ulnar
		}
		if count[f][ulnar] <= 2*count[f][radial] {
			t.Errorf("finger %d: %d ulnar vs %d radial loops", f, count[f][ulnar], count[f][radial])
		}
	}
}

func TestMasterCacheLRU(t *testing.T) {
	built := 0
	c := newMasterCache(2, func(id uint64, f int) *master {
		built++
		return &master{class: fmt.Sprint(id, f)}
	})
	a := c.get(1, 1)
	if c.get(1, 1) != a || built != 1 {
		t.Fatalf("second get rebuilt the master (built %d)", built)
	}
	c.get(2, 1)
	c.get(1, 1) // (1,1) most recent, (2,1) least
	c.get(3, 1) // evicts (2,1)
	if built != 3 {
		t.Fatalf("built %d, want 3", built)
	}
	c.get(1, 1)
	if built != 3 {
		t.Fatal("recently used entry was evicted")
	}
	c.get(2, 1)
	if built != 4 {
		t.Fatal("least recently used entry was not evicted")
	}
	if c.order.Len() != 2 || len(c.byKey) != 2 {
		t.Fatalf("cache holds %d/%d entries, capacity 2", c.order.Len(), len(c.byKey))
	}
}

func TestConcurrentPrint(t *testing.T) {
	imp := GoodImpression()
	imp.Width, imp.Height = R307Width, R307Height
	want, _ := mustPrint(t, testID, testFinger, imp)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			img, _, err := Print(testID, testFinger, imp)
			if err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(img.Pix, want) {
				errs <- fmt.Errorf("concurrent Print gave different bytes")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
