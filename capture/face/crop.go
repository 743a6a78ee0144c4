package face

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"

	"gocv.io/x/gocv"
)

// Geometry places the eyes in an output portrait.
type Geometry struct {
	Name string
	// Width and Height of the output in pixels.
	Width, Height int
	// EyeDistance is the inter-eye distance as a fraction of Width; EyeY
	// is the eye line's distance from the top as a fraction of Height.
	// The eye midpoint is centred horizontally.
	EyeDistance, EyeY float64
}

// Token is the ISO/IEC 19794-5:2005 §9.2 token frontal geometry at its
// smallest width (240 px): aspect 3:4, eye distance W/4, eye midpoint at
// W/2 across and 0.6·W from the top.
var Token = Geometry{Name: "token", Width: 240, Height: 320, EyeDistance: 0.25, EyeY: 0.6 * 240 / 320}

// FullFrontal is a 480x640 (3:4) full-frontal portrait. ISO/IEC 19794-5
// §8.3 asks the head to fill 50-75% of the width and 60-90% of the
// height, with the eye line 50-70% of the height from the bottom: an eye
// distance of 0.27·W puts the head at about 60% of the width and the eye
// line at 0.44·H from the top (56% from the bottom) does the rest.
var FullFrontal = Geometry{Name: "full-frontal", Width: 480, Height: 640, EyeDistance: 0.27, EyeY: 0.44}

// Crop rotates, scales and crops a BGR frame so that the face's eyes sit
// where the geometry puts them. Areas outside the frame are filled by
// replicating its border. The caller closes the returned Mat.
func Crop(bgr gocv.Mat, f Face, g Geometry) (gocv.Mat, error) {
	if bgr.Empty() {
		return gocv.NewMat(), errors.New("face: crop of an empty frame")
	}
	if g.Width < 16 || g.Height < 16 || g.EyeDistance <= 0 || g.EyeY <= 0 || g.EyeY >= 1 {
		return gocv.NewMat(), fmt.Errorf("face: crop geometry %+v is not usable", g)
	}
	e0, e1 := f.Eyes[0], f.Eyes[1]
	dx, dy := e1.X-e0.X, e1.Y-e0.Y
	ied := math.Hypot(dx, dy)
	if ied < 2 {
		return gocv.NewMat(), errors.New("face: crop needs two eye positions")
	}
	// Similarity transform: rotate the eye line level, scale the eye
	// distance to its target, move the eye midpoint to its target.
	s := g.EyeDistance * float64(g.Width) / ied
	th := -math.Atan2(dy, dx)
	cos, sin := s*math.Cos(th), s*math.Sin(th)
	mx, my := (e0.X+e1.X)/2, (e0.Y+e1.Y)/2
	tx := float64(g.Width)/2 - (cos*mx - sin*my)
	ty := g.EyeY*float64(g.Height) - (sin*mx + cos*my)
	m := gocv.NewMatWithSize(2, 3, gocv.MatTypeCV64F)
	defer m.Close()
	m.SetDoubleAt(0, 0, cos)
	m.SetDoubleAt(0, 1, -sin)
	m.SetDoubleAt(0, 2, tx)
	m.SetDoubleAt(1, 0, sin)
	m.SetDoubleAt(1, 1, cos)
	m.SetDoubleAt(1, 2, ty)
	out := gocv.NewMat()
	interp := gocv.InterpolationArea
	if s > 1 {
		interp = gocv.InterpolationCubic
	}
	gocv.WarpAffineWithParams(bgr, &out, m, image.Pt(g.Width, g.Height), interp, gocv.BorderReplicate, color.RGBA{})
	return out, nil
}

// MinPortraitWidth is the narrowest portrait EncodeJPEG will scale down
// to: the ISO/IEC 19794-5 §9.2 token image's minimum width.
const MinPortraitWidth = 240

// EncodeJPEG encodes a BGR image as JPEG at the highest quality whose
// output fits in budget bytes (budget <= 0: quality 95). When even the
// lowest acceptable quality is too large it scales the image down (same
// proportions, so eye geometry is kept) to no less than MinPortraitWidth,
// and fails beyond that.
func EncodeJPEG(bgr gocv.Mat, budget int) ([]byte, error) {
	if bgr.Empty() {
		return nil, errors.New("face: encode of an empty image")
	}
	if budget <= 0 {
		return encodeQ(bgr, 95)
	}
	img := bgr
	var scaled gocv.Mat
	haveScaled := false
	defer func() {
		if haveScaled {
			scaled.Close()
		}
	}()
	for {
		b, err := encodeWithin(img, budget)
		if err == nil || err != errOverBudget {
			return b, err
		}
		w := int(float64(img.Cols()) * 0.85)
		if w < MinPortraitWidth || w == img.Cols() {
			return nil, fmt.Errorf("face: %dx%d portrait does not fit in %d bytes even at %d px wide and JPEG quality %d (raise the budget)",
				bgr.Cols(), bgr.Rows(), budget, img.Cols(), minJPEGQuality)
		}
		h := max(1, img.Rows()*w/img.Cols())
		next := gocv.NewMat()
		gocv.Resize(bgr, &next, image.Pt(w, h), 0, 0, gocv.InterpolationArea)
		if haveScaled {
			scaled.Close()
		}
		scaled, img, haveScaled = next, next, true
	}
}

// Below quality 30 faces show block artefacts that the compression check
// of this package would itself reject.
const minJPEGQuality, maxJPEGQuality = 30, 95

var errOverBudget = errors.New("over budget")

func encodeQ(m gocv.Mat, q int) ([]byte, error) {
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, []int{gocv.IMWriteJpegQuality, q})
	if err != nil {
		return nil, err
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...), nil
}

// encodeWithin finds the highest quality that fits by bisection.
func encodeWithin(m gocv.Mat, budget int) ([]byte, error) {
	best, err := encodeQ(m, minJPEGQuality)
	if err != nil {
		return nil, err
	}
	if len(best) > budget {
		return nil, errOverBudget
	}
	lo, hi := minJPEGQuality, maxJPEGQuality // invariant: lo fits
	for lo < hi {
		q := (lo + hi + 1) / 2
		b, err := encodeQ(m, q)
		if err != nil {
			return nil, err
		}
		if len(b) <= budget {
			lo, best = q, b
		} else {
			hi = q - 1
		}
	}
	return best, nil
}

// CropJPEG decodes an image file, crops face f to geometry g and encodes
// it within budget bytes.
func CropJPEG(data []byte, f Face, g Geometry, budget int) ([]byte, error) {
	m, err := gocv.IMDecode(data, gocv.IMReadColor)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	if m.Empty() {
		return nil, errors.New("face: image could not be decoded")
	}
	c, err := Crop(m, f, g)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return EncodeJPEG(c, budget)
}
