package finger

import (
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
