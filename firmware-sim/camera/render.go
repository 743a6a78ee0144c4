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
	out     *image.RGBA
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
	r := &Renderer{W: w, H: h, Quality: 85, eyes: p.Eyes, rng: 0x9e3779b97f4a7c15}
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

// Frame renders scene s as a JPEG. The returned bytes are valid until the
// next call.
func (r *Renderer) Frame(s State) ([]byte, error) {
	r.drawBase(s)
	r.light(s)
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

// light applies gain, the side ramp and sensor noise into r.out.
func (r *Renderer) light(s State) {
	w := r.W
	gains := make([]float64, w)
	// A side light falls off across the face: the ramp runs from one
	// inter-eye distance left of the eyes' midpoint to one to its right.
	for x := range gains {
		t := math.Max(-1, math.Min(1, (float64(x)-r.faceX)/math.Max(1, r.faceIED)))
		gains[x] = s.Gain * (1 - s.Side*t)
	}
	noise := s.Noise
	for y := 0; y < r.H; y++ {
		row := r.base.Pix[y*r.base.Stride:]
		out := r.out.Pix[y*r.out.Stride:]
		for x := 0; x < w; x++ {
			g := gains[x]
			var n float64
			if noise > 0 {
				n = noise * r.gauss()
			}
			i := x * 4
			out[i] = clamp(float64(row[i])*g + n)
			out[i+1] = clamp(float64(row[i+1])*g + n)
			out[i+2] = clamp(float64(row[i+2])*g + n)
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
