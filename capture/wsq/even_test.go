package wsq

import (
	"math"
	"math/rand/v2"
	"testing"
)

// An even-length biorthogonal pair (8 and 8 taps) of the kind the spec
// allows in a DTT: right halves, nearest the centre first.
var (
	even8Lo = []float64{0.85269867900940344, -0.09789296778409587, -0.12335584105275092, 0.07565691101399093}
	even8Hi = []float64{-0.60328894481393847, 0.18870142780632693, 0.05261415011924844, -0.03226944131446922}
)

func TestEvenBankPerfectReconstruction(t *testing.T) {
	b, err := newEvenBank(even8Lo, even8Hi)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 2; n <= 40; n++ {
		x := make([]float64, n)
		for i := range x {
			x[i] = rng.Float64()*200 - 100
		}
		lo, hi := b.analyze(x)
		y := make([]float64, n)
		b.synthesize(y, lo, hi)
		for i := range x {
			if math.Abs(x[i]-y[i]) > 1e-6 {
				t.Fatalf("n=%d: sample %d reconstructs as %v, was %v", n, i, y[i], x[i])
			}
		}
	}
}

// evenAnalysis decomposes a plane with an even-length bank over the same
// 20-node tree, so tests can write WSQ streams that use even filters.
func evenAnalysis(b *evenBank) *analysisBank {
	lo := append([]float64(nil), b.a0[len(b.a0)/2:]...)
	hi := make([]float64, len(b.a1)/2)
	for i := range hi {
		hi[i] = -b.a1[len(b.a1)/2+i]
	}
	return &analysisBank{
		lo: lo, hi: hi,
		forward: func(plane []float32, g *geometry) {
			w := g.width
			split := func(n int, inv bool, get func(int) float32, set func(int, float32)) {
				x := make([]float64, n)
				for i := range x {
					x[i] = float64(get(i))
				}
				l, h := b.analyze(x)
				lOff, hOff, _, _ := offsets(n, inv)
				for i, v := range l {
					set(lOff+i, float32(v))
				}
				for i, v := range h {
					set(hOff+i, float32(v))
				}
			}
			for _, nd := range g.nodes {
				r := nd.r
				if r.w == 0 || r.h == 0 {
					continue
				}
				for y := r.y; y < r.y+r.h; y++ {
					row := plane[y*w+r.x : y*w+r.x+r.w]
					split(r.w, nd.invX, func(i int) float32 { return row[i] }, func(i int, v float32) { row[i] = v })
				}
				for x := r.x; x < r.x+r.w; x++ {
					split(r.h, nd.invY,
						func(i int) float32 { return plane[(r.y+i)*w+x] },
						func(i int, v float32) { plane[(r.y+i)*w+x] = v })
				}
			}
		},
	}
}

// A stream whose DTT carries an even-length pair must decode as well as
// one with the 9/7 pair.
func TestDecodeEvenFilterStream(t *testing.T) {
	b, err := newEvenBank(even8Lo, even8Hi)
	if err != nil {
		t.Fatal(err)
	}
	for _, sz := range [][2]int{{200, 240}, {97, 61}} {
		img := ridgeImage(sz[0], sz[1], 12)
		data, err := encode(img, 500, 2.25, evenAnalysis(b))
		if err != nil {
			t.Fatal(err)
		}
		segs := walkSegments(t, data)
		if segs[2].marker != markerDTT || segs[2].body[0] != 8 || segs[2].body[1] != 8 {
			t.Fatalf("DTT %x, want 8- and 8-tap filters", segs[2].body[:2])
		}
		out, _, err := Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		p := psnr(img, out)
		t.Logf("%dx%d with even 8/8 filters at 2.25 bpp: %d bytes, PSNR %.2f dB", sz[0], sz[1], len(data), p)
		if p < 30 {
			t.Errorf("PSNR %.2f dB, want ≥ 30", p)
		}
	}
}
