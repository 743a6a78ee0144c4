package face

import (
	"fmt"
	"image"
	"math"

	"gocv.io/x/gocv"
)

// measures are the raw values of one face's components.
type measures struct {
	face                  Face
	ied                   float64 // inter-eye distance, px
	headSize              float64 // face box height / frame height
	left, right           float64 // eye midpoint to side borders, in IEDs
	above, below          float64 // eye midpoint to top/bottom border, in IEDs
	centreX, centreY      float64 // eye midpoint as a fraction of the frame
	roll, yaw, pitch      float64 // degrees
	rollKnown             bool
	eyesFound             int
	mouthDark             float64
	sharpness             float64
	lumMean, lumVar       float64
	under, over           float64
	dynRange              float64
	uniformity            float64
	colA, colB            float64
	bgGrad                float64
	bgKnown               bool
	blockiness            float64
	blockKnown, mouthKnwn bool
}

// sharpnessWidth is the width the face is scaled to before the Laplacian,
// so that sharpness does not depend on the camera's resolution.
const sharpnessWidth = 128

// plane is an 8-bit single-channel or 3-channel image in Go's view.
type plane struct {
	pix    []uint8
	w, h   int
	stride int
	ch     int
}

func planeOf(m *gocv.Mat) (plane, error) {
	if !m.IsContinuous() {
		return plane{}, fmt.Errorf("face: internal: non-continuous image")
	}
	p, err := m.DataPtrUint8()
	if err != nil {
		return plane{}, err
	}
	ch := m.Channels()
	return plane{pix: p, w: m.Cols(), h: m.Rows(), stride: m.Cols() * ch, ch: ch}, nil
}

func (p plane) at(x, y int) uint8 { return p.pix[y*p.stride+x*p.ch] }

// measure computes the components of face f in bgrIn, the analysis image
// (whose grey copy is a.gray); full is the full-resolution frame when
// bgrIn was reduced from one (nil otherwise): sharpness and compression
// are then measured on the face region at full resolution. reduced is how
// many frame pixels one analysis pixel spans (1: not reduced).
func (a *Analyzer) measure(bgrIn gocv.Mat, f Face, full *gocv.Mat, reduced float64) (*measures, error) {
	bgr := bgrIn
	if !bgr.IsContinuous() {
		bgrIn.CopyTo(&a.rot)
		bgr = a.rot
	}
	g, err := planeOf(&a.gray)
	if err != nil {
		return nil, err
	}
	c, err := planeOf(&bgr)
	if err != nil {
		return nil, err
	}
	W, H := float64(g.w), float64(g.h)
	m := &measures{face: f, eyesFound: f.EyesFound}
	e0, e1 := f.Eyes[0], f.Eyes[1]
	m.ied = math.Hypot(e1.X-e0.X, e1.Y-e0.Y)
	ied := math.Max(m.ied, 1)
	mid := PointF{(e0.X + e1.X) / 2, (e0.Y + e1.Y) / 2}
	b := f.Box
	m.headSize = float64(b.Dy()) / H
	// OFIQ leftward/rightward crop and margins: distance of the eye
	// midpoint to each border in inter-eye distances. Boxes clipped at the
	// border are caught too, because the midpoint then lies near the edge.
	m.left = mid.X / ied
	m.right = (W - mid.X) / ied
	m.above = mid.Y / ied
	m.below = (H - mid.Y) / ied
	m.centreX, m.centreY = mid.X/W, mid.Y/H

	// Roll from the eye line (ICAO 9303 p9: head tilt), when both eyes
	// were found or the detector gave landmarks.
	if f.EyesFound == 2 || f.HasLandmarks {
		m.roll = math.Atan2(e1.Y-e0.Y, e1.X-e0.X) * 180 / math.Pi
		m.rollKnown = true
	} else if f.Tilt != 0 {
		m.roll, m.rollKnown = -f.Tilt, true
	}
	// Yaw and pitch estimates. With landmarks: the nose tip stands about
	// 0.6 IED in front of the eye plane, so it shifts by 0.6·IED·sin(yaw);
	// and sits about 0.5 IED below the eye line when the head is level.
	// Without: the eye midpoint's offset from the box centre (the cascade
	// box follows the face outline) and the eye line's height in the box
	// (0.38 of the box when level).
	if f.HasLandmarks {
		l0, l1 := f.lmEyes[0], f.lmEyes[1]
		if l0 == (PointF{}) && l1 == (PointF{}) {
			l0, l1 = e0, e1
		}
		lmid := PointF{(l0.X + l1.X) / 2, (l0.Y + l1.Y) / 2}
		lied := math.Max(1, math.Hypot(l1.X-l0.X, l1.Y-l0.Y))
		m.yaw = asinDeg((f.Nose.X - lmid.X) / (0.6 * lied))
		m.pitch = asinDeg(((f.Nose.Y-lmid.Y)/lied - 0.5) / 0.6)
	} else {
		cx := float64(b.Min.X+b.Max.X) / 2
		m.yaw = asinDeg((mid.X - cx) / (0.6 * ied))
		m.pitch = asinDeg(((mid.Y-float64(b.Min.Y))/float64(b.Dy()) - 0.38) / 0.3)
	}

	frame := image.Rect(0, 0, g.w, g.h)
	// Inner face: the box without hair, ears and background at its edges.
	inner := image.Rect(b.Min.X+b.Dx()/5, b.Min.Y+b.Dy()/5, b.Max.X-b.Dx()/5, b.Max.Y-b.Dy()/10).Intersect(frame)
	if inner.Dx() < 2 || inner.Dy() < 2 {
		inner = b.Intersect(frame)
	}
	var hist [256]int
	n := 0
	for y := inner.Min.Y; y < inner.Max.Y; y++ {
		row := g.pix[y*g.stride:]
		for x := inner.Min.X; x < inner.Max.X; x++ {
			hist[row[x]]++
			n++
		}
	}
	if n == 0 {
		return m, nil
	}
	var sum, sum2 float64
	for v, k := range hist {
		fv := float64(v) / 255
		sum += fv * float64(k)
		sum2 += fv * fv * float64(k)
	}
	m.lumMean = sum / float64(n)
	m.lumVar = math.Max(0, sum2/float64(n)-m.lumMean*m.lumMean)
	// Under- and over-exposure: tails below 25 and above 247 grey levels.
	lo, hi := 0, 0
	for v := 0; v < 25; v++ {
		lo += hist[v]
	}
	for v := 248; v < 256; v++ {
		hi += hist[v]
	}
	m.under, m.over = float64(lo)/float64(n), float64(hi)/float64(n)
	// OFIQ DynamicRange: entropy of the face's luminance histogram, bits.
	for _, k := range hist {
		if k > 0 {
			p := float64(k) / float64(n)
			m.dynRange -= p * math.Log2(p)
		}
	}
	median := histMedian(hist[:], n)

	// Illumination uniformity: mean luminance of the two cheeks, under
	// each eye and a little outward, darker over brighter.
	r := int(math.Max(1, 0.25*ied))
	cheek := func(e PointF, dir float64) float64 {
		cx, cy := int(e.X+dir*0.1*ied), int(e.Y+0.6*ied)
		return meanGray(g, image.Rect(cx-r, cy-r, cx+r, cy+r).Intersect(frame))
	}
	cl, cr := cheek(e0, -1), cheek(e1, 1)
	if hi := math.Max(cl, cr); hi > 0 {
		m.uniformity = math.Min(cl, cr) / hi
	}

	// Mouth closed (heuristic): share of pixels much darker than the face
	// median in the mouth region, about 1.0-1.4 IED below the eye line; an
	// open mouth shows a dark cavity.
	mouth := image.Rect(int(mid.X-0.45*ied), int(mid.Y+0.95*ied), int(mid.X+0.45*ied), int(mid.Y+1.4*ied)).Intersect(frame)
	if f.HasLandmarks {
		my := (f.Mouth[0].Y + f.Mouth[1].Y) / 2
		mouth = image.Rect(int(f.Mouth[0].X), int(my-0.2*ied), int(f.Mouth[1].X), int(my+0.2*ied)).Intersect(frame)
	}
	if mouth.Dx() > 1 && mouth.Dy() > 1 {
		dark, tot := 0, 0
		lim := uint8(float64(median) * 0.45)
		for y := mouth.Min.Y; y < mouth.Max.Y; y++ {
			for x := mouth.Min.X; x < mouth.Max.X; x++ {
				if g.at(x, y) < lim {
					dark++
				}
				tot++
			}
		}
		m.mouthDark = float64(dark) / float64(tot)
		m.mouthKnwn = true
	}

	// Natural colour (OFIQ): mean CIELAB a* and b* of the inner face.
	m.colA, m.colB = meanLab(c, inner)

	// Sharpness: variance of the Laplacian of the face scaled to 128 px;
	// compression: block-border steps on the face. Both read the face at
	// full resolution when the frame was reduced for analysis.
	fb := b.Intersect(frame)
	fsrc, fgrid, period := a.gray, fb, 8
	if full != nil && (full.Cols() != g.w || full.Rows() != g.h) {
		sx, sy := float64(full.Cols())/W, float64(full.Rows())/H
		ff := image.Rect(int(float64(fb.Min.X)*sx), int(float64(fb.Min.Y)*sy),
			int(float64(fb.Max.X)*sx), int(float64(fb.Max.Y)*sy)).Intersect(image.Rect(0, 0, full.Cols(), full.Rows()))
		if ff.Dx() >= 4 && ff.Dy() >= 4 {
			roi := full.Region(ff)
			gocv.CvtColor(roi, &a.fgray, gocv.ColorBGRToGray)
			roi.Close()
			fsrc, fb, fgrid = a.fgray, image.Rect(0, 0, ff.Dx(), ff.Dy()), ff
		}
	} else if reduced > 1 {
		// A reduced JPEG decode: libjpeg scaled each 8-px block to 8/f px.
		period = max(1, int(math.Round(8/reduced)))
	}
	if fb.Dx() >= 4 && fb.Dy() >= 4 {
		roi := fsrc.Region(fb)
		sh := max(4, int(float64(fb.Dy())*sharpnessWidth/float64(fb.Dx())+0.5))
		interp := gocv.InterpolationArea
		if fb.Dx() < sharpnessWidth {
			interp = gocv.InterpolationLinear
		}
		gocv.Resize(roi, &a.face, image.Pt(sharpnessWidth, sh), 0, 0, interp)
		roi.Close()
		if fp, err := planeOf(&a.face); err == nil {
			m.sharpness = laplacianVar(fp)
		}
	}

	// Compression artefacts: JPEG codes 8x8 blocks from the image origin;
	// blocky images step more across block borders than inside blocks.
	if fb.Dx() >= 4*period && fb.Dy() >= 4*period && period >= 4 {
		if fp, err := planeOf(&fsrc); err == nil {
			m.blockiness, m.blockKnown = blockiness(fp, fb, fgrid.Min.Sub(fb.Min), period), true
		}
	}

	// Background uniformity (OFIQ): mean gradient length outside the head
	// and shoulders, on the frame scaled to the detection width (whatever
	// resolution the camera has, the same detail counts as busy).
	bs := math.Min(float64(a.opts.DetectWidth)/W, 2)
	interp := gocv.InterpolationArea
	if bs > 1 {
		interp = gocv.InterpolationLinear
	}
	gocv.Resize(a.gray, &a.bg, image.Pt(max(1, int(W*bs+0.5)), max(1, int(H*bs+0.5))), 0, 0, interp)
	if sg, err := planeOf(&a.bg); err == nil && sg.w > 2 && sg.h > 2 {
		sx, sy := float64(sg.w)/W, float64(sg.h)/H
		head := image.Rect(
			int((float64(b.Min.X)-0.4*float64(b.Dx()))*sx), int((float64(b.Min.Y)-0.6*float64(b.Dy()))*sy),
			int((float64(b.Max.X)+0.4*float64(b.Dx()))*sx), sg.h)
		body := image.Rect(int((float64(b.Min.X)-1.0*float64(b.Dx()))*sx), int((float64(b.Max.Y)+0.3*float64(b.Dy()))*sy), int((float64(b.Max.X)+1.0*float64(b.Dx()))*sx), sg.h)
		m.bgGrad, m.bgKnown = backgroundGradient(sg, head, body)
	}
	return m, nil
}

func asinDeg(v float64) float64 {
	return math.Asin(math.Max(-1, math.Min(1, v))) * 180 / math.Pi
}

func histMedian(h []int, n int) int {
	acc := 0
	for v, k := range h {
		acc += k
		if acc*2 >= n {
			return v
		}
	}
	return 255
}

func meanGray(g plane, r image.Rectangle) float64 {
	if r.Empty() {
		return 0
	}
	var s int
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := g.pix[y*g.stride:]
		for x := r.Min.X; x < r.Max.X; x++ {
			s += int(row[x])
		}
	}
	return float64(s) / float64(r.Dx()*r.Dy())
}

func laplacianVar(p plane) float64 {
	var s, s2 float64
	n := 0
	for y := 1; y < p.h-1; y++ {
		for x := 1; x < p.w-1; x++ {
			v := 4*float64(p.at(x, y)) - float64(p.at(x-1, y)) - float64(p.at(x+1, y)) - float64(p.at(x, y-1)) - float64(p.at(x, y+1))
			s += v
			s2 += v * v
			n++
		}
	}
	if n == 0 {
		return 0
	}
	mean := s / float64(n)
	return s2/float64(n) - mean*mean
}

// blockiness is the mean step across block borders over the mean step
// inside blocks, in region r of g; block borders fall every period pixels
// counted from the frame's origin; g's pixel x is the frame's x+off.X.
// Steps across columns are summed on every other row and steps across rows
// on every other column: the block grid is the same on each, and the
// ratio of means does not need every pixel.
func blockiness(g plane, r image.Rectangle, off image.Point, period int) float64 {
	var across, inside, na, ni int
	ox, oy := ((off.X%period)+period)%period, ((off.Y%period)+period)%period
	for y := r.Min.Y; y < r.Max.Y; y += 2 {
		row := g.pix[y*g.stride:]
		for x := max(r.Min.X, 1); x < r.Max.X; x++ {
			d := int(row[x]) - int(row[x-1])
			if d < 0 {
				d = -d
			}
			if (x+ox)%period == 0 {
				across += d
				na++
			} else {
				inside += d
				ni++
			}
		}
	}
	for y := max(r.Min.Y, 1); y < r.Max.Y; y++ {
		row, prev := g.pix[y*g.stride:], g.pix[(y-1)*g.stride:]
		border := (y+oy)%period == 0
		for x := r.Min.X; x < r.Max.X; x += 2 {
			d := int(row[x]) - int(prev[x])
			if d < 0 {
				d = -d
			}
			if border {
				across += d
				na++
			} else {
				inside += d
				ni++
			}
		}
	}
	if na == 0 || ni == 0 {
		return 1
	}
	in := float64(inside) / float64(ni)
	// A flat face region has no steps at all: call it not blocky.
	if in < 0.5 {
		in = 0.5
	}
	return (float64(across) / float64(na)) / in
}

func backgroundGradient(p plane, head, body image.Rectangle) (float64, bool) {
	var s float64
	n := 0
	for y := 1; y < p.h-1; y++ {
		for x := 1; x < p.w-1; x++ {
			pt := image.Pt(x, y)
			if pt.In(head) || pt.In(body) {
				continue
			}
			gx := float64(p.at(x+1, y)) - float64(p.at(x-1, y))
			gy := float64(p.at(x, y+1)) - float64(p.at(x, y-1))
			s += math.Sqrt(gx*gx+gy*gy) / 2
			n++
		}
	}
	// Less than 5% of the frame outside the person: nothing to judge.
	if n*20 < p.w*p.h {
		return 0, false
	}
	return s / float64(n), true
}

var srgbLinear = func() (t [256]float64) {
	for i := range t {
		v := float64(i) / 255
		if v <= 0.04045 {
			t[i] = v / 12.92
		} else {
			t[i] = math.Pow((v+0.055)/1.055, 2.4)
		}
	}
	return
}()

// meanLab returns the mean CIELAB a* and b* (D65 white) of a BGR region,
// sampling every other pixel.
func meanLab(c plane, r image.Rectangle) (float64, float64) {
	var sa, sb float64
	n := 0
	f := func(t float64) float64 {
		if t > 216.0/24389 {
			return math.Cbrt(t)
		}
		return (24389.0/27*t + 16) / 116
	}
	for y := r.Min.Y; y < r.Max.Y; y += 2 {
		for x := r.Min.X; x < r.Max.X; x += 2 {
			i := y*c.stride + x*3
			bl, gl, rl := srgbLinear[c.pix[i]], srgbLinear[c.pix[i+1]], srgbLinear[c.pix[i+2]]
			X := (0.4124*rl + 0.3576*gl + 0.1805*bl) / 0.95047
			Y := 0.2126*rl + 0.7152*gl + 0.0722*bl
			Z := (0.0193*rl + 0.1192*gl + 0.9505*bl) / 1.08883
			fx, fy, fz := f(X), f(Y), f(Z)
			sa += 500 * (fx - fy)
			sb += 200 * (fy - fz)
			n++
		}
	}
	if n == 0 {
		return 0, 0
	}
	return sa / float64(n), sb / float64(n)
}
