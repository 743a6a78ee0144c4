package synthfinger

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"
)

// PPI is the resolution of every generated image.
const PPI = 500

// Sensor sizes the rest of the project uses.
const (
	DefaultWidth  = 416 // NIST NFIQ 2 example / SFinGe plain impression
	DefaultHeight = 560
	R307Width     = 256 // R30x/ZFM optical module window
	R307Height    = 288
)

// opticsBlur is the Gaussian sigma (pixels) of the simulated sensor's own
// optics, applied to every impression; Impression.Blur comes on top.
const opticsBlur = 0.5

// Limits on Impression fields; Print rejects values outside them.
const (
	MinSize  = 16
	MaxSize  = 4096
	MaxBlur  = 10  // Gaussian sigma, pixels
	MaxNoise = 128 // grey levels
)

// Impression describes one acquisition of a finger: where and how it touched
// the platen and what the sensor added. The zero value is not a good
// impression (no contact, no pressure); start from GoodImpression.
type Impression struct {
	// Width, Height of the image in pixels at 500 ppi.
	Width  int `json:"width"`
	Height int `json:"height"`
	// Contact is the fraction of the finger's full pad area that touches
	// the platen, 0..1; the touching region is a centred, nested shrink of
	// the pad outline (light touch leaves an island in the middle).
	Contact float64 `json:"contact"`
	// Pressure 0..1; 0.5 is normal. Low pressure prints faint, thin,
	// broken ridges; high pressure flattens them into wide, merging ones.
	Pressure float64 `json:"pressure"`
	// Moisture -1 (very dry: broken, grainy ridges) .. 0 (normal) .. +1
	// (very wet: thick ridges, filled valleys, smudges).
	Moisture float64 `json:"moisture"`
	// Blur is the extra Gaussian blur sigma in pixels (defocus, motion),
	// 0..10, on top of the sensor optics' own 0.5 px.
	Blur float64 `json:"blur"`
	// Noise is the additive Gaussian sensor noise sigma in grey levels, 0..128.
	Noise float64 `json:"noise"`
	// RotationDeg turns the finger clockwise on screen, -180..180.
	RotationDeg float64 `json:"rotation_deg"`
	// OffsetX, OffsetY move the finger's centre away from the image centre,
	// as a fraction of the image width and height, -1..1 (0.5 puts the
	// centre on the image border: half the finger is off the platen).
	OffsetX float64 `json:"offset_x"`
	OffsetY float64 `json:"offset_y"`
	// Dirt 0..1: platen dirt, dust specks and latent residue.
	Dirt float64 `json:"dirt"`
	// Seed drives everything random in this impression (skin distortion,
	// noise, dirt, dry breaks, smudges). Same seed, same bytes.
	Seed uint64 `json:"seed"`
	// Ink 0..1 opts in to an inked ten-print card scanned on a flatbed,
	// instead of a live-scan platen: off-white fibrous card stock, near
	// black ink with grain and white specks inside the ridges, uneven
	// inking (over-inked patches whose valleys fill, under-inked patches
	// whose ridges break), ink spatter around the print's edge and, from
	// 0.5 up, part of the card's printed caption above the print. The
	// zero value is a live scan: images are byte-identical to those made
	// before this field existed.
	Ink float64 `json:"ink,omitempty"`
}

// Label is the ground truth that comes with every image.
type Label struct {
	// Quality 0..100, see the package documentation for the formula.
	Quality int `json:"quality"`
	// Class is one of the Class* constants.
	Class string `json:"class"`
	// Cores and Deltas are the singular points visible in the image: inside
	// it and on the contact area (image pixel coordinates, after rotation,
	// offset and distortion). A print that misses a delta lists fewer.
	Cores  []image.Point `json:"cores"`
	Deltas []image.Point `json:"deltas"`
	// Imp is the impression the image was made with.
	Imp Impression `json:"impression"`
	// Usable is the visible contact area relative to FullContactArea,
	// capped at 1. Clarity is the product of the per-degradation factors,
	// 0..1.
	Usable  float64 `json:"usable"`
	Clarity float64 `json:"clarity"`
	// ContactArea is the visible contact area in pixels (skin touching the
	// platen, inside the image), whatever the image size.
	ContactArea int `json:"contact_area"`
	// RidgePeriod is the finger's mean ridge period in pixels.
	RidgePeriod float64 `json:"ridge_period"`
}

// FullContactArea is the contact area, in pixels at 500 ppi, at which a
// print's usable area counts as whole: about 300 mm², the flat impression
// of an adult fingertip (an ellipse of some 16 x 24 mm). Thumbs and large
// fingers on a large platen exceed it; a small sensor's window (256 x 288
// px is 190 mm²) cannot reach it, so such a print is labelled below a full
// one, as a matcher finds fewer minutiae on it, whatever the image size.
const FullContactArea = 120000

// GoodImpression is a clean, well-placed, full-contact 416x560 impression.
func GoodImpression() Impression {
	return Impression{
		Width: DefaultWidth, Height: DefaultHeight,
		Contact: 1, Pressure: 0.5, Moisture: 0,
		Blur: 0, Noise: 0, RotationDeg: 0, Dirt: 0,
		Seed: 1,
	}
}

// RandomImpression draws an impression for fitting a quality model: about a
// quarter near-perfect, the rest with one to four degradations each at a
// uniformly drawn strength, so that labels spread over the whole 0..100
// range. The size is 416x560 except one in five at 256x288.
func RandomImpression(rng *rand.Rand) Impression {
	imp := GoodImpression()
	imp.Seed = rng.Uint64()
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }
	// mild, ever-present variation of a real capture
	imp.Pressure = u(0.4, 0.6)
	imp.Moisture = u(-0.15, 0.15)
	imp.Blur = u(0, 0.6)
	imp.Noise = u(0, 6)
	imp.RotationDeg = u(-12, 12)
	imp.OffsetX, imp.OffsetY = u(-0.05, 0.05), u(-0.05, 0.05)
	imp.Contact = u(0.85, 1)
	if rng.IntN(5) == 0 {
		imp.Width, imp.Height = R307Width, R307Height
	}
	if rng.IntN(4) == 0 {
		return imp
	}
	n := 1 + rng.IntN(4)
	for range n {
		switch rng.IntN(8) {
		case 0:
			imp.Contact = u(0.1, 1)
		case 1:
			if rng.IntN(2) == 0 {
				imp.Pressure = u(0, 0.5)
			} else {
				imp.Pressure = u(0.5, 1)
			}
		case 2:
			imp.Moisture = u(-1, 0)
		case 3:
			imp.Moisture = u(0, 1)
		case 4:
			imp.Blur = u(0, 4)
		case 5:
			imp.Noise = u(0, 70)
		case 6:
			imp.OffsetX, imp.OffsetY = u(-0.45, 0.45), u(-0.45, 0.45)
			imp.RotationDeg = u(-40, 40)
		case 7:
			imp.Dirt = u(0, 1)
		}
	}
	return imp
}

func (imp Impression) validate() error {
	if imp.Width < MinSize || imp.Height < MinSize || imp.Width > MaxSize || imp.Height > MaxSize {
		return fmt.Errorf("synthfinger: image size %dx%d out of range: width and height must be %d..%d pixels", imp.Width, imp.Height, MinSize, MaxSize)
	}
	check := func(name string, v, lo, hi float64) error {
		if math.IsNaN(v) || v < lo || v > hi {
			return fmt.Errorf("synthfinger: impression %s = %v out of range %v..%v", name, v, lo, hi)
		}
		return nil
	}
	for _, c := range []struct {
		name      string
		v, lo, hi float64
	}{
		{"Contact", imp.Contact, 0, 1},
		{"Pressure", imp.Pressure, 0, 1},
		{"Moisture", imp.Moisture, -1, 1},
		{"Blur", imp.Blur, 0, MaxBlur},
		{"Noise", imp.Noise, 0, MaxNoise},
		{"RotationDeg", imp.RotationDeg, -180, 180},
		{"OffsetX", imp.OffsetX, -1, 1},
		{"OffsetY", imp.OffsetY, -1, 1},
		{"Dirt", imp.Dirt, 0, 1},
		{"Ink", imp.Ink, 0, 1},
	} {
		if err := check(c.name, c.v, c.lo, c.hi); err != nil {
			return err
		}
	}
	return nil
}

// ClassOf returns the pattern class of a finger without generating it.
func ClassOf(identity uint64, finger int) (string, error) {
	if finger < 1 || finger > 10 {
		return "", errFinger(finger)
	}
	return pickClass(newRNG(identity, uint64(finger), 0x6d6173746572), finger), nil
}

func errFinger(finger int) error {
	return fmt.Errorf("synthfinger: finger position %d out of range: use 1..10 (1 right thumb .. 10 left little, ANSI/NIST-ITL finger codes)", finger)
}

// Print renders one impression of finger (1..10) of the given identity, with
// its ground-truth label. It is deterministic in (identity, finger, imp) and
// safe for concurrent use.
func Print(identity uint64, finger int, imp Impression) (*image.Gray, Label, error) {
	if finger < 1 || finger > 10 {
		return nil, Label{}, errFinger(finger)
	}
	if err := imp.validate(); err != nil {
		return nil, Label{}, err
	}
	m := masters.get(identity, finger)
	return render(m, identity, finger, imp)
}

// clarity returns the per-degradation clarity factors; see the package doc.
func clarity(imp Impression, period float64) (blur, noise, moist, press, dirt, ink float64) {
	// Gaussian MTF at the ridge frequency 1/T: exp(-2 pi^2 sigma^2 / T^2)
	blur = math.Exp(-2 * math.Pi * math.Pi * imp.Blur * imp.Blur / (period * period))
	// ridge amplitude left after blur: about half the ~195-level ridge/valley swing
	amp := 100 * blur
	r := imp.Noise / math.Max(amp, 1e-9)
	noise = 1 / (1 + 1.5*r*r)
	moist = 1 - 0.8*math.Pow(math.Abs(imp.Moisture), 1.3)
	press = 1 - 0.7*math.Pow(2*math.Abs(imp.Pressure-0.5), 1.5)
	dirt = 1 - 0.4*imp.Dirt
	ink = 1 - 0.15*imp.Ink
	return
}

// logit-based approximation of the inverse normal CDF (enough for picking
// thresholds on value-noise fields so that a given fraction lies below).
func zOf(frac float64) float64 {
	frac = clamp(frac, 1e-4, 1-1e-4)
	return math.Log(frac/(1-frac)) / 1.702
}

// valueNoiseStd is the standard deviation of valueNoise.at (slightly under
// 1 because bilinear interpolation averages neighbouring lattice values;
// TestValueNoiseStats checks it).
const valueNoiseStd = 0.9

func render(m *master, identity uint64, finger int, imp Impression) (*image.Gray, Label, error) {
	W, H := imp.Width, imp.Height
	rng := newRNG(identity, uint64(finger), imp.Seed, 0x696d70) // "imp"
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }

	// Geometry: output pixel -> finger (master) coordinates.
	fcx, fcy := m.cx, m.cy+(m.bb-m.bt)/2 // middle of the pad
	rot := imp.RotationDeg * math.Pi / 180
	cr, sr := math.Cos(rot), math.Sin(rot)
	ox := float64(W)/2 + imp.OffsetX*float64(W)
	oy := float64(H)/2 + imp.OffsetY*float64(H)
	// Skin elasticity: a smooth displacement of a few pixels that differs
	// between impressions (SFinGe models plastic distortion similarly).
	// Every random field has its own stream, so switching one degradation
	// on or off leaves the others' randomness unchanged.
	field := func(tag uint64, w, h int, cell float64) *valueNoise {
		return newValueNoise(newRNG(identity, uint64(finger), imp.Seed, tag), w, h, cell)
	}
	distN := field(1, masterW, masterH, 130)
	distN2 := field(2, masterW, masterH, 130)
	distAmp := u(2, 5)

	wet := math.Max(imp.Moisture, 0)
	dry := math.Max(-imp.Moisture, 0)
	p := imp.Pressure
	// Ridge threshold on the ridge signal: higher = thinner ridges.
	// Heavy pressure (hp 0..1 above normal) flattens the ridges against
	// the platen: they widen and the valleys between them stop printing
	// clean white.
	hp := math.Max(p-0.5, 0) * 2
	thr := 0.05 + 0.55*dry - 0.6*wet - 0.7*(p-0.5) - 0.3*hp
	valleyInk := 0.35 * hp * hp
	// Ink darkness in grey levels: light touch and dry skin print paler.
	dark := 195 * (0.55 + 0.9*math.Min(p, 0.5)) * (1 - 0.25*dry)
	rc := math.Sqrt(imp.Contact)

	var breakN, grainN, smudgeN *valueNoise
	if dry > 0 {
		breakN = field(3, W, H, 5.5) // ridge breaks
		grainN = field(4, W, H, 2.5) // grainy ink
	}
	if wet > 0 {
		smudgeN = field(5, W, H, 16) // smudges where ridges merge
	}
	roughN := field(6, W, H, 4)                            // ragged ridge edges
	speck := newRNG(identity, uint64(finger), imp.Seed, 9) // pixel-level edge grain
	paperN := field(7, W, H, 45)
	breakZ := valueNoiseStd * zOf(0.45*math.Pow(dry, 1.3))
	smudgeZ := valueNoiseStd * zOf(1-0.3*wet)

	var ic *inkCard
	if imp.Ink > 0 {
		ic = newInkCard(identity, finger, imp, W, H)
	}

	pix := make([]float32, W*H)
	var visible int
	for y := 0; y < H; y++ {
		for x := 0; x < W; x++ {
			fx, fy := float64(x)+0.5, float64(y)+0.5
			du, dv := fx-ox, fy-oy
			bx := fcx + du*cr + dv*sr
			by := fcy - du*sr + dv*cr
			qx := bx + distAmp*distN.at(bx, by)
			qy := by + distAmp*distN2.at(bx, by)

			paper := 250 + 1.5*paperN.at(fx, fy)
			s, r, shade := m.sample(qx, qy)
			cw := clamp((rc-r)/0.025, 0, 1)
			if cw >= 0.5 {
				visible++
			}
			var over, under float64 // inked card: over- and under-inked share
			if ic != nil {
				paper = ic.paper(paper, fx, fy)
				over, under = ic.inking(fx, fy)
			}
			if cw <= 0 {
				if ic != nil {
					paper = ic.spatter(paper, fx, fy, r, rc)
				}
				pix[y*W+x] = float32(paper)
				continue
			}
			fade := smoothstep(rc-0.12, rc, r) // lighter pressure near the edge
			t := thr + 0.45*fade + 0.12*roughN.at(fx, fy) + 0.3*(speck.Float64()-0.5)
			if wet > 0 {
				// smudges: where the film of moisture is thick the valleys
				// fill up and neighbouring ridges merge into dark patches
				sm := smoothstep(smudgeZ-0.25, smudgeZ+0.25, smudgeN.at(fx, fy))
				t -= 1.5 * sm
				s = math.Max(s, -1+1.4*sm)
			}
			if ic != nil {
				// too much ink widens the ridges, too little thins them
				t += ic.k * (0.5*under - 0.9*over)
			}
			ink := smoothstep(t-0.25, t+0.25, s)
			ink += (1 - ink) * valleyInk
			if ic != nil {
				ink = ic.texture(ink, fx, fy, over, under)
			}
			if dry > 0 {
				b := smoothstep(breakZ-0.08, breakZ+0.08, breakN.at(fx, fy))
				ink *= 0.12 + 0.88*b
				ink *= 1 - 0.45*dry*smoothstep(-0.3, 0.6, grainN.at(fx, fy))
			}
			d := dark * shade * (1 - 0.45*fade)
			if ic != nil {
				// printing ink is near black whatever the pressure
				d += ic.k * (230*shade*(1-0.25*fade) - d)
			}
			v := paper - d*ink*cw
			if ic != nil && cw < 1 {
				v = math.Min(v, ic.spatter(paper, fx, fy, r, rc))
			}
			pix[y*W+x] = float32(v)
		}
	}
	if ic != nil {
		ic.caption(pix, W, H)
	}

	addDirt(newRNG(identity, uint64(finger), imp.Seed, 8), pix, W, H, imp.Dirt)
	// The sensor's own optics soften every image a little (sigma 0.5 px);
	// Blur adds to it in quadrature.
	gaussBlur(pix, W, H, math.Hypot(opticsBlur, imp.Blur))
	img := image.NewGray(image.Rect(0, 0, W, H))
	for i, v := range pix {
		f := float64(v)
		if imp.Noise > 0 {
			f += imp.Noise * rng.NormFloat64()
		}
		img.Pix[i] = uint8(clamp(math.Round(f), 0, 255))
	}

	lab := Label{Class: m.class, Imp: imp, RidgePeriod: m.period, ContactArea: visible}
	lab.Usable = math.Min(1, float64(visible)/FullContactArea)
	cb, cn, cm, cp, cd, ci := clarity(imp, m.period)
	lab.Clarity = cb * cn * cm * cp * cd * ci
	lab.Quality = int(math.Round(100 * lab.Usable * lab.Clarity))
	toImage := func(q fpoint) (image.Point, bool) {
		// undo the distortion approximately (it is smooth and small)
		bx := q.X - distAmp*distN.at(q.X, q.Y)
		by := q.Y - distAmp*distN2.at(q.X, q.Y)
		vx, vy := bx-fcx, by-fcy
		x := vx*cr - vy*sr + ox
		y := vx*sr + vy*cr + oy
		pt := image.Pt(int(math.Floor(x)), int(math.Floor(y)))
		// visible: inside the image and on skin that touches the platen
		return pt, pt.In(image.Rect(0, 0, W, H)) && m.radius(q.X, q.Y) <= rc-0.02
	}
	for _, c := range m.cores {
		if pt, ok := toImage(c); ok {
			lab.Cores = append(lab.Cores, pt)
		}
	}
	for _, d := range m.deltas {
		if pt, ok := toImage(d); ok {
			lab.Deltas = append(lab.Deltas, pt)
		}
	}
	return img, lab, nil
}

// addDirt darkens the image with platen dirt: dust specks and smeared latent
// residue, both scaling with amount (0..1).
func addDirt(rng *rand.Rand, pix []float32, W, H int, amount float64) {
	if amount <= 0 {
		return
	}
	smear := newValueNoise(rng, W, H, 26)
	tex := newValueNoise(rng, W, H, 2.5)
	z := valueNoiseStd * zOf(1-0.35*amount)
	for y := 0; y < H; y++ {
		for x := 0; x < W; x++ {
			fx, fy := float64(x), float64(y)
			s := smoothstep(z-0.15, z+0.25, smear.at(fx, fy))
			if s > 0 {
				pix[y*W+x] -= float32(s * 80 * amount * (0.6 + 0.4*tex.at(fx, fy)))
			}
		}
	}
	specks := int(amount * float64(W*H) / 350)
	for range specks {
		cx, cy := rng.Float64()*float64(W), rng.Float64()*float64(H)
		rad := 0.6 + 1.8*rng.Float64()*rng.Float64()
		depth := 60 + 150*rng.Float64()
		r := int(math.Ceil(2 * rad))
		for j := -r; j <= r; j++ {
			for i := -r; i <= r; i++ {
				x, y := int(cx)+i, int(cy)+j
				if x < 0 || y < 0 || x >= W || y >= H {
					continue
				}
				dx, dy := float64(x)+0.5-cx, float64(y)+0.5-cy
				w := math.Exp(-(dx*dx + dy*dy) / (2 * rad * rad))
				pix[y*W+x] -= float32(depth * w)
			}
		}
	}
}
