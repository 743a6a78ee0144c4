package finger

import (
	"image"
	"slices"
	"testing"

	"github.com/openenroll/stationd/firmware-sim/synthfinger"
)

// Each single degradation of a synthetic impression brings its reason; a
// good impression brings none.
func TestReasonsOnSyntheticPrints(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*synthfinger.Impression)
		want Reason // "" = no reason at all
	}{
		{"good", func(i *synthfinger.Impression) {}, ""},
		{"dry", func(i *synthfinger.Impression) { i.Moisture = -0.8 }, TooDry},
		{"wet", func(i *synthfinger.Impression) { i.Moisture = 0.8 }, TooWet},
		{"light pressure", func(i *synthfinger.Impression) { i.Pressure = 0.1 }, PressHarder},
		{"small contact", func(i *synthfinger.Impression) { i.Contact = 0.3 }, PressHarder},
		{"off centre", func(i *synthfinger.Impression) { i.OffsetX, i.OffsetY = 0.35, 0.2 }, MoveToCentre},
		{"dirty platen", func(i *synthfinger.Impression) { i.Dirt = 0.9 }, CleanPlaten},
	}
	fingers := []int{2, 7}
	if testing.Short() || raceEnabled {
		fingers = fingers[:1]
	}
	for _, c := range cases {
		for _, fi := range fingers {
			imp := synthfinger.GoodImpression()
			imp.Seed = uint64(fi)
			c.mod(&imp)
			img, lab, err := synthfinger.Print(11, fi, imp)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Assess(img, StandardPPI)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Fingerprint {
				t.Errorf("%s finger %d: rejected: %s", c.name, fi, res.Rejection)
				continue
			}
			if c.want == "" {
				if len(res.Reasons) != 0 {
					t.Errorf("%s finger %d (label %d): reasons %v, want none", c.name, fi, lab.Quality, res.Reasons)
				}
				continue
			}
			if !slices.Contains(res.Reasons, c.want) {
				t.Errorf("%s finger %d (label %d): reasons %v, want %q", c.name, fi, lab.Quality, res.Reasons, c.want)
			}
		}
	}
}

// The score follows the label on a handful of impressions of one finger,
// each degraded further than the last.
func TestScoreFallsWithDegradation(t *testing.T) {
	steps := []func(*synthfinger.Impression){
		func(i *synthfinger.Impression) {},
		func(i *synthfinger.Impression) { i.Noise = 30; i.Moisture = -0.4 },
		func(i *synthfinger.Impression) { i.Noise = 50; i.Moisture = -0.7; i.Blur = 1.5 },
		func(i *synthfinger.Impression) { i.Noise = 60; i.Moisture = -0.9; i.Blur = 2.5; i.Contact = 0.3 },
	}
	prev := 101
	for k, mod := range steps {
		imp := synthfinger.GoodImpression()
		mod(&imp)
		img, lab, err := synthfinger.Print(5, 3, imp)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Assess(img, StandardPPI)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("step %d: label %d score %d fingerprint %v %s", k, lab.Quality, res.Score, res.Fingerprint, res.Rejection)
		if res.Score >= prev && res.Score != 0 {
			t.Errorf("step %d: score %d not below the previous %d (label %d)", k, res.Score, prev, lab.Quality)
		}
		prev = res.Score
	}
}

// Each rule of reasons() on hand-made feature values around its threshold.
func TestReasonRules(t *testing.T) {
	good := Features{Width: 416, Height: 560, ForegroundFraction: 0.6, ForegroundPixels: 140000,
		Contrast: 80, MeanBlockMean: 150, LCS: 0.85, RidgeRatio: 1, MinutiaeDensity: 4,
		CentreOffset: 0.02, Aspect: 0.75, DirtyBackground: 0.02}
	if r := reasons(&good); len(r) != 0 {
		t.Fatalf("good print: %v", r)
	}
	cases := []struct {
		name string
		mod  func(*Features)
		want Reason
	}{
		{"small area", func(f *Features) { f.ForegroundPixels = 40000; f.ForegroundFraction = 0.17 }, PressHarder},
		{"faint", func(f *Features) { f.Contrast = 15 }, PressHarder},
		{"pale, unbroken", func(f *Features) { f.MeanBlockMean = 200; f.MinutiaeDensity = 3 }, PressHarder},
		{"pale, broken", func(f *Features) { f.MeanBlockMean = 200; f.MinutiaeDensity = 9 }, TooDry},
		{"thin ridges", func(f *Features) { f.RidgeRatio = 0.6 }, TooDry},
		{"fat ridges", func(f *Features) { f.RidgeRatio = 1.4 }, TooWet},
		{"dark", func(f *Features) { f.MeanBlockMean = 80 }, TooWet},
		{"off centre", func(f *Features) { f.CentreOffset = 0.3 }, MoveToCentre},
		{"rolled", func(f *Features) { f.Aspect = 1.6 }, RollLess},
		{"dirty", func(f *Features) { f.DirtyBackground = 0.3 }, CleanPlaten},
	}
	for _, c := range cases {
		f := good
		c.mod(&f)
		r := reasons(&f)
		if len(r) != 1 || r[0] != c.want {
			t.Errorf("%s: %v, want [%s]", c.name, r, c.want)
		}
	}
	// A small sensor fully covered is not "rolled" and not off-centre.
	small := good
	small.Width, small.Height, small.ForegroundPixels, small.ForegroundFraction, small.Aspect = 256, 288, 73728, 1, 0.9
	if r := reasons(&small); len(r) != 0 {
		t.Errorf("full small sensor: %v", r)
	}
}

// The same print scanned at 1000 ppi scores about as at 500 ppi.
func TestScoreAtOtherResolution(t *testing.T) {
	img, _, err := synthfinger.Print(11, 2, synthfinger.GoodImpression())
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	big := image.NewGray(image.Rect(0, 0, 2*b.Dx(), 2*b.Dy()))
	for y := 0; y < big.Rect.Dy(); y++ {
		for x := 0; x < big.Rect.Dx(); x++ {
			big.Pix[y*big.Stride+x] = img.Pix[(y/2)*img.Stride+x/2]
		}
	}
	r500, err1 := Assess(img, 500)
	r1000, err2 := Assess(big, 1000)
	if err1 != nil || err2 != nil || !r500.Fingerprint || !r1000.Fingerprint {
		t.Fatalf("%v %v %s %s", err1, err2, r500.Rejection, r1000.Rejection)
	}
	if d := r500.Score - r1000.Score; d > 8 || d < -8 {
		t.Errorf("score %d at 500 ppi, %d at 1000 ppi", r500.Score, r1000.Score)
	}
	if r1000.Features.Width != b.Dx() || r1000.Mask.Cols != r500.Mask.Cols {
		t.Errorf("1000 ppi image not brought to 500 ppi: %dx%d, mask %d cols", r1000.Features.Width, r1000.Features.Height, r1000.Mask.Cols)
	}
}

// The model's area saturation is the training labels' one.
func TestFullContactMatchesLabels(t *testing.T) {
	if fullContactPixels != synthfinger.FullContactArea {
		t.Errorf("fullContactPixels %d, synthfinger.FullContactArea %d: the score's area term would saturate elsewhere than the labels it was fitted to",
			fullContactPixels, synthfinger.FullContactArea)
	}
}
