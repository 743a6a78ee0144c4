package wsq

import (
	"image"
	"sync"
	"testing"

	"github.com/openenroll/stationd/capture/finger"
	"github.com/openenroll/stationd/firmware-sim/synthfinger"
)

// scannerImpression is synthfinger's good impression as a real optical
// scanner delivers it: a little optical blur (σ = 1 px at 500 ppi) and
// sensor noise. synthfinger's GoodImpression itself has perfectly sharp,
// almost binary ridges, which carry more energy in the finest diagonal
// band than any scanned print (see TestSharpPrintCeiling).
func scannerImpression(w, h int) synthfinger.Impression {
	imp := synthfinger.GoodImpression()
	imp.Width, imp.Height = w, h
	imp.Blur = 1
	imp.Noise = 3
	return imp
}

var (
	printMu    sync.Mutex
	printCache = map[synthfinger.Impression]*image.Gray{}
)

// synthPrint returns synthfinger's print of finger 2 of identity 1.
func synthPrint(tb testing.TB, imp synthfinger.Impression) *image.Gray {
	tb.Helper()
	if testing.Short() {
		tb.Skip("-short: synthfinger needs seconds to grow a master print")
	}
	printMu.Lock()
	defer printMu.Unlock()
	if img, ok := printCache[imp]; ok {
		return img
	}
	img, _, err := synthfinger.Print(1, 2, imp)
	if err != nil {
		tb.Fatalf("synthfinger: %v", err)
	}
	printCache[imp] = img
	return img
}

type roundTrip struct {
	bytes   int
	ratio   float64
	psnr    float64
	decoded *image.Gray
}

func codeAndDecode(t *testing.T, img *image.Gray, rate float64) roundTrip {
	t.Helper()
	data, err := Encode(img, 500, rate)
	if err != nil {
		t.Fatalf("encode at %v bpp: %v", rate, err)
	}
	out, ppi, err := Decode(data)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if ppi != 500 {
		t.Errorf("ppi = %d, want 500", ppi)
	}
	if out.Rect.Size() != img.Rect.Size() {
		t.Fatalf("decoded size %v, want %v", out.Rect.Size(), img.Rect.Size())
	}
	n := img.Rect.Dx() * img.Rect.Dy()
	rt := roundTrip{bytes: len(data), ratio: float64(n) / float64(len(data)), psnr: psnr(img, out), decoded: out}
	t.Logf("%v at %.2f bpp: %d bytes, ratio %.1f (%.3f bpp actual), PSNR %.2f dB",
		img.Rect.Size(), rate, rt.bytes, rt.ratio, 8/rt.ratio, rt.psnr)
	return rt
}

// Goals of the issue: ratio ≥ 12 at 0.75 bpp with PSNR ≥ 30 dB on
// synthetic prints; 2.25 bpp must be clearly better.
func checkGoals(t *testing.T, img *image.Gray) {
	lo := codeAndDecode(t, img, 0.75)
	hi := codeAndDecode(t, img, 2.25)
	if lo.ratio < 12 {
		t.Errorf("ratio %.1f at 0.75 bpp, want ≥ 12", lo.ratio)
	}
	if lo.psnr < 30 {
		t.Errorf("PSNR %.2f dB at 0.75 bpp, want ≥ 30", lo.psnr)
	}
	if hi.psnr < lo.psnr+3 || hi.ratio >= lo.ratio {
		t.Errorf("2.25 bpp (%.2f dB, ratio %.1f) not clearly better than 0.75 bpp (%.2f dB, ratio %.1f)",
			hi.psnr, hi.ratio, lo.psnr, lo.ratio)
	}
}

func TestRoundTripSynthfinger(t *testing.T) {
	checkGoals(t, synthPrint(t, scannerImpression(synthfinger.DefaultWidth, synthfinger.DefaultHeight)))
}

func TestRoundTripRidges(t *testing.T) {
	// 800x750 is covered by the benchmarks, which report ratio and PSNR.
	checkGoals(t, ridgeImage(416, 560, 7))
}

// WSQ never transmits subbands 60-63 (the first level's diagonal band),
// so no bit rate can beat the PSNR of simply dropping them. For
// synthfinger's unblurred GoodImpression that ceiling is below 30 dB; the
// codec must still compress it at ratio ≥ 12 and approach the ceiling as
// the rate grows.
func TestSharpPrintCeiling(t *testing.T) {
	img := synthPrint(t, synthfinger.GoodImpression())
	w, h := img.Rect.Dx(), img.Rect.Dy()
	plane := make([]float32, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			plane[y*w+x] = float32(img.Pix[y*img.Stride+x])
		}
	}
	g := newGeometry(w, h)
	tr := newTransformer(specFilters, plane, nil, w, h)
	tr.forward(g)
	for y := (h + 1) / 2; y < h; y++ {
		for x := (w + 1) / 2; x < w; x++ {
			plane[y*w+x] = 0
		}
	}
	tr.inverse(g)
	ceil := image.NewGray(image.Rect(0, 0, w, h))
	for i, v := range plane {
		ceil.Pix[i] = uint8(max(0, min(255, v+0.5)))
	}
	ceiling := psnr(img, ceil)
	t.Logf("PSNR ceiling without subbands 60-63: %.2f dB", ceiling)
	lo := codeAndDecode(t, img, 0.75)
	hi := codeAndDecode(t, img, 2.25)
	if lo.ratio < 12 {
		t.Errorf("ratio %.1f at 0.75 bpp, want ≥ 12", lo.ratio)
	}
	// Within 4 dB of the ceiling at 2.25 bpp: the spec's bit allocation
	// undershoots its target rate on sharp prints (about 1.4 bpp actual;
	// EncodeFixedRate spends the full budget, see TestFixedRateSynthfinger).
	if hi.psnr > ceiling+0.2 || hi.psnr < ceiling-4 || lo.psnr < hi.psnr-8 || lo.psnr >= hi.psnr {
		t.Errorf("PSNR %.2f (0.75) / %.2f (2.25) dB against a ceiling of %.2f dB", lo.psnr, hi.psnr, ceiling)
	}
}

// The finger-quality score must survive compression: the decoded image's
// score stays within qualityTolerance points (of 0-100) of the original's.
const qualityTolerance = 5

func TestQualityScoreSurvives(t *testing.T) {
	img := synthPrint(t, scannerImpression(synthfinger.DefaultWidth, synthfinger.DefaultHeight))
	orig, err := finger.Assess(img, 500)
	if err != nil {
		t.Fatal(err)
	}
	for _, rate := range []float64{0.75, 2.25} {
		rt := codeAndDecode(t, img, rate)
		got, err := finger.Assess(rt.decoded, 500)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("quality at %.2f bpp: %d (original %d)", rate, got.Score, orig.Score)
		if got.Score < orig.Score-qualityTolerance || got.Score > orig.Score+qualityTolerance {
			t.Errorf("quality %d after WSQ at %.2f bpp, original %d (tolerance %d)", got.Score, rate, orig.Score, qualityTolerance)
		}
	}
}
