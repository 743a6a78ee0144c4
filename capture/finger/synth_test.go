package finger

import (
	"image"
	"math"
	"math/rand/v2"
)

// Generated test images. Angles: phi is the direction across the lines (the
// ridge normal); the lines themselves run at phi + 90°.

func sinusoid(w, h int, period, phiDeg, mean, amp float64) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	phi := phiDeg * math.Pi / 180
	c, s := math.Cos(phi), math.Sin(phi)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := mean + amp*math.Cos(2*math.Pi*(float64(x)*c+float64(y)*s)/period)
			g.Pix[y*g.Stride+x] = clamp8(v)
		}
	}
	return g
}

func rings(w, h int, period float64) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	cx, cy := float64(w)/2, float64(h)/2
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r := math.Hypot(float64(x)-cx, float64(y)-cy)
			g.Pix[y*g.Stride+x] = clamp8(128 + 90*math.Cos(2*math.Pi*r/period))
		}
	}
	return g
}

func uniform(w, h int, v uint8) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for i := range g.Pix {
		g.Pix[i] = v
	}
	return g
}

func gaussNoise(w, h int, mean, sigma float64, seed uint64) *image.Gray {
	rng := rand.New(rand.NewPCG(seed, 1))
	g := image.NewGray(image.Rect(0, 0, w, h))
	for i := range g.Pix {
		g.Pix[i] = clamp8(mean + sigma*rng.NormFloat64())
	}
	return g
}

// smoothNoise is noise low-passed to a correlation length near a ridge
// period: the hardest noise for a texture test.
func smoothNoise(w, h int, seed uint64) *image.Gray {
	g := gaussNoise(w, h, 128, 60, seed)
	for range 3 {
		g = boxBlur(g, 2)
	}
	// Stretch back to a full contrast.
	lo, hi := 255, 0
	for _, v := range g.Pix {
		lo, hi = min(lo, int(v)), max(hi, int(v))
	}
	for i, v := range g.Pix {
		g.Pix[i] = uint8((int(v) - lo) * 255 / max(hi-lo, 1))
	}
	return g
}

func gradient(w, h int) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			g.Pix[y*g.Stride+x] = clamp8(40 + 190*float64(x+y)/float64(w+h))
		}
	}
	return g
}

// fabric is a plain weave: two orthogonal thread sets over and under each
// other, 12 px thread period, with fibre noise.
func fabric(w, h int) *image.Gray {
	rng := rand.New(rand.NewPCG(7, 7))
	g := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			cx, cy := (x/6)%2, (y/6)%2
			var v float64
			if cx == cy {
				v = 150 + 60*math.Sin(math.Pi*float64(x%6)/6)
			} else {
				v = 150 + 60*math.Sin(math.Pi*float64(y%6)/6)
			}
			g.Pix[y*g.Stride+x] = clamp8(v + 12*rng.NormFloat64())
		}
	}
	return g
}

// blobs are random dark discs on a light ground.
func blobs(w, h int, seed uint64) *image.Gray {
	rng := rand.New(rand.NewPCG(seed, 3))
	g := uniform(w, h, 220)
	for range 300 {
		cx, cy, r := rng.IntN(w), rng.IntN(h), 2+rng.IntN(10)
		for y := max(cy-r, 0); y < min(cy+r+1, h); y++ {
			for x := max(cx-r, 0); x < min(cx+r+1, w); x++ {
				if (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r {
					g.Pix[y*g.Stride+x] = 40
				}
			}
		}
	}
	return boxBlur(g, 1)
}

// face draws a face-like picture: a shaded oval head with hair, eyes,
// brows, nose and mouth on a plain backdrop, blurred like a photo.
func face(w, h int) *image.Gray {
	g := uniform(w, h, 200)
	cx, cy := float64(w)/2, float64(h)/2
	ax, ay := float64(w)*0.32, float64(h)*0.38
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			dx, dy := (float64(x)-cx)/ax, (float64(y)-cy)/ay
			d := dx*dx + dy*dy
			if d <= 1 {
				v := 170 - 50*dx // light from the left
				if dy < -0.55 {
					v = 50 // hair
				}
				g.Pix[y*g.Stride+x] = clamp8(v)
			}
		}
	}
	disc := func(px, py, rx, ry float64, v uint8) {
		for y := int(py - ry); y <= int(py+ry); y++ {
			for x := int(px - rx); x <= int(px+rx); x++ {
				if x < 0 || y < 0 || x >= w || y >= h {
					continue
				}
				dx, dy := (float64(x)-px)/rx, (float64(y)-py)/ry
				if dx*dx+dy*dy <= 1 {
					g.Pix[y*g.Stride+x] = v
				}
			}
		}
	}
	for _, s := range []float64{-1, 1} {
		ex := cx + s*ax*0.4
		disc(ex, cy-ay*0.15, ax*0.18, ay*0.07, 240) // eye white
		disc(ex, cy-ay*0.15, ax*0.07, ay*0.065, 30) // iris
		disc(ex, cy-ay*0.32, ax*0.2, ay*0.03, 60)   // brow
	}
	disc(cx, cy+ay*0.15, ax*0.08, ay*0.15, 120) // nose shadow
	disc(cx, cy+ay*0.5, ax*0.3, ay*0.06, 90)    // mouth
	return boxBlur(boxBlur(g, 2), 2)
}

// font5x7 is a tiny bitmap font (upper case and space), one byte per row,
// low 5 bits, most significant bit on the left.
var font5x7 = map[rune][7]uint8{
	'A': {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11},
	'C': {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E},
	'D': {0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E},
	'E': {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F},
	'F': {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10},
	'G': {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F},
	'I': {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E},
	'L': {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F},
	'M': {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11},
	'N': {0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x11},
	'O': {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E},
	'P': {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10},
	'R': {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11},
	'S': {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E},
	'T': {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04},
	'U': {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E},
	'W': {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A},
	' ': {},
}

// text renders lines of the bitmap font at the given pixel scale, black on
// white, like a scanned form.
func text(w, h, scale int) *image.Gray {
	g := uniform(w, h, 250)
	words := "FINGERPRINT CARD PLEASE PRESS EACH FINGER FIRMLY ON THE PLATEN DO NOT ROLL "
	x, y := 10, 10
	for li := 0; y+7*scale < h-10; li++ {
		for i, r := range words {
			_ = i
			glyph := font5x7[r]
			if x+6*scale > w-10 {
				x = 10
				y += 10 * scale
				if y+7*scale >= h-10 {
					break
				}
			}
			for row := 0; row < 7; row++ {
				for col := 0; col < 5; col++ {
					if glyph[row]>>(4-col)&1 == 0 {
						continue
					}
					for yy := 0; yy < scale; yy++ {
						for xx := 0; xx < scale; xx++ {
							g.Pix[(y+row*scale+yy)*g.Stride+x+col*scale+xx] = 20
						}
					}
				}
			}
			x += 6 * scale
		}
	}
	return g
}

func boxBlur(src *image.Gray, r int) *image.Gray {
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	tmp := make([]int, w*h)
	out := image.NewGray(b)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			s, n := 0, 0
			for k := max(x-r, 0); k <= min(x+r, w-1); k++ {
				s += int(src.Pix[y*src.Stride+k])
				n++
			}
			tmp[y*w+x] = s / n
		}
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			s, n := 0, 0
			for k := max(y-r, 0); k <= min(y+r, h-1); k++ {
				s += tmp[k*w+x]
				n++
			}
			out.Pix[y*out.Stride+x] = uint8(s / n)
		}
	}
	return out
}

func clamp8(v float64) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v + 0.5)
}
