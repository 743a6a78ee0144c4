package wsq

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/openenroll/stationd/capture/finger"
)

// sharedPrints is the project's calibration set of fingerprints (NIST's
// SFinGe examples and scanned ink-card prints), present on developer
// machines but not in CI or in this repository.
const sharedPrints = "../../../shared/testdata/fingerprints"

// On real-looking prints the codec must give the usual WSQ compression at
// 0.75 bpp and leave the finger-quality score within qualityTolerance.
func TestSharedPrints(t *testing.T) {
	// Two SFinGe prints and one ink-card scan keep the test short under
	// the race detector.
	var files []string
	for _, src := range []string{"SFinGe_Test01", "SFinGe_Test03", "b001_04p"} {
		name := filepath.Join(sharedPrints, src+"__orig_none.png")
		if _, err := os.Stat(name); err == nil {
			files = append(files, name)
		}
	}
	if len(files) == 0 {
		t.Skipf("no calibration prints at %s (the shared folder is not on this machine)", sharedPrints)
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		im, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		img, ok := im.(*image.Gray)
		if !ok {
			t.Fatalf("%s: %T, want 8-bit grey", name, im)
		}
		orig, err := finger.Assess(img, 500)
		if err != nil {
			t.Fatal(err)
		}
		var psnrs [2]float64
		for i, rate := range []float64{0.75, 2.25} {
			rt := codeAndDecode(t, img, rate)
			psnrs[i] = rt.psnr
			got, err := finger.Assess(rt.decoded, 500)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: quality %d -> %d", filepath.Base(name), orig.Score, got.Score)
			if d := got.Score - orig.Score; d > qualityTolerance || d < -qualityTolerance {
				t.Errorf("%s at %.2f bpp: quality %d, original %d (tolerance %d)", filepath.Base(name), rate, got.Score, orig.Score, qualityTolerance)
			}
			if rate == 0.75 && rt.ratio < 11.5 {
				t.Errorf("%s: ratio %.1f at 0.75 bpp, want ≥ 11.5", filepath.Base(name), rt.ratio)
			}
		}
		if psnrs[1] < psnrs[0]+3 || psnrs[0] < 22 {
			t.Errorf("%s: PSNR %.2f dB at 0.75 bpp, %.2f at 2.25", filepath.Base(name), psnrs[0], psnrs[1])
		}
	}
}
