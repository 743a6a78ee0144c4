package synthfinger

import (
	"bytes"
	"strings"
	"testing"
)

// TestInkCard checks the opt-in ink-card style: off-white card where the
// live scan has white background, near-black ridges, the same finger and
// the same geometry (labels of cores and deltas), a label lowered only by
// the documented ink factor, and deterministic bytes.
func TestInkCard(t *testing.T) {
	live := GoodImpression()
	live.Seed = 5
	ink := live
	ink.Ink = 1
	a, la := mustPrint(t, 21, 2, live)
	b, lb := mustPrint(t, 21, 2, ink)
	b2, _ := mustPrint(t, 21, 2, ink)
	if !bytes.Equal(b, b2) {
		t.Fatal("ink impression not deterministic")
	}
	if bytes.Equal(a, b) {
		t.Fatal("Ink = 1 left the image unchanged")
	}
	if la.Class != lb.Class || len(la.Cores) != len(lb.Cores) || len(la.Deltas) != len(lb.Deltas) {
		t.Errorf("ink changed the finger: %+v vs %+v", la, lb)
	}
	if want := la.Clarity * (1 - 0.15); lb.Clarity < want-1e-9 || lb.Clarity > want+1e-9 {
		t.Errorf("ink clarity %.4f, want %.4f (live %.4f times 0.85)", lb.Clarity, want, la.Clarity)
	}
	if lb.Usable != la.Usable {
		t.Errorf("ink changed the usable area: %.3f vs %.3f", lb.Usable, la.Usable)
	}
	// Background: a 24x24 corner patch (outside the finger in both).
	corner := func(p []byte) float64 {
		var s float64
		for y := 0; y < 24; y++ {
			for x := DefaultWidth - 24; x < DefaultWidth; x++ {
				s += float64(p[(DefaultHeight-1-y)*DefaultWidth+x])
			}
		}
		return s / (24 * 24)
	}
	if ca, cb := corner(a), corner(b); ca < 245 || cb > 242 || cb < 215 {
		t.Errorf("corner grey: live %.1f (want >= 245), ink %.1f (want card stock 215..242)", ca, cb)
	}
	// Ridges: the darkest percent of the centre is darker on the card.
	dark := func(p []byte) int {
		var hist [256]int
		for y := DefaultHeight/2 - 60; y < DefaultHeight/2+60; y++ {
			for x := DefaultWidth/2 - 60; x < DefaultWidth/2+60; x++ {
				hist[p[y*DefaultWidth+x]]++
			}
		}
		n := 0
		for v := range hist {
			n += hist[v]
			if n >= 120*120/100 {
				return v
			}
		}
		return 255
	}
	if da, db := dark(a), dark(b); db >= da {
		t.Errorf("darkest percent: live %d, ink %d: ink should be darker", da, db)
	}
}

func TestInkOutOfRange(t *testing.T) {
	for _, v := range []float64{-0.1, 1.5} {
		imp := GoodImpression()
		imp.Ink = v
		if _, _, err := Print(1, 1, imp); err == nil || !strings.Contains(err.Error(), "Ink") {
			t.Errorf("Ink %v: err = %v, want a range error naming Ink", v, err)
		}
	}
}
