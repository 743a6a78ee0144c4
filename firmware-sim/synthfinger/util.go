package synthfinger

import (
	"math"
	"math/rand/v2"
)

// mix is the splitmix64 finaliser: it turns structured inputs (an identity
// number, a finger position) into well-spread 64-bit seeds for math/rand/v2.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// newRNG returns a deterministic generator for the given stream of values.
func newRNG(vals ...uint64) *rand.Rand {
	a, b := uint64(0x5f3759df<<1|1), uint64(0x243f6a8885a308d3)
	for _, v := range vals {
		a = mix(a ^ v)
		b = mix(b + v*0x9e3779b97f4a7c15)
	}
	return rand.New(rand.NewPCG(a, b))
}

func clamp(v, lo, hi float64) float64 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

func clamp32(v, lo, hi float32) float32 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// smoothstep maps e0..e1 to 0..1 with a C1-continuous ramp.
func smoothstep(e0, e1, x float64) float64 {
	t := clamp((x-e0)/(e1-e0), 0, 1)
	return t * t * (3 - 2*t)
}

// valueNoise is a smooth, isotropic random field: white Gaussian noise on a
// lattice of spacing cell/2, blurred on the lattice with a Gaussian of 0.8
// lattice units, rescaled to unit variance, then interpolated bilinearly. Its
// correlation length is about cell/2 pixels. (Plain value noise with a
// smoothstep shows the lattice as square blobs; blurring first hides it.)
type valueNoise struct {
	gw, gh int
	inv    float64
	v      []float32
}

func newValueNoise(rng *rand.Rand, w, h int, cell float64) *valueNoise {
	sp := cell / 2
	gw := int(float64(w)/sp) + 3
	gh := int(float64(h)/sp) + 3
	n := &valueNoise{gw: gw, gh: gh, inv: 1 / sp, v: make([]float32, gw*gh)}
	for i := range n.v {
		n.v[i] = float32(rng.NormFloat64())
	}
	const sigma = 0.8
	gaussBlur(n.v, gw, gh, sigma)
	// A unit-sum Gaussian blur of sigma s (lattice units) leaves a variance
	// of 1/(4 pi s^2) of white noise: scale back to unit variance.
	k := float32(math.Sqrt(4*math.Pi) * sigma)
	for i := range n.v {
		n.v[i] *= k
	}
	return n
}

// at samples the field; coordinates outside the lattice are clamped.
func (n *valueNoise) at(x, y float64) float64 {
	fx := clamp(x*n.inv+1, 0, float64(n.gw)-1.001)
	fy := clamp(y*n.inv+1, 0, float64(n.gh)-1.001)
	ix, iy := int(fx), int(fy)
	tx, ty := fx-float64(ix), fy-float64(iy)
	i := iy*n.gw + ix
	a := float64(n.v[i]) + (float64(n.v[i+1])-float64(n.v[i]))*tx
	b := float64(n.v[i+n.gw]) + (float64(n.v[i+n.gw+1])-float64(n.v[i+n.gw]))*tx
	return a + (b-a)*ty
}

// gaussBlur blurs a w*h float32 image in place with a separable Gaussian of
// standard deviation sigma (pixels), clamping at the borders.
func gaussBlur(img []float32, w, h int, sigma float64) {
	if sigma < 0.05 || w == 0 || h == 0 {
		return
	}
	r := int(math.Ceil(3 * sigma))
	k := make([]float32, 2*r+1)
	var sum float64
	for i := -r; i <= r; i++ {
		v := math.Exp(-float64(i*i) / (2 * sigma * sigma))
		k[i+r] = float32(v)
		sum += v
	}
	for i := range k {
		k[i] /= float32(sum)
	}
	n := w
	if h > n {
		n = h
	}
	line := make([]float32, n+2*r)
	// rows
	for y := 0; y < h; y++ {
		row := img[y*w : y*w+w]
		for i := range line[:w+2*r] {
			x := i - r
			if x < 0 {
				x = 0
			} else if x >= w {
				x = w - 1
			}
			line[i] = row[x]
		}
		for x := 0; x < w; x++ {
			seg := line[x : x+2*r+1]
			var s float32
			for j, kv := range k {
				s += kv * seg[j]
			}
			row[x] = s
		}
	}
	// columns
	for x := 0; x < w; x++ {
		for i := range line[:h+2*r] {
			y := i - r
			if y < 0 {
				y = 0
			} else if y >= h {
				y = h - 1
			}
			line[i] = img[y*w+x]
		}
		for y := 0; y < h; y++ {
			seg := line[y : y+2*r+1]
			var s float32
			for j, kv := range k {
				s += kv * seg[j]
			}
			img[y*w+x] = s
		}
	}
}

// NewRand returns a deterministic *rand.Rand seeded from the given values,
// for callers that want reproducible streams of RandomImpression.
func NewRand(vals ...uint64) *rand.Rand { return newRNG(vals...) }
