package synthfinger

import (
	"math"
	"math/rand/v2"
)

// inkCard holds the random fields of an inked ten-print card impression
// (Impression.Ink > 0). Every field has its own random stream, created only
// when Ink is set, so live-scan impressions draw exactly the numbers they
// drew before the ink style existed.
type inkCard struct {
	k                                  float64 // Impression.Ink
	fibre, blot, breaks, grain, splash *valueNoise
	overZ, underZ, splashZ             float64
	rng                                *rand.Rand
}

func newInkCard(identity uint64, finger int, imp Impression, W, H int) *inkCard {
	const tag = 0x696e6b00 // "ink"
	field := func(n uint64, cell float64) *valueNoise {
		return newValueNoise(newRNG(identity, uint64(finger), imp.Seed, tag+n), W, H, cell)
	}
	k := imp.Ink
	return &inkCard{
		k:      k,
		fibre:  field(1, 3),  // card stock fibres
		blot:   field(2, 50), // uneven inking of the finger before rolling
		breaks: field(3, 6),  // gaps where too little ink reached the card
		grain:  field(4, 2),  // white specks inside the ridges
		splash: field(5, 3),  // ink spatter around the print
		// up to a quarter of the print over-inked and a third under-inked
		overZ:   valueNoiseStd * zOf(1-0.25*k),
		underZ:  valueNoiseStd * zOf(0.33*k),
		splashZ: valueNoiseStd * zOf(1-0.4*k),
		rng:     newRNG(identity, uint64(finger), imp.Seed, tag+6),
	}
}

// paper darkens the live-scan background to off-white card stock with a
// fibrous texture.
func (c *inkCard) paper(p, x, y float64) float64 {
	return p - c.k*(14+5*c.fibre.at(x, y))
}

// inking returns how over-inked and how under-inked the skin at (x, y) is,
// each 0..1.
func (c *inkCard) inking(x, y float64) (over, under float64) {
	b := c.blot.at(x, y)
	return smoothstep(c.overZ-0.3, c.overZ+0.3, b), 1 - smoothstep(c.underZ-0.3, c.underZ+0.3, b)
}

// texture applies the ink's look to the ink coverage v (0..1): grey-filled
// valleys where over-inked, breaks where under-inked, and grain.
func (c *inkCard) texture(v, x, y, over, under float64) float64 {
	v += (1 - v) * 0.3 * c.k * over
	gap := 1 - smoothstep(-0.3, 0.5, c.breaks.at(x, y))
	v *= 1 - 0.9*c.k*under*gap
	v *= 1 - 0.7*c.k*smoothstep(0.1, 1.1, c.grain.at(x, y))
	return v
}

// spatter returns the background p darkened by ink dots that the rolled
// finger's edge left on the card, dense at the print's edge (contact radius
// rc) and gone some 20 % of the finger's size further out.
func (c *inkCard) spatter(p, x, y, r, rc float64) float64 {
	if r > rc+0.2 {
		return p
	}
	near := 1 - smoothstep(rc-0.02, rc+0.2, r)
	return p - 210*c.k*near*smoothstep(c.splashZ, c.splashZ+0.35, c.splash.at(x, y))
}

// caption prints, for Ink >= 0.5 and on about half the cards, part of the
// card's printed box caption along the top edge: a row of block capitals
// (3-6 thick strokes each) that may run into the print, as on scanned
// ten-print cards.
func (c *inkCard) caption(pix []float32, W, H int) {
	if c.k < 0.5 || c.rng.IntN(2) == 0 {
		return
	}
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*c.rng.Float64() }
	letterH := u(22, 32) // letter height, px (about 1.4 mm)
	top := u(4, 40)      // baseline position below the image top
	x := u(-20, 0.4*float64(W))
	end := x + u(0.3, 0.9)*float64(W)
	stroke := u(3.5, 5.5)
	ink := 200 * c.k
	for x < end && x < float64(W) {
		w := letterH * u(0.55, 0.8)
		n := 3 + c.rng.IntN(4)
		for range n {
			// a stroke between two of the letter box's 6 anchor points
			ax := [6]float64{0, 1, 0, 1, 0, 1}
			ay := [6]float64{0, 0, 0.5, 0.5, 1, 1}
			a, b := c.rng.IntN(6), c.rng.IntN(6)
			if a == b {
				b = (a + 1) % 6
			}
			line(pix, W, H, x+ax[a]*w, top+ay[a]*letterH, x+ax[b]*w, top+ay[b]*letterH, stroke/2, ink)
		}
		x += w + u(5, 12)
		if c.rng.IntN(7) == 0 {
			x += letterH // a space between words
		}
	}
}

// line darkens a thick anti-aliased segment by depth grey levels.
func line(pix []float32, W, H int, x0, y0, x1, y1, half, depth float64) {
	dx, dy := x1-x0, y1-y0
	l2 := dx*dx + dy*dy
	xa, xb := int(math.Floor(math.Min(x0, x1)-half-1)), int(math.Ceil(math.Max(x0, x1)+half+1))
	ya, yb := int(math.Floor(math.Min(y0, y1)-half-1)), int(math.Ceil(math.Max(y0, y1)+half+1))
	for y := max(ya, 0); y <= min(yb, H-1); y++ {
		for x := max(xa, 0); x <= min(xb, W-1); x++ {
			px, py := float64(x)+0.5, float64(y)+0.5
			t := 0.0
			if l2 > 0 {
				t = clamp(((px-x0)*dx+(py-y0)*dy)/l2, 0, 1)
			}
			d := math.Hypot(px-x0-t*dx, py-y0-t*dy)
			a := clamp(half+0.5-d, 0, 1)
			if a > 0 {
				v := float32(255 - depth*a)
				if v < pix[y*W+x] {
					pix[y*W+x] = v
				}
			}
		}
	}
}
