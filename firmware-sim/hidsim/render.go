package hidsim

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"

	"github.com/openenroll/stationd/firmware-sim/synthfinger"
)

// Slap kinds, as the Arm report names them (docs/hid-slap.md §2.3).
const (
	KindRightFour = 1
	KindLeftFour  = 2
	KindThumbs    = 3
)

// FingerSource renders one upright fingertip (finger pointing up, pad
// centre at the image centre, dark ridges on a light background) of an
// ANSI/NIST finger position 1..10. seed varies the impression.
type FingerSource func(identity uint64, position int, seed uint64) (*image.Gray, error)

// Fingertip render size: 16 x 22 mm at 500 ppi, the distal phalanx of a
// plain impression.
const (
	tipW = 320
	tipH = 440
)

// SynthSource renders fingertips with firmware-sim/synthfinger: a good,
// slightly varied plain impression with the pad partly in contact (a slap
// presses less than a single-finger capture).
func SynthSource() FingerSource {
	return func(identity uint64, position int, seed uint64) (*image.Gray, error) {
		rng := synthfinger.NewRand(identity, uint64(position), seed, 0x736c6170)
		imp := synthfinger.GoodImpression()
		imp.Width, imp.Height = tipW, tipH
		imp.Contact = 0.7 + 0.15*rng.Float64()
		imp.Pressure = 0.45 + 0.1*rng.Float64()
		imp.Noise = 4 * rng.Float64()
		imp.Seed = seed
		img, _, err := synthfinger.Print(identity, position, imp)
		return img, err
	}
}

// QuickSource renders a fast procedural stand-in for a fingertip: an
// elliptical pad whose ridges (period 9 px, the 500 ppi norm) circle a
// per-finger core with a per-finger warp. It has the geometry and ridge
// texture of a fingertip, for segmentation tests that need many slaps; it
// is not a fingerprint for matching (use SynthSource for that).
func QuickSource() FingerSource {
	return func(identity uint64, position int, seed uint64) (*image.Gray, error) {
		if position < 1 || position > 10 {
			return nil, fmt.Errorf("hidsim: finger position %d out of range 1..10", position)
		}
		rng := synthfinger.NewRand(identity, uint64(position), 0x717569636b)
		u := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }
		scale := [5]float64{1.08, 1.0, 1.0, 0.96, 0.88}[(position-1)%5]
		a, b := u(125, 145)*scale, u(170, 195)*scale
		cx, cy := float64(tipW)/2+u(-25, 25), float64(tipH)/2+u(-50, 10)
		T := u(8.6, 10.2)
		wx, wy, wp := u(0.01, 0.03), u(0.01, 0.03), u(0, 6)
		ir := rand.New(rand.NewPCG(seed, uint64(position)))
		img := image.NewGray(image.Rect(0, 0, tipW, tipH))
		for y := range tipH {
			for x := range tipW {
				fx, fy := float64(x)-tipW/2, float64(y)-tipH/2
				r := math.Hypot(fx/a, fy/b)
				v := 232.0
				if r < 1 {
					dx, dy := float64(x)-cx, float64(y)-cy
					ph := math.Hypot(dx*(1+0.2*math.Sin(wy*float64(y))), dy) + 10*math.Sin(wx*float64(x)+wp)
					ridge := 0.5 + 0.5*math.Cos(2*math.Pi*ph/T)
					edge := math.Min(1, (1-r)*8) // soft contact edge
					v -= edge * ridge * 175
				}
				v += 3 * (ir.Float64() - 0.5)
				img.Pix[y*tipW+x] = uint8(math.Max(0, math.Min(255, v)))
			}
		}
		return img, nil
	}
}

// SlapSpec describes one slap placed on the platen.
type SlapSpec struct {
	Identity uint64
	Kind     int // KindRightFour, KindLeftFour, KindThumbs: what was asked for
	// RotationDeg turns the whole hand clockwise on screen, -30..30.
	RotationDeg float64
	// Missing marks fingers absent from the platen: bit 0..3 index..little
	// for four-finger slaps, bit 0 right thumb, bit 1 left thumb.
	Missing uint8
	// WrongHand puts the other hand's four fingers down instead.
	WrongHand bool
	// Repeat puts the same finger (the index) down twice: bit i of Repeat
	// replaces finger i by the index finger of the same hand.
	Repeat uint8
	// Smudges is the number of latent smudges on the platen.
	Smudges int
	Seed    uint64
	// Source renders the fingertips; nil uses SynthSource.
	Source FingerSource
}

// FingerTruth is where one fingertip landed.
type FingerTruth struct {
	Position int             // ANSI/NIST finger position actually placed
	Center   image.Point     // pad centre on the platen
	Box      image.Rectangle // bounding box of its ridge ink on the platen
	AngleDeg float64         // finger axis, clockwise from pointing up
}

// SlapTruth is the ground truth of a rendered slap, fingers from left to
// right on the image.
type SlapTruth struct {
	Spec    SlapSpec
	Fingers []FingerTruth
	Smudges []image.Rectangle
}

// handPositions returns the finger positions from left to right on the
// image for a kind (right hand: index at the left, as an ink print of a
// palm-down right hand; left hand mirrored; thumbs: left thumb left).
func handPositions(kind int) ([]int, error) {
	switch kind {
	case KindRightFour:
		return []int{2, 3, 4, 5}, nil
	case KindLeftFour:
		return []int{10, 9, 8, 7}, nil
	case KindThumbs:
		return []int{6, 1}, nil
	}
	return nil, fmt.Errorf("hidsim: slap kind %d: want 1 (right four), 2 (left four) or 3 (two thumbs)", kind)
}

// fingerBit returns the Missing/Repeat bit of a position within its slap.
func fingerBit(pos int) uint8 {
	switch pos {
	case 1:
		return 1
	case 6:
		return 2
	}
	return 1 << ((pos - 2) % 5)
}

// Stagger of the fingertips along the finger axis relative to the middle
// finger, in px at 500 ppi (down is towards the wrist): the index and ring
// fingers end about 3 and 2 mm short of the middle finger, the little
// finger about 10 mm (typical adult hand proportions).
var stagger = map[int]float64{2: 60, 3: 0, 4: 40, 5: 200, 7: 60, 8: 0, 9: 40, 10: 200, 1: 0, 6: 0}

// splay is each finger's own tilt from the hand axis, degrees clockwise,
// for a right hand (left hand mirrored): fingers fan out slightly.
var splay = map[int]float64{2: -4, 3: 0, 4: 3, 5: 7}

// RenderSlap composes a 1600x1500, 500 ppi slap.
func RenderSlap(spec SlapSpec) (*image.Gray, SlapTruth, error) {
	truth := SlapTruth{Spec: spec}
	if math.IsNaN(spec.RotationDeg) || math.Abs(spec.RotationDeg) > 45 {
		return nil, truth, fmt.Errorf("hidsim: hand rotation %v° out of range ±45", spec.RotationDeg)
	}
	kind := spec.Kind
	if spec.WrongHand {
		switch kind {
		case KindRightFour:
			kind = KindLeftFour
		case KindLeftFour:
			kind = KindRightFour
		}
	}
	order, err := handPositions(kind)
	if err != nil {
		return nil, truth, err
	}
	src := spec.Source
	if src == nil {
		src = SynthSource()
	}
	rng := rand.New(rand.NewPCG(spec.Identity, spec.Seed^0x736c6170))
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }

	// Hand frame: x across the fingers (left to right on the image), y
	// along them towards the wrist.
	type placed struct {
		pos      int
		hx, hy   float64
		angle    float64
		rendered int // finger actually rendered (differs when repeated)
	}
	var fingers []placed
	rot := spec.RotationDeg
	if kind == KindThumbs {
		// two hands side by side, thumbs 30-40 mm apart, each thumb
		// leaning inwards by 5-25°.
		gap := u(600, 780)
		tilt := u(5, 25)
		fingers = append(fingers,
			placed{pos: 6, hx: -gap / 2, hy: u(-40, 40), angle: rot + tilt},
			placed{pos: 1, hx: gap / 2, hy: u(-40, 40), angle: rot - tilt})
	} else {
		spacing := u(335, 375) // 17-19 mm between fingertip centres
		mirror := 1.0
		if kind == KindLeftFour {
			mirror = -1
		}
		for i, p := range order {
			base := (p-1)%5 + 1 // right-hand equivalent 2..5
			fingers = append(fingers, placed{
				pos: p, hx: (float64(i) - 1.5) * spacing,
				hy:    stagger[p] + u(-20, 20),
				angle: rot + mirror*splay[base] + u(-2, 2),
			})
		}
	}
	for i := range fingers {
		fingers[i].rendered = fingers[i].pos
		if spec.Repeat&fingerBit(fingers[i].pos) != 0 && kind != KindThumbs {
			fingers[i].rendered = map[int]int{KindRightFour: 2, KindLeftFour: 7}[kind]
		}
	}
	// Rotate the hand frame to the image and centre the hand's extent,
	// with a random shift within what stays on the platen.
	cr, sr := math.Cos(rot*math.Pi/180), math.Sin(rot*math.Pi/180)
	half := math.Hypot(tipW, tipH) / 2 * 0.8
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	cx := make([]float64, len(fingers))
	cy := make([]float64, len(fingers))
	for i, f := range fingers {
		cx[i] = f.hx*cr - f.hy*sr
		cy[i] = f.hx*sr + f.hy*cr
		minX, maxX = math.Min(minX, cx[i]-half), math.Max(maxX, cx[i]+half)
		minY, maxY = math.Min(minY, cy[i]-half), math.Max(maxY, cy[i]+half)
	}
	slackX := math.Max(0, (SlapWidth-(maxX-minX))/2)
	slackY := math.Max(0, (SlapHeight-(maxY-minY))/2)
	offX := SlapWidth/2 - (minX+maxX)/2 + u(-0.6, 0.6)*slackX
	offY := SlapHeight/2 - (minY+maxY)/2 + u(-0.6, 0.6)*slackY

	canvas := image.NewGray(image.Rect(0, 0, SlapWidth, SlapHeight))
	// platen background: light, with faint sensor noise (cheap LCG)
	// a noise tile copied row by row at shifting offsets
	seed := uint32(spec.Seed*2654435761 + spec.Identity)
	tile := make([]uint8, 2*SlapWidth)
	for i := range tile {
		seed = seed*1664525 + 1013904223
		tile[i] = uint8(230 + (seed>>28)&3)
	}
	for y := range SlapHeight {
		off := (y * 397) % SlapWidth
		copy(canvas.Pix[y*canvas.Stride:y*canvas.Stride+SlapWidth], tile[off:off+SlapWidth])
	}
	for i, f := range fingers {
		bit := fingerBit(f.pos)
		if spec.Missing&bit != 0 {
			continue
		}
		tip, err := src(spec.Identity, f.rendered, spec.Seed*16+uint64(f.pos))
		if err != nil {
			return nil, truth, fmt.Errorf("hidsim: rendering finger %d: %w", f.rendered, err)
		}
		c := image.Pt(int(math.Round(cx[i]+offX)), int(math.Round(cy[i]+offY)))
		box := stamp(canvas, tip, c, f.angle)
		truth.Fingers = append(truth.Fingers, FingerTruth{Position: f.rendered, Center: c, Box: box, AngleDeg: f.angle})
	}
	for range spec.Smudges {
		truth.Smudges = append(truth.Smudges, smudge(canvas, rng, truth.Fingers))
	}
	return canvas, truth, nil
}

// stamp draws tip rotated by angle (clockwise) centred on c, darkest wins
// (skin on glass), and returns the bounding box of its ridge ink.
func stamp(dst, tip *image.Gray, c image.Point, angle float64) image.Rectangle {
	tw, th := tip.Rect.Dx(), tip.Rect.Dy()
	a := angle * math.Pi / 180
	ca, sa := math.Cos(a), math.Sin(a)
	r := int(math.Ceil(math.Hypot(float64(tw), float64(th))/2)) + 1
	area := image.Rect(c.X-r, c.Y-r, c.X+r+1, c.Y+r+1).Intersect(dst.Rect)
	box := image.Rectangle{}
	first := true
	for y := area.Min.Y; y < area.Max.Y; y++ {
		dy := float64(y - c.Y)
		// the x range whose inverse lands inside the tip: sx and sy are
		// linear in dx, so each bounds dx to an interval
		lo, hi := float64(area.Min.X-c.X), float64(area.Max.X-1-c.X)
		clip := func(slope, base, limit float64) {
			// base + slope*dx in [0, limit)
			if math.Abs(slope) < 1e-12 {
				if base < 0 || base >= limit {
					lo, hi = 1, 0
				}
				return
			}
			a, b := (0-base)/slope, (limit-base)/slope
			if a > b {
				a, b = b, a
			}
			lo, hi = math.Max(lo, a), math.Min(hi, b)
		}
		clip(ca, dy*sa+float64(tw)/2, float64(tw-1))
		clip(-sa, dy*ca+float64(th)/2, float64(th-1))
		for x := c.X + int(math.Floor(lo)); x <= c.X+int(math.Ceil(hi)); x++ {
			if x < area.Min.X || x >= area.Max.X {
				continue
			}
			dx := float64(x - c.X)
			// inverse of a clockwise turn (y down)
			sx := dx*ca + dy*sa + float64(tw)/2
			sy := -dx*sa + dy*ca + float64(th)/2
			if sx < 0 || sy < 0 || sx >= float64(tw-1) || sy >= float64(th-1) {
				continue
			}
			ix, iy := int(sx), int(sy)
			fx, fy := sx-float64(ix), sy-float64(iy)
			p := tip.Pix[iy*tip.Stride+ix:]
			q := tip.Pix[(iy+1)*tip.Stride+ix:]
			v := (1-fy)*((1-fx)*float64(p[0])+fx*float64(p[1])) + fy*((1-fx)*float64(q[0])+fx*float64(q[1]))
			o := &dst.Pix[y*dst.Stride+x]
			if uint8(v) < *o {
				*o = uint8(v)
			}
			if v < 140 { // ridge ink
				pt := image.Rectangle{image.Pt(x, y), image.Pt(x+1, y+1)}
				if first {
					box, first = pt, false
				} else {
					box = box.Union(pt)
				}
			}
		}
	}
	return box
}

// smudge leaves a latent smear: a smooth grey blob without ridges, placed
// where it does not cover a fingertip.
func smudge(dst *image.Gray, rng *rand.Rand, avoid []FingerTruth) image.Rectangle {
	var c image.Point
	rad := 40 + rng.Float64()*50
	for try := 0; try < 50; try++ {
		c = image.Pt(100+rng.IntN(SlapWidth-200), 100+rng.IntN(SlapHeight-200))
		ok := true
		for _, f := range avoid {
			if c.In(f.Box.Inset(-int(rad) - 10)) {
				ok = false
				break
			}
		}
		if ok {
			break
		}
	}
	depth := 40 + rng.Float64()*50
	ex := 0.6 + 0.8*rng.Float64()
	R := int(rad*3.5) + 1
	box := image.Rect(c.X-R, c.Y-R, c.X+R+1, c.Y+R+1).Intersect(dst.Rect)
	for y := box.Min.Y; y < box.Max.Y; y++ {
		for x := box.Min.X; x < box.Max.X; x++ {
			dx, dy := float64(x-c.X)*ex, float64(y-c.Y)/ex
			d2 := (dx*dx + dy*dy) / (rad * rad)
			v := depth * math.Exp(-d2*1.5)
			o := &dst.Pix[y*dst.Stride+x]
			*o = uint8(math.Max(0, float64(*o)-v))
		}
	}
	return box
}

// defaultSlap is what the scanner sees when no Source is set: a good slap
// of identity 1 for the armed kind, fingers it does not expect missing.
func defaultSlap(a Arm) (*image.Gray, error) {
	img, _, err := RenderSlap(SlapSpec{Identity: 1, Kind: int(a.Kind), Missing: ^a.Expected & 0x0F, Seed: uint64(a.Capture)})
	return img, err
}
