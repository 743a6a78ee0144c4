package synthfinger

import (
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
)

// Pattern classes (the five Henry/NIST classes SFinGe generates).
const (
	ClassArch       = "arch"
	ClassTentedArch = "tented_arch"
	ClassLeftLoop   = "left_loop"
	ClassRightLoop  = "right_loop"
	ClassWhorl      = "whorl"
)

// Master canvas: large enough that a 416x560 window can be rotated and moved
// over the finger without running out of pattern.
const (
	masterW = 512
	masterH = 672
)

// fpoint is a point in master (finger) coordinates, y pointing down.
type fpoint struct{ X, Y float64 }

// master is the noise-free ridge pattern of one finger: what all impressions
// of that finger are taken from. It is read-only once built.
type master struct {
	class         string
	cores, deltas []fpoint
	// silhouette: a superellipse centred on (cx, cy) with half-width a,
	// half-height bt above the centre and bb below.
	cx, cy, a, bt, bb float64
	period            float64 // mean ridge period, pixels at 500 ppi
	// ridge is the ridge signal, about -1 (valley) .. +1 (ridge centre),
	// with a near-sinusoidal cross-section so thresholds change ridge width.
	ridge []float32
	// rmap is contactR sampled on the master grid; shade multiplies the
	// ink darkness (skin-level and ridge-level variation), around 1.
	rmap, shade []float32
}

// classWeights gives P(arch, tented arch, radial loop, ulnar loop, whorl) per
// finger type (thumb, index, middle, ring, little). These are rounded from
// the per-finger pattern frequencies reported in the dactyloscopy literature:
// whorls are most common on thumbs and ring fingers, radial loops and arches
// on index fingers, ulnar loops dominate middle and little fingers. Averaged
// over the ten fingers they give roughly the natural class distribution that
// SFinGe uses (A 3.7 %, T 2.9 %, L+R 65.5 %, W 27.9 %).
var classWeights = [5][5]float64{
	{0.04, 0.02, 0.02, 0.52, 0.40}, // thumb
	{0.08, 0.07, 0.15, 0.40, 0.30}, // index
	{0.05, 0.02, 0.02, 0.71, 0.20}, // middle
	{0.02, 0.01, 0.01, 0.56, 0.40}, // ring
	{0.01, 0.01, 0.01, 0.85, 0.12}, // little
}

// pickClass draws the pattern class of a finger. Finger positions follow
// ANSI/NIST-ITL 1-2011 Table 8 (1 right thumb .. 5 right little, 6 left
// thumb .. 10 left little). An ulnar loop opens towards the little finger,
// which on a print of the right hand is the right side of the image.
func pickClass(rng *rand.Rand, finger int) string {
	w := classWeights[(finger-1)%5]
	u := rng.Float64()
	k := 0
	for ; k < 4; k++ {
		if u < w[k] {
			break
		}
		u -= w[k]
	}
	right := finger <= 5
	switch k {
	case 0:
		return ClassArch
	case 1:
		return ClassTentedArch
	case 2: // radial loop: opens towards the thumb
		if right {
			return ClassLeftLoop
		}
		return ClassRightLoop
	case 3: // ulnar
		if right {
			return ClassRightLoop
		}
		return ClassLeftLoop
	}
	return ClassWhorl
}

// placeSingular places cores and deltas relative to the silhouette centre.
// Plain impressions show the core near the middle of the finger pad and the
// deltas 100-180 px (5-9 mm) below and to the side.
func (m *master) placeSingular(rng *rand.Rand) {
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }
	cx, cy, a := m.cx, m.cy, m.a
	switch m.class {
	case ClassArch:
	case ClassTentedArch:
		c := fpoint{cx + u(-25, 25), cy + u(-50, 10)}
		m.cores = []fpoint{c}
		m.deltas = []fpoint{{c.X + u(-12, 12), c.Y + u(75, 115)}}
	case ClassLeftLoop, ClassRightLoop:
		side := 1.0 // the delta sits on the side opposite the loop's opening
		if m.class == ClassRightLoop {
			side = -1
		}
		c := fpoint{cx + side*u(-10, 30), cy + u(-60, 10)}
		m.cores = []fpoint{c}
		m.deltas = []fpoint{{c.X + side*a*u(0.45, 0.7), c.Y + u(90, 150)}}
	case ClassWhorl:
		ang := u(-0.5, 0.5) + math.Pi/2 // axis of the two cores, near vertical
		d := u(14, 36)
		mx, my := cx+u(-20, 20), cy+u(-50, 5)
		m.cores = []fpoint{
			{mx - d*math.Cos(ang), my - d*math.Sin(ang)},
			{mx + d*math.Cos(ang), my + d*math.Sin(ang)},
		}
		dy := u(100, 140)
		m.deltas = []fpoint{
			{mx - a*u(0.45, 0.65), my + dy + u(-15, 15)},
			{mx + a*u(0.45, 0.65), my + dy + u(-15, 15)},
		}
	}
}

// orientation returns the local ridge orientation (radians, mod pi, image
// coordinates with y down) at (x, y).
//
// With singular points it is the zero-pole model of Sherlock and Monro
// (1993), as SFinGe uses it: theta = theta0 + 1/2 (sum arg(z-core) -
// sum arg(z-delta)), i.e. a core has Poincare index +1/2, a delta -1/2. Arches have no singular points; their ridges are the
// level lines of y - A*exp(-dx^2/2s^2)*g(y), a bump that grows towards the
// fingertip, which gives the flat-bottomed, arched-top flow of a plain arch.
func (m *master) orientation(x, y float64, arch archParams) float64 {
	if m.class == ClassArch {
		f := func(x, y float64) float64 {
			dx := x - arch.x0
			g := 1 / (1 + math.Exp((y-arch.yb)/arch.wb))
			return y - arch.amp*math.Exp(-dx*dx/(2*arch.s*arch.s))*g
		}
		const h = 1.0
		fx := (f(x+h, y) - f(x-h, y)) / (2 * h)
		fy := (f(x, y+h) - f(x, y-h)) / (2 * h)
		// the ridge runs along the level line, perpendicular to the gradient
		return math.Atan2(-fx, fy)
	}
	// y is flipped so that arg() follows the usual counter-clockwise sense.
	var t float64
	for _, c := range m.cores {
		t += math.Atan2(-(y - c.Y), x-c.X)
	}
	for _, d := range m.deltas {
		t -= math.Atan2(-(y - d.Y), x-d.X)
	}
	// back to y-down image angles
	return -t / 2
}

type archParams struct{ x0, yb, wb, amp, s float64 }

// shapeR is the silhouette's normalised radius: <1 inside the finger, 1 on
// its edge. Contact regions are the sets shapeR+edge noise <= sqrt(contact),
// so they are nested and their area scales with the contact fraction.
func (m *master) shapeR(x, y float64) float64 {
	dx := math.Abs(x-m.cx) / m.a
	b := m.bb
	if y < m.cy {
		b = m.bt
	}
	dy := math.Abs(y-m.cy) / b
	// an ellipse above the centre, a little squarer below it (the pad
	// flattens towards the first crease)
	if y < m.cy {
		return math.Sqrt(dx*dx + dy*dy)
	}
	const e = 2.6
	return math.Pow(math.Pow(dx, e)+math.Pow(dy, e), 1/e)
}

// Gabor filter bank: orientations and periods are quantised; every kernel is
// precomputed once. Size 13x13 covers about 1.4 ridge periods, enough for a
// clean ridge-following response without smearing curvature.
const (
	gaborR       = 6
	gaborK       = 2*gaborR + 1
	nOrient      = 36 // 5 degree steps
	periodMin    = 6.0
	periodStep   = 0.25
	nPeriod      = 33 // 6.0 .. 14.0 px
	growthIters  = 13
	seedSpacing  = 55
	seedAmp      = 60
	growthGain   = 3.0
	gaborSigmaAx = 3.3 // across the ridges
	gaborSigmaAl = 4.0 // along the ridges
)

var (
	bankOnce sync.Once
	bank     []float32 // [orient][period][gaborK*gaborK]
)

func gaborBank() []float32 {
	bankOnce.Do(func() {
		bank = make([]float32, nOrient*nPeriod*gaborK*gaborK)
		var kp [nPeriod]float64
		for p := range kp {
			kp[p] = kernelPeriod(periodMin + periodStep*float64(p))
		}
		for o := 0; o < nOrient; o++ {
			th := float64(o) * math.Pi / nOrient
			// unit vector across the ridges (the normal of orientation th)
			nx, ny := -math.Sin(th), math.Cos(th)
			for p := 0; p < nPeriod; p++ {
				T := kp[p]
				k := bank[(o*nPeriod+p)*gaborK*gaborK:][:gaborK*gaborK]
				var mean, wsum, resp float64
				env := make([]float64, gaborK*gaborK)
				for j := -gaborR; j <= gaborR; j++ {
					for i := -gaborR; i <= gaborR; i++ {
						ax := float64(i)*nx + float64(j)*ny
						al := float64(i)*ny - float64(j)*nx
						e := math.Exp(-ax*ax/(2*gaborSigmaAx*gaborSigmaAx) - al*al/(2*gaborSigmaAl*gaborSigmaAl))
						idx := (j+gaborR)*gaborK + i + gaborR
						env[idx] = e
						c := math.Cos(2 * math.Pi * ax / T)
						k[idx] = float32(e * c)
						mean += e * c
						wsum += e
					}
				}
				// zero DC, then unit gain for a matching cosine of amplitude 1
				mean /= wsum
				for j := -gaborR; j <= gaborR; j++ {
					for i := -gaborR; i <= gaborR; i++ {
						idx := (j+gaborR)*gaborK + i + gaborR
						k[idx] -= float32(mean * env[idx])
						ax := float64(i)*nx + float64(j)*ny
						resp += float64(k[idx]) * math.Cos(2*math.Pi*ax/T)
					}
				}
				for idx := range k {
					k[idx] /= float32(resp)
				}
			}
		}
	})
	return bank
}

// kernelPeriod returns the cosine period to put in a Gabor kernel so that
// the kernel's strongest response is at ridge period T. Removing the DC of a
// Gaussian-windowed cosine moves its pass-band peak to higher frequencies
// (the window is only about one period wide), and iterated filtering grows
// exactly the peak frequency, so without this correction ridges come out
// some 15 % too dense. Across the ridges the kernel's transfer function is
// G(f-f0) + G(f+f0) - 2 exp(-2 pi^2 s^2 f0^2) G(f), G(f) = exp(-2 pi^2 s^2 f^2).
func kernelPeriod(T float64) float64 {
	s := gaborSigmaAx
	g := func(f float64) float64 { return math.Exp(-2 * math.Pi * math.Pi * s * s * f * f) }
	resp := func(f, f0 float64) float64 { return g(f-f0) + g(f+f0) - 2*g(f0)*g(f) }
	peak := func(f0 float64) float64 {
		// the response is unimodal in f on (0, 0.5): ternary search
		lo, hi := 0.005, 0.5
		for range 60 {
			a, b := lo+(hi-lo)/3, hi-(hi-lo)/3
			if resp(a, f0) < resp(b, f0) {
				lo = a
			} else {
				hi = b
			}
		}
		return (lo + hi) / 2
	}
	// the peak frequency grows with f0: bisect f0 so that peak(f0) = 1/T
	lo, hi := 0.001, 1/T
	for range 30 {
		mid := (lo + hi) / 2
		if peak(mid) < 1/T {
			lo = mid
		} else {
			hi = mid
		}
	}
	return 1 / ((lo + hi) / 2)
}

// newMaster builds the master print of one finger of one identity.
func newMaster(identity uint64, finger int) *master {
	rng := newRNG(identity, uint64(finger), 0x6d6173746572) // "master"
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }
	m := &master{}
	m.class = pickClass(rng, finger)
	// Silhouette: a plain impression of an adult finger is about 16-21 mm
	// wide and 20-28 mm tall (350-410 x 410-540 px at 500 ppi), filling
	// most of a 416x560 frame; thumbs are the widest, little fingers the
	// narrowest.
	scale := [5]float64{1.08, 1.0, 1.0, 0.96, 0.88}[(finger-1)%5]
	m.a = u(175, 205) * scale
	m.bt = u(205, 245) * scale
	m.bb = u(250, 300) * scale
	m.cx = masterW / 2
	m.cy = masterH/2 - (m.bb-m.bt)/2
	m.placeSingular(rng)
	m.period = u(8.2, 9.8)
	edge := newValueNoise(rng, masterW, masterH, 22)
	shade := newValueNoise(rng, masterW, masterH, 60)
	shade2 := newValueNoise(rng, masterW, masterH, 7)

	arch := archParams{x0: m.cx + u(-30, 30), yb: m.cy + u(-20, 60), wb: u(40, 70), amp: u(110, 170), s: u(75, 110)}
	orientNoise := newValueNoise(rng, masterW, masterH, 90)
	freqNoise := newValueNoise(rng, masterW, masterH, 110)
	oAmp := u(0.03, 0.08) // radians of smooth individual orientation wobble

	n := masterW * masterH
	m.rmap = make([]float32, n)
	rs := make([]float32, n) // shapeR on the grid
	m.shade = make([]float32, n)
	obin := make([]uint8, n)
	pbin := make([]uint8, n)
	for y := 0; y < masterH; y++ {
		for x := 0; x < masterW; x++ {
			fx, fy := float64(x), float64(y)
			th := m.orientation(fx, fy, arch) + oAmp*orientNoise.at(fx, fy)
			ob := int(math.Round(th/math.Pi*nOrient)) % nOrient
			if ob < 0 {
				ob += nOrient
			}
			// ridges are a little wider-spaced towards the fingertip and
			// the lower edge than around the core (SFinGe's density map
			// is also a smooth random field around a mean).
			r := m.shapeR(fx, fy)
			T := m.period * (1 + 0.07*freqNoise.at(fx, fy) + 0.06*r*r)
			pb := int(math.Round((T - periodMin) / periodStep))
			if pb < 0 {
				pb = 0
			} else if pb >= nPeriod {
				pb = nPeriod - 1
			}
			i := y*masterW + x
			// contact radius: the silhouette plus an irregular boundary
			m.rmap[i] = float32(r + 0.03*edge.at(fx, fy))
			rs[i] = float32(r)
			m.shade[i] = float32(1 - 0.10*shade.at(fx, fy) - 0.07*shade2.at(fx, fy))
			obin[i] = uint8(ob)
			pbin[i] = uint8(pb)
		}
	}

	m.ridge = grow(rng, obin, pbin, func(x, y int) bool { return rs[y*masterW+x] < 1.12 })
	for i, v := range m.ridge {
		m.ridge[i] = clamp32(v, -1.2, 1.2)
	}
	m.addPores(rng)
	m.addCreases(rng)
	return m
}

// addPores punches sweat pores into ridge centres: small round dips in the
// ridge signal that print as light dots on good impressions and vanish on
// wet or heavily pressed ones, as on real prints.
func (m *master) addPores(rng *rand.Rand) {
	count := masterW * masterH / 900
	for k := 0; k < count; k++ {
		x := 4 + rng.IntN(masterW-8)
		y := 4 + rng.IntN(masterH-8)
		if m.ridge[y*masterW+x] < 0.8 {
			continue
		}
		rad := 1.0 + 0.6*rng.Float64()
		for j := -2; j <= 2; j++ {
			for i := -2; i <= 2; i++ {
				d2 := float64(i*i + j*j)
				w := math.Exp(-d2 / (2 * rad * rad * 0.5))
				m.ridge[(y+j)*masterW+x+i] -= float32(1.3 * w)
			}
		}
	}
}

// addCreases draws up to three flexion creases: thin, slightly curved white
// lines across the ridges that many adult fingers carry and that print on
// every impression of that finger.
func (m *master) addCreases(rng *rand.Rand) {
	n := rng.IntN(4)
	for range n {
		// a point on the pad and a direction within 35 degrees of horizontal
		px := m.cx + (rng.Float64()*2-1)*0.6*m.a
		py := m.cy + (rng.Float64()*2-1)*0.6*m.bb
		ang := (rng.Float64()*2 - 1) * 0.6
		length := 50 + 150*rng.Float64()
		width := 0.8 + 1.2*rng.Float64()
		bend := (rng.Float64()*2 - 1) * 0.002
		dx, dy := math.Cos(ang), math.Sin(ang)
		for s := -length / 2; s <= length/2; s += 0.5 {
			// width tapers to zero at both ends
			wd := width * math.Sqrt(1-math.Pow(2*s/length, 2))
			cx := px + s*dx - bend*s*s*dy
			cy := py + s*dy + bend*s*s*dx
			r := int(math.Ceil(wd + 1))
			for j := -r; j <= r; j++ {
				for i := -r; i <= r; i++ {
					x, y := int(cx)+i, int(cy)+j
					if x < 0 || y < 0 || x >= masterW || y >= masterH {
						continue
					}
					d := math.Hypot(float64(x)-cx, float64(y)-cy)
					if d > wd+0.7 {
						continue
					}
					v := float32(-1.2 + 2.4*smoothstep(wd-0.7, wd+0.7, d))
					if p := &m.ridge[y*masterW+x]; v < *p {
						*p = v
					}
				}
			}
		}
	}
}

// sample returns the ridge signal, the contact radius and the ink shade at
// (x, y) with bilinear interpolation. Outside the canvas the ridge is 0,
// the radius large and the shade 1.
func (m *master) sample(x, y float64) (ridge, r, shade float64) {
	if !(x >= 0 && y >= 0 && x < masterW-1 && y < masterH-1) {
		return 0, 9, 1
	}
	ix, iy := int(x), int(y)
	tx, ty := x-float64(ix), y-float64(iy)
	i := iy*masterW + ix
	w00 := (1 - tx) * (1 - ty)
	w10 := tx * (1 - ty)
	w01 := (1 - tx) * ty
	w11 := tx * ty
	bl := func(a []float32) float64 {
		q := a[i : i+masterW+2]
		return w00*float64(q[0]) + w10*float64(q[1]) + w01*float64(q[masterW]) + w11*float64(q[masterW+1])
	}
	return bl(m.ridge), bl(m.rmap), bl(m.shade)
}

// radius returns the contact radius at (x, y) (see sample).
func (m *master) radius(x, y float64) float64 {
	_, r, _ := m.sample(x, y)
	return r
}

// grow builds the ridge pattern by SFinGe's iterative space-variant Gabor
// filtering: a few random seeds inside the silhouette are repeatedly
// filtered with the local Gabor kernel (orientation obin, period pbin) and
// pushed through a saturating gain, so ridges spread outwards from each seed
// along the orientation field. Where fronts from different seeds meet out of
// phase, ridges end or fork: the minutiae appear by themselves. A last,
// linear pass gives the ridges a smooth, near-sinusoidal cross-section.
func grow(rng *rand.Rand, obin, pbin []uint8, inside func(x, y int) bool) []float32 {
	const w, h = masterW, masterH
	n := w * h
	cur := make([]float32, n)
	nxt := make([]float32, n)
	active := make([]bool, n)
	for y := gaborR; y < h-gaborR; y++ {
		for x := gaborR; x < w-gaborR; x++ {
			if inside(x, y) {
				active[y*w+x] = true
			}
		}
	}
	// One seed per seedSpacing x seedSpacing cell (jittered grid, so no
	// region is left without a seed): fewer seeds, fewer minutiae.
	for gy := 0; gy < h; gy += seedSpacing {
		for gx := 0; gx < w; gx += seedSpacing {
			x, y := gx+rng.IntN(seedSpacing), gy+rng.IntN(seedSpacing)
			if x >= w || y >= h || !active[y*w+x] {
				continue
			}
			cur[y*w+x] = seedAmp
			if rng.IntN(2) == 0 {
				cur[y*w+x] = -seedAmp
			}
		}
	}
	// Block bookkeeping: a block whose neighbourhood is all zero stays
	// zero, so the early iterations only touch the growing fronts.
	const bs = 16 // >= gaborR so a 3x3 block neighbourhood covers the kernel
	bw, bh := (w+bs-1)/bs, (h+bs-1)/bs
	live := make([]bool, bw*bh)
	markLive := func(src []float32) {
		clear(live)
		for i, v := range src {
			if v != 0 {
				live[(i/w/bs)*bw+(i%w)/bs] = true
			}
		}
	}
	kb := gaborBank()
	filter := func(src, dst []float32, gain float32, saturate bool) {
		markLive(src)
		workers := min(runtime.GOMAXPROCS(0), 4)
		var wg sync.WaitGroup
		for wk := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for by := wk; by < bh; by += workers {
					for bx := 0; bx < bw; bx++ {
						need := false
						for j := max(by-1, 0); j <= min(by+1, bh-1) && !need; j++ {
							for i := max(bx-1, 0); i <= min(bx+1, bw-1); i++ {
								if live[j*bw+i] {
									need = true
									break
								}
							}
						}
						y0, y1 := max(by*bs, gaborR), min(by*bs+bs, h-gaborR)
						x0, x1 := max(bx*bs, gaborR), min(bx*bs+bs, w-gaborR)
						for y := y0; y < y1; y++ {
							for x := x0; x < x1; x++ {
								i := y*w + x
								if !need || !active[i] {
									dst[i] = 0
									continue
								}
								k := kb[(int(obin[i])*nPeriod+int(pbin[i]))*gaborK*gaborK:][:gaborK*gaborK]
								s := dot13x13(k, src[(y-gaborR)*w+x-gaborR:], w)
								s *= gain
								if saturate {
									s = clamp32(s, -1, 1)
								}
								dst[i] = s
							}
						}
					}
				}
			}()
		}
		wg.Wait()
	}
	for range growthIters {
		filter(cur, nxt, growthGain, true)
		cur, nxt = nxt, cur
	}
	filter(cur, nxt, 1, false)
	return nxt
}

// dot13x13 is the inner product of a 13x13 kernel with the 13x13 window of
// img (row stride w) starting at img[0]. It keeps four independent partial
// sums per row so the additions do not form one long dependency chain; this
// loop is where master generation spends its time.
//
// go:norace keeps the race detector from instrumenting the 169 loads per
// pixel (a 30x slowdown under -race); the function only reads, and the
// buffers it reads are handed between goroutines through a WaitGroup in
// grow, which the race detector still sees.
//
//go:norace
func dot13x13(k []float32, img []float32, w int) float32 {
	var s0, s1, s2, s3 float32
	for j := 0; j < 13; j++ {
		r := (*[13]float32)(img[j*w:])
		q := (*[13]float32)(k[j*13:])
		s0 += q[0]*r[0] + q[4]*r[4] + q[8]*r[8] + q[12]*r[12]
		s1 += q[1]*r[1] + q[5]*r[5] + q[9]*r[9]
		s2 += q[2]*r[2] + q[6]*r[6] + q[10]*r[10]
		s3 += q[3]*r[3] + q[7]*r[7] + q[11]*r[11]
	}
	return (s0 + s1) + (s2 + s3)
}

// dot13x13 hard-codes the kernel size.
var _ = [1]int{}[gaborK-13]
