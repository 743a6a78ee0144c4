package camsim

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"math"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/math/f64"
)

// Person is the portrait the simulator plays, with where its eyes are.
type Person struct {
	Img image.Image
	// Eyes are the eye centres in the portrait's pixels (image left first);
	// the simulator closes them to blink and turns the head about them.
	Eyes [2]image.Point
}

// Renderer draws frames of a scene.
type Renderer struct {
	W, H    int
	Quality int // JPEG quality
	person  *image.RGBA
	closed  *image.RGBA // the portrait with eyes closed
	eyes    [2]image.Point
	bg      *image.RGBA
	base    *image.RGBA // scene before light and noise
	baseKey string
	blurred *image.RGBA // base through an out-of-focus lens
	blurKey string
	tmp     []float32
	out     *image.RGBA
	// SceneKelvin is the colour temperature of the booth's light and
	// FocusAt the lens position at which the seated person is sharp; the
	// controls are judged against them (0: 5000 K, 120).
	SceneKelvin, FocusAt float64
	// Where the face is in the frame (eye midpoint x, inter-eye distance),
	// for light that falls across it.
	faceX, faceIED float64
	rng            uint64
	buf            bytes.Buffer
}

// NewRenderer prepares frames of w x h pixels.
func NewRenderer(w, h int, p Person) (*Renderer, error) {
	if w < 16 || h < 16 || w > 4096 || h > 4096 {
		return nil, fmt.Errorf("camsim: frame size %dx%d outside 16..4096", w, h)
	}
	b := p.Img.Bounds()
	if b.Dx() < 16 || b.Dy() < 16 {
		return nil, fmt.Errorf("camsim: portrait %dx%d too small", b.Dx(), b.Dy())
	}
	r := &Renderer{W: w, H: h, Quality: 85, eyes: p.Eyes, rng: 0x9e3779b97f4a7c15,
		SceneKelvin: DefaultSceneKelvin, FocusAt: DefaultFocusAt}
	r.person = image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(r.person, r.person.Bounds(), p.Img, b.Min, draw.Src)
	r.closed = closeEyes(r.person, p.Eyes)
	// The booth's backdrop: light grey, a little darker towards the floor.
	r.bg = image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		v := uint8(205 - 30*y/h)
		for x := 0; x < w; x++ {
			i := r.bg.PixOffset(x, y)
			copy(r.bg.Pix[i:i+4], []uint8{v, v, v - 4, 255})
		}
	}
	r.base = image.NewRGBA(r.bg.Rect)
	r.out = image.NewRGBA(r.bg.Rect)
	return r, nil
}

// closeEyes paints eyelids over the eyes: skin colour taken from just
// below each eye, in an ellipse about half the eye distance wide.
func closeEyes(src *image.RGBA, eyes [2]image.Point) *image.RGBA {
	out := image.NewRGBA(src.Rect)
	copy(out.Pix, src.Pix)
	ied := math.Hypot(float64(eyes[1].X-eyes[0].X), float64(eyes[1].Y-eyes[0].Y))
	rx, ry := 0.30*ied, 0.16*ied
	for _, e := range eyes {
		skin := src.RGBAAt(e.X, e.Y+int(0.45*ied))
		lash := color.RGBA{skin.R / 2, skin.G / 2, skin.B / 2, 255}
		for y := e.Y - int(ry) - 1; y <= e.Y+int(ry)+1; y++ {
			for x := e.X - int(rx) - 1; x <= e.X+int(rx)+1; x++ {
				dx, dy := float64(x-e.X)/rx, float64(y-e.Y)/ry
				d := dx*dx + dy*dy
				if !image.Pt(x, y).In(out.Rect) || d > 1 {
					continue
				}
				c := skin
				if dy > 0.15 && dy < 0.45 { // the closed lid's lash line
					c = lash
				}
				out.SetRGBA(x, y, c)
			}
		}
	}
	return out
}

// Frame renders scene s as a JPEG through a camera at its neutral
// settings. The returned bytes are valid until the next call.
func (r *Renderer) Frame(s State) ([]byte, error) {
	return r.FrameWith(s, DefaultControls(r.SceneKelvin, r.FocusAt), nil)
}

// FrameWith renders scene s as a JPEG through a camera set to c; a
// non-nil stamp is drawn over the top rows (see DrawStamp). The returned
// bytes are valid until the next call.
func (r *Renderer) FrameWith(s State, c Controls, stamp *Stamp) ([]byte, error) {
	r.drawBase(s)
	src := r.defocus(c.Focus)
	r.light(s, c, src)
	if stamp != nil {
		DrawStamp(r.out, *stamp)
	}
	r.buf.Reset()
	if err := jpeg.Encode(&r.buf, r.out, &jpeg.Options{Quality: r.Quality}); err != nil {
		return nil, err
	}
	return r.buf.Bytes(), nil
}

// drawBase places the person; the result is cached while the pose holds.
func (r *Renderer) drawBase(s State) {
	key := "empty"
	if s.Present {
		key = fmt.Sprintf("%.3f %.3f %.1f %.1f %v", s.X, s.Y, s.Tilt, s.Turn, s.Closed)
	}
	if key == r.baseKey {
		return
	}
	r.baseKey = key
	copy(r.base.Pix, r.bg.Pix)
	r.faceX, r.faceIED = float64(r.W)/2, float64(r.W)/2
	if !s.Present {
		return
	}
	src := r.person
	if s.Closed {
		src = r.closed
	}
	pb := src.Bounds()
	// Seated, the portrait fills 90% of the frame height, centred, resting
	// on the bottom edge: the face then takes about 40% of the height.
	scale := 0.9 * float64(r.H) / float64(pb.Dy())
	ex := float64(r.eyes[0].X+r.eyes[1].X) / 2
	ey := float64(r.eyes[0].Y+r.eyes[1].Y) / 2
	// Where the eye midpoint lands in the frame.
	cx := float64(r.W)/2 + (ex-float64(pb.Dx())/2)*scale + s.X*float64(r.W)
	cy := float64(r.H) - (float64(pb.Dy())-ey)*scale + s.Y*float64(r.H)
	// Turning: squeeze horizontally by cos(yaw) and shift the face towards
	// the turn, as the eye midpoint moves on a real head.
	yaw := s.Turn * math.Pi / 180
	sx := scale * math.Cos(yaw)
	cx += math.Sin(yaw) * 0.3 * float64(pb.Dx()) * scale / 2
	r.faceX = cx
	r.faceIED = math.Hypot(float64(r.eyes[1].X-r.eyes[0].X), float64(r.eyes[1].Y-r.eyes[0].Y)) * sx
	th := -s.Tilt * math.Pi / 180 // counter-clockwise on screen
	c, sn := math.Cos(th), math.Sin(th)
	// Frame point = R(th)·diag(sx, scale)·(p - eyes) + (cx, cy).
	m := f64.Aff3{
		c * sx, -sn * scale, 0,
		sn * sx, c * scale, 0,
	}
	m[2] = cx - (m[0]*ex + m[1]*ey)
	m[5] = cy - (m[3]*ex + m[4]*ey)
	xdraw.ApproxBiLinear.Transform(r.base, m, src, pb, xdraw.Over, nil)
}

// Defaults of the scene the controls are judged against.
const (
	DefaultSceneKelvin = 5000 // daylight-white booth lamps
	DefaultFocusAt     = 120
)

// Lens model: within depthOfField lens steps of FocusAt the picture is
// sharp; beyond, the blur radius grows by blurPerStep of the frame width
// per lens step (a lens 80 steps off blurs about 3% of the width).
const (
	depthOfField = 4
	blurPerStep  = 0.0004
)

// BlurRadius is the blur, in pixels, of a lens at position focus.
func (r *Renderer) BlurRadius(focus float64) int {
	off := math.Abs(focus-r.FocusAt) - depthOfField
	if off <= 0 {
		return 0
	}
	return int(math.Round(off * blurPerStep * float64(r.W)))
}

// defocus returns the scene as the lens at position focus shows it: the
// base blurred by two passes of a box filter of the lens's blur radius
// (close to a Gaussian), cached while pose and focus hold.
func (r *Renderer) defocus(focus float64) *image.RGBA {
	rad := r.BlurRadius(focus)
	if rad == 0 {
		return r.base
	}
	key := fmt.Sprintf("%s|%d", r.baseKey, rad)
	if key == r.blurKey {
		return r.blurred
	}
	if r.blurred == nil {
		r.blurred = image.NewRGBA(r.base.Rect)
	}
	copy(r.blurred.Pix, r.base.Pix)
	for range 2 {
		boxBlur(r.blurred, rad, &r.tmp)
	}
	r.blurKey = key
	return r.blurred
}

// boxBlur averages each pixel over a (2rad+1)² square, horizontally then
// vertically, with running sums; edges repeat the border pixel.
func boxBlur(img *image.RGBA, rad int, tmp *[]float32) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	n := max(w, h)
	if cap(*tmp) < 3*n {
		*tmp = make([]float32, 3*n)
	}
	line := (*tmp)[:3*n]
	norm := 1 / float32(2*rad+1)
	pass := func(count, length int, at func(i, j int) int) {
		for i := 0; i < count; i++ {
			for j := 0; j < length; j++ {
				o := at(i, j)
				line[3*j], line[3*j+1], line[3*j+2] = float32(img.Pix[o]), float32(img.Pix[o+1]), float32(img.Pix[o+2])
			}
			var s [3]float32
			for k := -rad; k <= rad; k++ {
				j := min(max(k, 0), length-1)
				for c := range 3 {
					s[c] += line[3*j+c]
				}
			}
			for j := 0; j < length; j++ {
				o := at(i, j)
				for c := range 3 {
					img.Pix[o+c] = uint8(s[c]*norm + 0.5)
				}
				add, sub := min(j+rad+1, length-1), max(j-rad, 0)
				for c := range 3 {
					s[c] += line[3*add+c] - line[3*sub+c]
				}
			}
		}
	}
	pass(h, w, func(y, x int) int { return y*img.Stride + 4*x })
	pass(w, h, func(x, y int) int { return y*img.Stride + 4*x })
}

// whiteBalanceCast is the change of ln(R/G) (and of ln(G/B)) per mired
// between the light's colour temperature and the one the camera corrects
// for: about 20% red-to-green per 100 mired, in the range of a consumer
// sensor's daylight-to-tungsten shift.
const whiteBalanceCast = 0.0018

// gainNoise is the sensor's own noise in grey levels at 0 dB; gain
// amplifies it (the part above unit gain is added to the picture).
const gainNoise = 2.0

// light applies exposure, gain, white balance, the side ramp and sensor
// noise to src into r.out.
func (r *Renderer) light(s State, c Controls, src *image.RGBA) {
	w := r.W
	gainLin := math.Pow(10, c.Gain/20)
	k := s.Gain * c.Exposure / nominalExposure * gainLin
	gains := make([]float64, w)
	// A side light falls off across the face: the ramp runs from one
	// inter-eye distance left of the eyes' midpoint to one to its right.
	for x := range gains {
		t := math.Max(-1, math.Min(1, (float64(x)-r.faceX)/math.Max(1, r.faceIED)))
		gains[x] = k * (1 - s.Side*t)
	}
	// White balance in mired (1e6/K): positive d is light warmer than the
	// camera expects, rendering red up and blue down.
	d := 0.0
	if c.WhiteBalance > 0 && r.SceneKelvin > 0 {
		d = 1e6/r.SceneKelvin - 1e6/c.WhiteBalance
	}
	mr, mb := math.Exp(whiteBalanceCast*d), math.Exp(-whiteBalanceCast*d)
	noise := s.Noise
	if gainLin > 1 {
		noise = math.Sqrt(noise*noise + gainNoise*gainNoise*(gainLin*gainLin-1))
	}
	for y := 0; y < r.H; y++ {
		row := src.Pix[y*src.Stride:]
		out := r.out.Pix[y*r.out.Stride:]
		for x := 0; x < w; x++ {
			g := gains[x]
			var n float64
			if noise > 0 {
				n = noise * r.gauss()
			}
			i := x * 4
			out[i] = clamp(float64(row[i])*g*mr + n)
			out[i+1] = clamp(float64(row[i+1])*g + n)
			out[i+2] = clamp(float64(row[i+2])*g*mb + n)
			out[i+3] = 255
		}
	}
}

// gauss is an approximately normal deviate (sum of uniforms), from a
// xorshift generator: fast and deterministic.
func (r *Renderer) gauss() float64 {
	var s float64
	for i := 0; i < 3; i++ {
		r.rng ^= r.rng << 13
		r.rng ^= r.rng >> 7
		r.rng ^= r.rng << 17
		s += float64(r.rng>>11) / (1 << 53)
	}
	// Three uniforms: mean 1.5, variance 1/4.
	return (s - 1.5) * 2
}

func clamp(v float64) uint8 {
	if v <= 0 {
		return 0
	}
	if v >= 255 {
		return 255
	}
	return uint8(v + 0.5)
}
