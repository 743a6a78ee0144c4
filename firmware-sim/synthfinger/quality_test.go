package synthfinger

import (
	"fmt"
	"image"
	"math"
	"strings"
	"testing"
)

// The tests below share one finger so the master is built once.
const testID, testFinger = 5, 7

func printImp(t *testing.T, mod func(*Impression)) (*image.Gray, Label) {
	t.Helper()
	imp := GoodImpression()
	mod(&imp)
	img, lab, err := Print(testID, testFinger, imp)
	if err != nil {
		t.Fatal(err)
	}
	return img, lab
}

// orientationSimilarity is the mean of cos(2 theta_a - 2 theta_b) over the
// central 200x240 pixels: 1 for identical ridge flow, about 0 for unrelated.
func orientationSimilarity(a, b *image.Gray) float64 {
	// only the centre is compared: crop first to keep the test cheap
	crop := func(g *image.Gray) *image.Gray {
		c := image.Pt(g.Bounds().Dx()/2, g.Bounds().Dy()/2)
		return g.SubImage(image.Rect(c.X-130, c.Y-150, c.X+130, c.Y+150)).(*image.Gray)
	}
	pa, w, h := orientationField(crop(a), 8)
	pb, _, _ := orientationField(crop(b), 8)
	var s float64
	n := 0
	for y := h/2 - 120; y < h/2+120; y += 2 {
		for x := w/2 - 100; x < w/2+100; x += 2 {
			s += math.Cos(pa[y*w+x] - pb[y*w+x])
			n++
		}
	}
	return s / float64(n)
}

func TestDistinct(t *testing.T) {
	base, _ := printImp(t, func(*Impression) {})
	other := func(id uint64, f int) *image.Gray {
		img, _, err := Print(id, f, GoodImpression())
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	// The same impression with only a different noise sample is the
	// same picture.
	renoised, _ := printImp(t, func(i *Impression) { i.Noise = 5 })
	if r := correlation(base, renoised, image.Rect(108, 160, 308, 400)); r < 0.9 {
		t.Errorf("same impression plus noise: pixel correlation %.2f, want > 0.9", r)
	}
	// Another impression of the same finger (own skin distortion, noise
	// and a slight turn) keeps the same ridge flow; other fingers do not,
	// and their ridge pixels are unrelated.
	again, _ := printImp(t, func(i *Impression) { i.Seed = 99; i.Noise = 5; i.RotationDeg = 3 })
	same := orientationSimilarity(base, again)
	if same < 0.8 {
		t.Errorf("same finger, another impression: orientation similarity %.2f, want > 0.8", same)
	}
	for _, c := range []struct {
		name string
		img  *image.Gray
	}{
		{"other identity", other(testID+1, testFinger)},
		{"other finger", other(testID, testFinger+1)},
	} {
		r := correlation(base, c.img, image.Rect(108, 160, 308, 400))
		o := orientationSimilarity(base, c.img)
		t.Logf("%s: pixel correlation %.2f, orientation similarity %.2f (same finger %.2f)", c.name, r, o, same)
		if math.Abs(r) > 0.15 {
			t.Errorf("%s: pixel correlation %.2f with the base print in the centre, want about 0", c.name, r)
		}
		if o > same-0.15 {
			t.Errorf("%s: orientation similarity %.2f, too close to the same finger's %.2f", c.name, o, same)
		}
	}
}

func TestDarkRidgesAndPeriod(t *testing.T) {
	for _, sz := range [][2]int{{416, 560}, {256, 288}} {
		img, lab := printImp(t, func(i *Impression) { i.Width, i.Height = sz[0], sz[1] })
		c := image.Pt(sz[0]/2, sz[1]/2)
		// the period field varies by design (about +-10 % around the
		// finger's mean): average five windows around the centre
		var p float64
		for _, d := range []image.Point{{0, 0}, {-40, 0}, {40, 0}, {0, -50}, {0, 50}} {
			p += dominantPeriod(img, c.Add(d), 128) / 5
		}
		if p < 8 || p > 12 {
			t.Errorf("%dx%d: measured ridge period %.2f px, want 8..12", sz[0], sz[1], p)
		}
		t.Logf("%dx%d: %.2f vs %.2f", sz[0], sz[1], p, lab.RidgePeriod)
		if math.Abs(p-lab.RidgePeriod)/lab.RidgePeriod > 0.12 {
			t.Errorf("%dx%d: measured ridge period %.2f px, label says %.2f", sz[0], sz[1], p, lab.RidgePeriod)
		}
		centre := image.Rect(c.X-48, c.Y-48, c.X+48, c.Y+48)
		if f := darkFraction(img, centre); f < 0.3 || f > 0.7 {
			t.Errorf("%dx%d: %.2f of the centre is dark, want ridges and valleys about half each", sz[0], sz[1], f)
		}
		// ink: the darkest pixels are ridges, the lightest paper
		mean, sd := regionStats(img, centre)
		if sd < 60 || mean < 90 || mean > 190 {
			t.Errorf("%dx%d: centre mean %.0f sd %.0f, want high-contrast ridges", sz[0], sz[1], mean, sd)
		}
	}
	// background: the corner of a full-size print is light, empty paper
	img, _ := printImp(t, func(*Impression) {})
	if m, sd := regionStats(img, image.Rect(0, 0, 24, 24)); m < 235 || sd > 6 {
		t.Errorf("background corner mean %.0f sd %.1f, want light and flat", m, sd)
	}
}

// TestDegradationsMoveStatistics checks that each parameter changes the
// picture the way its name says, measured on the pixels alone.
func TestDegradationsMoveStatistics(t *testing.T) {
	type meas func(img *image.Gray) float64
	fg := func(img *image.Gray) float64 { return float64(foregroundBlocks(img)) }
	centre := func(img *image.Gray) image.Rectangle {
		b := img.Bounds()
		return image.Rect(b.Dx()/2-64, b.Dy()/2-64, b.Dx()/2+64, b.Dy()/2+64)
	}
	dark := func(img *image.Gray) float64 { return darkFraction(img, centre(img)) }
	corner := func(img *image.Gray) float64 {
		_, sd := regionStats(img, image.Rect(0, 0, 40, 40))
		return sd
	}
	cornerMean := func(img *image.Gray) float64 {
		m, _ := regionStats(img, image.Rect(0, 0, 416, 40))
		return m
	}
	cases := []struct {
		name       string
		levels     []float64
		set        func(*Impression, float64)
		measure    meas
		increasing bool
		small      bool // 256x288 is enough (and cheaper)
	}{
		{"blur lowers high-frequency energy", []float64{0, 1, 2, 3}, func(i *Impression, v float64) { i.Blur = v }, laplacianEnergy, false, true},
		{"contact shrinks the foreground", []float64{1, 0.7, 0.4, 0.2}, func(i *Impression, v float64) { i.Contact = v }, fg, false, false},
		{"offset pushes the finger out", []float64{0, 0.2, 0.4, 0.6}, func(i *Impression, v float64) { i.OffsetX = v }, fg, false, false},
		{"noise roughens the background", []float64{0, 10, 25, 50}, func(i *Impression, v float64) { i.Noise = v }, corner, true, false},
		{"dryness thins and breaks ridges", []float64{0, -0.3, -0.6, -1}, func(i *Impression, v float64) { i.Moisture = v }, dark, false, true},
		{"wetness thickens and merges ridges", []float64{0, 0.3, 0.6, 1}, func(i *Impression, v float64) { i.Moisture = v }, dark, true, true},
		{"pressure widens ridges", []float64{0.1, 0.3, 0.5, 0.7, 0.9}, func(i *Impression, v float64) { i.Pressure = v }, dark, true, true},
		{"dirt darkens the empty platen", []float64{0, 0.3, 0.6, 1}, func(i *Impression, v float64) { i.Dirt = v }, cornerMean, false, false},
	}
	for _, c := range cases {
		var vals []float64
		for _, lv := range c.levels {
			img, _ := printImp(t, func(i *Impression) {
				c.set(i, lv)
				if c.small {
					i.Width, i.Height = R307Width, R307Height
				}
			})
			vals = append(vals, c.measure(img))
		}
		for k := 1; k < len(vals); k++ {
			if (c.increasing && vals[k] <= vals[k-1]) || (!c.increasing && vals[k] >= vals[k-1]) {
				t.Errorf("%s: levels %v gave %s", c.name, c.levels, fmtVals(vals))
				break
			}
		}
	}
}

func fmtVals(v []float64) string {
	s := ""
	for _, x := range v {
		s += fmt.Sprintf(" %.3g", x)
	}
	return s
}

// TestLabelMonotone: with everything else fixed, making any one degradation
// worse never raises the quality label, and the worst level is clearly
// below the clean print.
func TestLabelMonotone(t *testing.T) {
	_, clean := printImp(t, func(*Impression) {})
	if clean.Quality < 90 {
		t.Fatalf("clean impression labelled %d, want >= 90", clean.Quality)
	}
	// Only contact and placement act through the visible area, which needs
	// the full frame; the other axes are checked on cheaper 256x288 images.
	axes := []struct {
		name   string
		levels []float64
		set    func(*Impression, float64)
	}{
		{"contact", []float64{1, 0.8, 0.6, 0.4, 0.2, 0.05}, func(i *Impression, v float64) { i.Contact = v }},
		{"low pressure", []float64{0.5, 0.4, 0.3, 0.2, 0.1, 0}, func(i *Impression, v float64) { i.Pressure = v }},
		{"high pressure", []float64{0.5, 0.6, 0.7, 0.8, 0.9, 1}, func(i *Impression, v float64) { i.Pressure = v }},
		{"dryness", []float64{0, -0.2, -0.4, -0.6, -0.8, -1}, func(i *Impression, v float64) { i.Moisture = v }},
		{"wetness", []float64{0, 0.2, 0.4, 0.6, 0.8, 1}, func(i *Impression, v float64) { i.Moisture = v }},
		{"blur", []float64{0, 0.5, 1, 2, 3, 5}, func(i *Impression, v float64) { i.Blur = v }},
		{"noise", []float64{0, 5, 15, 30, 60, 120}, func(i *Impression, v float64) { i.Noise = v }},
		{"offset x", []float64{0, 0.1, 0.2, 0.4, 0.6, 0.9}, func(i *Impression, v float64) { i.OffsetX = v }},
		{"offset y", []float64{0, -0.1, -0.2, -0.4, -0.6, -0.9}, func(i *Impression, v float64) { i.OffsetY = v }},
		{"dirt", []float64{0, 0.2, 0.4, 0.6, 0.8, 1}, func(i *Impression, v float64) { i.Dirt = v }},
	}
	for _, ax := range axes {
		prev := 101
		var got []int
		for _, lv := range ax.levels {
			_, lab := printImp(t, func(i *Impression) {
				ax.set(i, lv)
				if !strings.HasPrefix(ax.name, "contact") && !strings.HasPrefix(ax.name, "offset") {
					i.Width, i.Height = R307Width, R307Height
				}
			})
			got = append(got, lab.Quality)
			if lab.Quality > prev {
				t.Errorf("%s: label rose from %d to %d at level %v (labels %v)", ax.name, prev, lab.Quality, lv, got)
			}
			if lab.Quality < 0 || lab.Quality > 100 {
				t.Errorf("%s: label %d out of 0..100", ax.name, lab.Quality)
			}
			prev = lab.Quality
		}
		if got[len(got)-1] > clean.Quality-30 {
			t.Errorf("%s: worst level still labelled %d (clean %d)", ax.name, got[len(got)-1], clean.Quality)
		}
	}
}
