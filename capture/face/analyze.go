package face

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // DecodeConfig of JPEG headers
	_ "image/png"  // DecodeConfig of PNG headers
	"math"

	"gocv.io/x/gocv"
)

// Options configure an Analyzer.
type Options struct {
	// FaceCascade and EyeCascade are cascade XML files; empty selects the
	// Debian opencv-data defaults.
	FaceCascade string `toml:"face_cascade"`
	EyeCascade  string `toml:"eye_cascade"`
	// DetectWidth is the width frames are scaled to before face detection
	// (the checks themselves run on the full frame). 0: 320 px.
	DetectWidth int `toml:"detect_width"`
	// Detector replaces the cascade face detector (for example YuNet).
	// The Analyzer closes it.
	Detector   Detector   `toml:"-"`
	Thresholds Thresholds `toml:"thresholds"`
	// OpenCVThreads for OpenCV's parallel loops (see SetOpenCVThreads);
	// 0: one. Negative: leave OpenCV's setting alone.
	OpenCVThreads int `toml:"opencv_threads"`
	// TrackEvery turns on tracking for live video: when the last frame
	// had exactly one face, the next frames look for it only near where
	// it was, and every TrackEvery-th frame searches the whole frame again
	// (so a second person is still noticed within that many frames).
	// 0 or 1: search every whole frame, as for still images.
	TrackEvery int `toml:"track_every"`
}

// Limits on input images: larger pictures are refused before decoding, so
// that a hostile header cannot make us allocate gigabytes.
const (
	MaxImageSide   = 8192
	MaxImagePixels = 40 << 20
)

// Analyzer runs the detector and the quality checks on frames. It keeps
// scratch images between calls; it is not safe for concurrent use.
type Analyzer struct {
	opts  Options
	det   Detector
	eyes  *eyeFinder
	gray  gocv.Mat
	small gocv.Mat
	sgray gocv.Mat
	face  gocv.Mat // face box scaled to sharpnessWidth
	rot   gocv.Mat
	rotG  gocv.Mat
	// Tracking state (Options.TrackEvery).
	last      image.Rectangle
	lastSize  image.Point
	sinceFull int
}

// NewAnalyzer loads the detectors. Close it when done.
func NewAnalyzer(opts Options) (*Analyzer, error) {
	if opts.DetectWidth <= 0 {
		opts.DetectWidth = 320
	}
	if opts.Thresholds == (Thresholds{}) {
		opts.Thresholds = DefaultThresholds()
	}
	if opts.OpenCVThreads >= 0 {
		SetOpenCVThreads(max(opts.OpenCVThreads, 1))
	}
	a := &Analyzer{opts: opts}
	var err error
	if opts.Detector != nil {
		a.det = opts.Detector
	} else if a.det, err = NewCascadeDetector(opts.FaceCascade); err != nil {
		return nil, err
	}
	if a.eyes, err = newEyeFinder(opts.EyeCascade); err != nil {
		a.det.Close()
		return nil, err
	}
	a.gray, a.small, a.sgray, a.face = gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	a.rot, a.rotG = gocv.NewMat(), gocv.NewMat()
	return a, nil
}

// Close releases the detectors and scratch images.
func (a *Analyzer) Close() error {
	if a.det == nil {
		return nil
	}
	for _, m := range []*gocv.Mat{&a.gray, &a.small, &a.sgray, &a.face, &a.rot, &a.rotG} {
		m.Close()
	}
	a.eyes.Close()
	err := a.det.Close()
	a.det = nil
	return err
}

// Thresholds returns the limits in use.
func (a *Analyzer) Thresholds() Thresholds { return a.opts.Thresholds }

// AnalyzeBytes decodes a JPEG or PNG image and analyses it.
func (a *Analyzer) AnalyzeBytes(data []byte) (Result, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return Result{}, fmt.Errorf("face: reading image header: %w", err)
	}
	if format != "jpeg" && format != "png" {
		return Result{}, fmt.Errorf("face: %s images are not accepted (JPEG or PNG)", format)
	}
	if err := checkSize(cfg.Width, cfg.Height); err != nil {
		return Result{}, err
	}
	m, err := gocv.IMDecode(data, gocv.IMReadColor)
	if err != nil {
		return Result{}, fmt.Errorf("face: decoding %s image: %w", format, err)
	}
	defer m.Close()
	if m.Empty() {
		return Result{}, fmt.Errorf("face: %s image %dx%d could not be decoded (truncated or corrupt)", format, cfg.Width, cfg.Height)
	}
	return a.Analyze(m)
}

// AnalyzeRaw analyses a frame given as packed 8-bit BGR pixels.
func (a *Analyzer) AnalyzeRaw(width, height int, bgr []byte) (Result, error) {
	if err := checkSize(width, height); err != nil {
		return Result{}, err
	}
	if len(bgr) != width*height*3 {
		return Result{}, fmt.Errorf("face: raw frame %dx%d needs %d bytes, got %d", width, height, width*height*3, len(bgr))
	}
	m, err := gocv.NewMatFromBytes(height, width, gocv.MatTypeCV8UC3, bgr)
	if err != nil {
		return Result{}, fmt.Errorf("face: raw frame: %w", err)
	}
	defer m.Close()
	return a.Analyze(m)
}

func checkSize(w, h int) error {
	if w <= 0 || h <= 0 || w > MaxImageSide || h > MaxImageSide || w*h > MaxImagePixels {
		return fmt.Errorf("face: image size %dx%d outside 1..%d px a side, %d pixels in all", w, h, MaxImageSide, MaxImagePixels)
	}
	return nil
}

// minFrameSide is the smallest frame analysed: below it no face can carry
// the detail any check needs.
const minFrameSide = 24

// Analyze checks one BGR frame (8-bit, 3 channels). The Mat is only read.
func (a *Analyzer) Analyze(bgr gocv.Mat) (Result, error) {
	if a.det == nil {
		return Result{}, errors.New("face: analyzer is closed")
	}
	if bgr.Empty() || bgr.Type() != gocv.MatTypeCV8UC3 {
		return Result{}, fmt.Errorf("face: frame must be 8-bit BGR, got type %v", bgr.Type())
	}
	w, h := bgr.Cols(), bgr.Rows()
	if err := checkSize(w, h); err != nil {
		return Result{}, err
	}
	res := Result{Width: w, Height: h}
	if w < minFrameSide || h < minFrameSide {
		res.finish(a.opts.Thresholds, nil)
		return res, nil
	}
	gocv.CvtColor(bgr, &a.gray, gocv.ColorBGRToGray)

	var faces []Face
	var err error
	if a.opts.TrackEvery > 1 && !a.last.Empty() && a.lastSize == image.Pt(w, h) && a.sinceFull < a.opts.TrackEvery-1 {
		if f, ok := a.detectNear(bgr, a.last); ok {
			faces = []Face{f}
			a.sinceFull++
		}
	}
	if faces == nil {
		if faces, err = a.findFaces(bgr); err != nil {
			return Result{}, err
		}
		a.sinceFull = 0
		// Tracking searches near the face of the last whole-frame search
		// (not of the last tracked frame, whose coarser box would drift).
		a.last, a.lastSize = image.Rectangle{}, image.Pt(w, h)
		if len(faces) == 1 {
			a.last = faces[0].Box
		}
	}
	res.Faces = faces
	var m *measures
	if len(faces) > 0 {
		if faces[0].EyesFound < 2 && !faces[0].HasLandmarks {
			a.refineEyesTilted(&faces[0])
		}
		m, err = a.measure(bgr, faces[0])
		if err != nil {
			return Result{}, err
		}
	}
	res.finish(a.opts.Thresholds, m)
	return res, nil
}

// trackFaceWidth is the width, in pixels, the tracked face is scaled to
// for detection near its last position: big enough for the cascade's
// 20-px window at any pyramid step, small enough to cost little.
const trackFaceWidth = 80

// detectNear looks for the face only around box, where it was in the last
// frame. It succeeds when it finds exactly one face of about the same size.
func (a *Analyzer) detectNear(bgr gocv.Mat, box image.Rectangle) (Face, bool) {
	frame := image.Rect(0, 0, bgr.Cols(), bgr.Rows())
	roi := box.Inset(-box.Dx() / 3).Intersect(frame)
	if roi.Dx() < 24 || roi.Dy() < 24 {
		return Face{}, false
	}
	scale := math.Min(float64(trackFaceWidth)/float64(box.Dx()), 2)
	sz := image.Pt(max(1, int(float64(roi.Dx())*scale+0.5)), max(1, int(float64(roi.Dy())*scale+0.5)))
	g := a.gray.Region(roi)
	gocv.Resize(g, &a.sgray, sz, 0, 0, gocv.InterpolationArea)
	g.Close()
	if _, isCascade := a.det.(*CascadeDetector); !isCascade {
		c := bgr.Region(roi)
		gocv.Resize(c, &a.small, sz, 0, 0, gocv.InterpolationArea)
		c.Close()
	}
	var faces []Face
	var err error
	if cd, ok := a.det.(*CascadeDetector); ok {
		// Only sizes near the last one: 0.6-1.6 times.
		faces, err = cd.DetectSized(a.sgray, max(20, trackFaceWidth*6/10), trackFaceWidth*16/10)
	} else {
		faces, err = a.det.Detect(a.small, a.sgray)
	}
	if err != nil {
		return Face{}, false
	}
	var found []Face
	for _, f := range faces {
		mapPt := func(p PointF) PointF {
			return PointF{float64(roi.Min.X) + p.X/scale, float64(roi.Min.Y) + p.Y/scale}
		}
		f.Box = image.Rect(roi.Min.X+int(float64(f.Box.Min.X)/scale), roi.Min.Y+int(float64(f.Box.Min.Y)/scale),
			roi.Min.X+int(math.Ceil(float64(f.Box.Max.X)/scale)), roi.Min.Y+int(math.Ceil(float64(f.Box.Max.Y)/scale)))
		if f.HasLandmarks {
			f.Eyes[0], f.Eyes[1], f.Nose = mapPt(f.Eyes[0]), mapPt(f.Eyes[1]), mapPt(f.Nose)
			f.Mouth[0], f.Mouth[1] = mapPt(f.Mouth[0]), mapPt(f.Mouth[1])
		}
		if r := float64(f.Box.Dx()) / float64(box.Dx()); r > 0.6 && r < 1.6 {
			found = append(found, f)
		}
	}
	if len(found) != 1 {
		return Face{}, false
	}
	a.eyes.find(a.gray, &found[0])
	return found[0], true
}

// rollSearch are the head tilts, in degrees, tried when no upright face
// is found: frontal detectors miss faces tilted beyond about 15°.
var rollSearch = []float64{-22, 22}

// findFaces runs the detector on the frame at the detection width; when
// that finds nothing, at twice the width (small faces), then on copies
// tilted by rollSearch (tilted heads). Costs grow only on frames without a
// face.
func (a *Analyzer) findFaces(bgr gocv.Mat) ([]Face, error) {
	// One pass at the detection width finds every face at least a tenth
	// of the frame high. (A quicker first pass at half the width missed
	// the smaller second face of a two-person picture.)
	faces, err := a.detect(bgr, a.gray, a.opts.DetectWidth)
	if err != nil || len(faces) > 0 {
		return faces, err
	}
	// The extra passes search harder and so find more textures that look
	// like faces: they keep only faces in which an eye was found.
	if bgr.Cols() > a.opts.DetectWidth {
		if faces, err = a.detect(bgr, a.gray, min(2*a.opts.DetectWidth, bgr.Cols())); err != nil || len(withEyes(faces)) > 0 {
			return withEyes(faces), err
		}
	}
	for _, ang := range rollSearch {
		if faces, err = a.detectTilted(bgr, ang); err != nil || len(withEyes(faces)) > 0 {
			return withEyes(faces), err
		}
	}
	return nil, nil
}

func withEyes(fs []Face) []Face {
	out := fs[:0:0]
	for _, f := range fs {
		if f.EyesFound > 0 || f.HasLandmarks {
			out = append(out, f)
		}
	}
	return out
}

// detectTilted rotates the frame by ang degrees (counter-clockwise) about
// its centre, detects there, and maps the faces back.
func (a *Analyzer) detectTilted(bgr gocv.Mat, ang float64) ([]Face, error) {
	w, h := bgr.Cols(), bgr.Rows()
	cx, cy := float64(w)/2, float64(h)/2
	al, be := math.Cos(ang*math.Pi/180), math.Sin(ang*math.Pi/180)
	// OpenCV's rotation matrix (getRotationMatrix2D): q = A·p + t.
	t0, t1 := (1-al)*cx-be*cy, be*cx+(1-al)*cy
	m := gocv.NewMatWithSize(2, 3, gocv.MatTypeCV64F)
	defer m.Close()
	for i, v := range []float64{al, be, t0, -be, al, t1} {
		m.SetDoubleAt(i/3, i%3, v)
	}
	gocv.WarpAffineWithParams(a.gray, &a.rotG, m, image.Pt(w, h), gocv.InterpolationLinear, gocv.BorderReplicate, color.RGBA{})
	src := bgr
	if _, isCascade := a.det.(*CascadeDetector); !isCascade {
		gocv.WarpAffineWithParams(bgr, &a.rot, m, image.Pt(w, h), gocv.InterpolationLinear, gocv.BorderReplicate, color.RGBA{})
		src = a.rot
	}
	faces, err := a.detect(src, a.rotG, a.opts.DetectWidth)
	if err != nil {
		return nil, err
	}
	back := func(q PointF) PointF {
		x, y := q.X-t0, q.Y-t1
		return PointF{al*x - be*y, be*x + al*y}
	}
	for i := range faces {
		f := &faces[i]
		c := back(PointF{float64(f.Box.Min.X+f.Box.Max.X) / 2, float64(f.Box.Min.Y+f.Box.Max.Y) / 2})
		hw, hh := f.Box.Dx()/2, f.Box.Dy()/2
		f.Box = image.Rect(int(c.X)-hw, int(c.Y)-hh, int(c.X)+hw, int(c.Y)+hh)
		f.Eyes[0], f.Eyes[1] = back(f.Eyes[0]), back(f.Eyes[1])
		f.Nose, f.Mouth[0], f.Mouth[1] = back(f.Nose), back(f.Mouth[0]), back(f.Mouth[1])
		f.Tilt = ang
	}
	return faces, nil
}

// detect scales the frame to width dw, runs the detector, maps boxes back,
// and refines the eyes of each face at full resolution.
func (a *Analyzer) detect(bgr, gray gocv.Mat, dw int) ([]Face, error) {
	w, h := bgr.Cols(), bgr.Rows()
	// Frames smaller than the detection width are scaled up, but by two at
	// most: beyond that upscaling only invents pixels.
	scale := math.Min(float64(dw)/float64(w), 2)
	sw, sh := max(1, int(float64(w)*scale+0.5)), max(1, int(float64(h)*scale+0.5))
	interp := gocv.InterpolationArea
	if scale > 1 {
		interp = gocv.InterpolationLinear
	}
	gocv.Resize(gray, &a.sgray, image.Pt(sw, sh), 0, 0, interp)
	if _, isCascade := a.det.(*CascadeDetector); !isCascade {
		gocv.Resize(bgr, &a.small, image.Pt(sw, sh), 0, 0, interp)
	}
	faces, err := a.det.Detect(a.small, a.sgray)
	if err != nil {
		return nil, err
	}
	sx, sy := float64(w)/float64(sw), float64(h)/float64(sh)
	frame := image.Rect(0, 0, w, h)
	out := faces[:0]
	for _, f := range faces {
		f.Box = image.Rect(int(float64(f.Box.Min.X)*sx), int(float64(f.Box.Min.Y)*sy),
			int(math.Ceil(float64(f.Box.Max.X)*sx)), int(math.Ceil(float64(f.Box.Max.Y)*sy)))
		if f.HasLandmarks {
			for i := range f.Eyes {
				f.Eyes[i] = PointF{f.Eyes[i].X * sx, f.Eyes[i].Y * sy}
				f.Mouth[i] = PointF{f.Mouth[i].X * sx, f.Mouth[i].Y * sy}
			}
			f.Nose = PointF{f.Nose.X * sx, f.Nose.Y * sy}
		}
		if f.Box.Intersect(frame).Empty() {
			continue
		}
		a.eyes.find(gray, &f)
		out = append(out, f)
	}
	sortFaces(out)
	// Drop boxes much smaller than the largest face: detectors report
	// weak boxes on textures (a cap badge, a glove) beside the real face.
	for i := 1; i < len(out); i++ {
		if out[i].Box.Dy()*3 < out[0].Box.Dy() {
			out = out[:i]
			break
		}
	}
	return out, nil
}

// eyeTilts are the rotations tried when the eye cascade misses an eye on
// the upright face: eye cascades are trained on level eyes and miss eyes
// tilted beyond about 5°.
var eyeTilts = []float64{-8, 8, -16, 16}

// refineEyesTilted looks for both eyes on tilted copies of the face's
// neighbourhood and, when found, keeps their positions mapped back to the
// frame: the eye line then measures the roll whatever tilt found it.
func (a *Analyzer) refineEyesTilted(f *Face) {
	b := f.Box
	frame := image.Rect(0, 0, a.gray.Cols(), a.gray.Rows())
	area := b.Inset(-b.Dx() / 4).Intersect(frame)
	if area.Dx() < 16 || area.Dy() < 16 {
		return
	}
	roi := a.gray.Region(area)
	defer roi.Close()
	cx, cy := float64(b.Min.X+b.Max.X)/2-float64(area.Min.X), float64(b.Min.Y+b.Max.Y)/2-float64(area.Min.Y)
	m := gocv.NewMatWithSize(2, 3, gocv.MatTypeCV64F)
	defer m.Close()
	for _, ang := range eyeTilts {
		al, be := math.Cos(ang*math.Pi/180), math.Sin(ang*math.Pi/180)
		t0, t1 := (1-al)*cx-be*cy, be*cx+(1-al)*cy
		for i, v := range []float64{al, be, t0, -be, al, t1} {
			m.SetDoubleAt(i/3, i%3, v)
		}
		gocv.WarpAffineWithParams(roi, &a.rotG, m, image.Pt(area.Dx(), area.Dy()), gocv.InterpolationLinear, gocv.BorderReplicate, color.RGBA{})
		g := Face{Box: b.Sub(area.Min)}
		a.eyes.find(a.rotG, &g)
		if g.EyesFound < 2 {
			continue
		}
		back := func(q PointF) PointF {
			x, y := q.X-t0, q.Y-t1
			return PointF{al*x - be*y + float64(area.Min.X), be*x + al*y + float64(area.Min.Y)}
		}
		f.Eyes[0], f.Eyes[1], f.EyesFound = back(g.Eyes[0]), back(g.Eyes[1]), 2
		return
	}
}
