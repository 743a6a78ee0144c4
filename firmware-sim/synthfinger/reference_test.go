package synthfinger

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// referenceDir holds the project's calibration prints, which are not
// redistributable and therefore never committed; CI does not have them.
const referenceDir = "../../../shared/testdata/fingerprints"

type printStats struct {
	fg          int     // 16x16 foreground blocks
	period      float64 // ridge period at the centre, px
	dark        float64 // dark fraction at the centre
	lap         float64 // high-frequency energy
	centreSD    float64
	centreMean  float64
	cornerMean  float64
	description string
}

func measure(name string, g *image.Gray) printStats {
	c := image.Pt(g.Bounds().Dx()/2, g.Bounds().Dy()/2)
	box := image.Rect(c.X-48, c.Y-48, c.X+48, c.Y+48)
	m, sd := regionStats(g, box)
	var p float64
	for _, d := range []image.Point{{0, 0}, {-40, 0}, {40, 0}, {0, -50}, {0, 50}} {
		p += dominantPeriod(g, c.Add(d), 128) / 5
	}
	return printStats{fg: foregroundBlocks(g), period: p, dark: darkFraction(g, box),
		lap: laplacianEnergy(g), centreSD: sd, centreMean: m, description: name}
}

// TestLooksLikeSFinGeReference compares clean synthetic prints with the
// three original SFinGe prints NIST ships with NFIQ 2 (416x560, 500 ppi):
// ridge period, ridge/valley balance, contrast, sharpness and how much of
// the frame the finger fills must fall within a loose envelope of theirs.
func TestLooksLikeSFinGeReference(t *testing.T) {
	var refs []printStats
	for _, n := range []string{"SFinGe_Test01", "SFinGe_Test02", "SFinGe_Test03"} {
		f, err := os.Open(filepath.Join(referenceDir, n+"__orig_none.png"))
		if err != nil {
			t.Skipf("reference prints not available (%v); they live outside the repository", err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		g, ok := img.(*image.Gray)
		if !ok {
			t.Fatalf("%s: not 8-bit grey", n)
		}
		refs = append(refs, measure(n, g))
	}
	lo, hi := refs[0], refs[0]
	for _, r := range refs[1:] {
		lo.fg, hi.fg = min(lo.fg, r.fg), max(hi.fg, r.fg)
		lo.period, hi.period = min(lo.period, r.period), max(hi.period, r.period)
		lo.dark, hi.dark = min(lo.dark, r.dark), max(hi.dark, r.dark)
		lo.lap, hi.lap = min(lo.lap, r.lap), max(hi.lap, r.lap)
		lo.centreSD, hi.centreSD = min(lo.centreSD, r.centreSD), max(hi.centreSD, r.centreSD)
	}
	t.Logf("reference envelope: fg %d..%d period %.2f..%.2f dark %.2f..%.2f lap %.0f..%.0f sd %.0f..%.0f",
		lo.fg, hi.fg, lo.period, hi.period, lo.dark, hi.dark, lo.lap, hi.lap, lo.centreSD, hi.centreSD)
	for _, id := range []uint64{testID, testID + 1} {
		img, _, err := Print(id, testFinger, GoodImpression())
		if err != nil {
			t.Fatal(err)
		}
		s := measure("synthetic", img)
		t.Logf("identity %d: fg %d period %.2f dark %.2f lap %.0f sd %.0f", id, s.fg, s.period, s.dark, s.lap, s.centreSD)
		if s.period < lo.period-1.5 || s.period > hi.period+1.5 {
			t.Errorf("identity %d: ridge period %.2f outside the references' %.2f..%.2f (+-1.5)", id, s.period, lo.period, hi.period)
		}
		if s.dark < lo.dark-0.1 || s.dark > hi.dark+0.1 {
			t.Errorf("identity %d: dark fraction %.2f outside %.2f..%.2f (+-0.1)", id, s.dark, lo.dark, hi.dark)
		}
		if s.lap < lo.lap/2 || s.lap > hi.lap*2 {
			t.Errorf("identity %d: high-frequency energy %.0f outside %.0f..%.0f (x/2)", id, s.lap, lo.lap, hi.lap)
		}
		if s.centreSD < lo.centreSD*0.75 || s.centreSD > hi.centreSD*1.3 {
			t.Errorf("identity %d: centre contrast (sd) %.0f outside %.0f..%.0f", id, s.centreSD, lo.centreSD, hi.centreSD)
		}
		if float64(s.fg) < 0.65*float64(lo.fg) {
			t.Errorf("identity %d: finger fills %d blocks, references %d..%d", id, s.fg, lo.fg, hi.fg)
		}
	}
}
