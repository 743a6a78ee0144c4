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
	// (the checks themselves run on the analysis image, see AnalysisWidth).
	// 0: 320 px.
	DetectWidth int `toml:"detect_width"`
	// AnalysisWidth: frames at least twice as wide are analysed at half
	// (or a quarter of) their size (on the live path, JPEG frames decoded
	// so by libjpeg's DCT scaling); the face-region sharpness and
	// compression checks still read full-resolution pixels when the frame
	// is given decoded, and positions and distances are reported in
	// full-frame pixels. 0: 640.
	// Negative: always analyse at full resolution (the reference path).
	AnalysisWidth int `toml:"analysis_width"`
	// Detector replaces the cascade face detector (for example YuNet).
	// The Analyzer closes it.
	Detector   Detector   `toml:"-"`
	Thresholds Thresholds `toml:"thresholds"`
	// OpenCVThreads for OpenCV's parallel loops (see SetOpenCVThreads);
	// 0: one. Negative: leave OpenCV's setting alone.
	OpenCVThreads int `toml:"opencv_threads"`
	// TrackEvery turns on the live-video path: when the last frame had
	// exactly one face, the next frames look for it (and its eyes) only
	// near where it was, and every TrackEvery-th frame searches the whole
	// frame again (so a second person is still noticed within that many
	// frames). The whole-frame search is then a coarse pass whose
	// candidates are confirmed with the fine detector around each; frames
	// without a face run the costly extra passes (small and tilted faces)
	// only every TrackEvery-th time. 0 or 1: the still-image path, every
	// frame searched thoroughly.
	TrackEvery int `toml:"track_every"`
}

// DefaultLiveTrackEvery is the station's TrackEvery on camera frames: a
// second person is looked for over the whole frame every 8th frame (about
// a third of a second at 25 fps; a face that is not being followed is
// still searched for on every frame), and the frame auto-capture keeps is
// searched thoroughly anyway (Analyzer.Confirm). Every 5th frame cost about
// 1 ms more per frame at 640x480 for no earlier warning a booth needs.
const DefaultLiveTrackEvery = 8

// Limits on input images: larger pictures are refused before decoding, so
// that a hostile header cannot make us allocate gigabytes.
const (
	MaxImageSide   = 8192
	MaxImagePixels = 40 << 20
)

// Analyzer runs the detector and the quality checks on frames. It keeps
// scratch images between calls (no per-frame allocation of pixels); it is
// not safe for concurrent use.
type Analyzer struct {
	opts  Options
	det   Detector
	eyes  *eyeFinder
	dec   gocv.Mat // decoded frame (AnalyzeBytes)
	work  gocv.Mat // BGR analysis image reduced from a bigger frame
	gray  gocv.Mat // grey analysis image
	bg    gocv.Mat // grey analysis image at the detection width (background)
	small gocv.Mat
	sgray gocv.Mat
	face  gocv.Mat // face box scaled to sharpnessWidth
	fgray gocv.Mat // full-resolution grey face region
	rot   gocv.Mat
	rotG  gocv.Mat
	// Tracking state (Options.TrackEvery), in full-frame pixels.
	last      image.Rectangle
	lastSize  image.Point
	sinceFull int
	noFace    int // frames in a row without a face (live path)
	eyeTilt   float64
	tiltBuf   []float64
	// Eye positions in the last frame's face box (box widths from its
	// top-left corner), when both were found.
	eyeNorm   [2]PointF
	eyeNormOK bool
}

// predictEyes sets the eye finder's expected eye positions for a face
// found at box (analysis-image pixels) from where the eyes sat in the last
// frame's box; tr, when not nil, maps them into a rotated search image.
func (a *Analyzer) predictEyes(box image.Rectangle, tr func(PointF) PointF) {
	a.eyes.havePred = a.tracking() && a.eyeNormOK && a.eyes.hint > 0
	a.eyes.upright = tr == nil
	if !a.eyes.havePred {
		return
	}
	for i, n := range a.eyeNorm {
		p := PointF{float64(box.Min.X) + n.X*float64(box.Dx()), float64(box.Min.Y) + n.Y*float64(box.Dx())}
		if tr != nil {
			p = tr(p)
		}
		a.eyes.pred[i] = p
	}
}

// NewAnalyzer loads the detectors. Close it when done.
func NewAnalyzer(opts Options) (*Analyzer, error) {
	if opts.DetectWidth <= 0 {
		opts.DetectWidth = 320
	}
	if opts.AnalysisWidth == 0 {
		opts.AnalysisWidth = 640
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
	for _, m := range a.mats() {
		*m = gocv.NewMat()
	}
	return a, nil
}

func (a *Analyzer) mats() []*gocv.Mat {
	return []*gocv.Mat{&a.dec, &a.work, &a.gray, &a.bg, &a.small, &a.sgray, &a.face, &a.fgray, &a.rot, &a.rotG}
}

// Close releases the detectors and scratch images.
func (a *Analyzer) Close() error {
	if a.det == nil {
		return nil
	}
	for _, m := range a.mats() {
		m.Close()
	}
	a.eyes.Close()
	err := a.det.Close()
	a.det = nil
	return err
}

// Thresholds returns the limits in use.
func (a *Analyzer) Thresholds() Thresholds { return a.opts.Thresholds }

// ResetTracking forgets the face followed so far: the next frame is
// searched whole, as the first frame of a sequence is.
func (a *Analyzer) ResetTracking() {
	a.last, a.lastSize, a.sinceFull, a.noFace = image.Rectangle{}, image.Point{}, 0, 0
	a.eyes.hint, a.eyeTilt, a.eyeNormOK, a.eyes.tmplOK = 0, 0, false, false
}

// minMeasureFaceWidth is the narrowest face, in analysis-image pixels,
// whose sharpness is measured on the reduced image: the face is scaled
// down to sharpnessWidth for the Laplacian, and from at least 1.5 times
// that width the reduced image loses none of the detail that survives.
const minMeasureFaceWidth = sharpnessWidth * 3 / 2

// AnalyzeBytes decodes a JPEG or PNG image and analyses it. On the live
// path (Options.TrackEvery), a JPEG frame at least twice
// Options.AnalysisWidth wide is decoded at half size (libjpeg's DCT
// scaling), unless the face followed so far would then be too small to
// measure; results are in the full frame's pixels either way, and the
// caller keeps the bytes for the full-resolution kept frame and crop
// (AutoCapture.OfferJPEG, CropJPEG).
func (a *Analyzer) AnalyzeBytes(data []byte) (Result, error) {
	if a.det == nil {
		return Result{}, errors.New("face: analyzer is closed")
	}
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
	f := 1
	if format == "jpeg" && a.tracking() {
		// Live path only: at half size the scaled inverse DCT softens the
		// 8-px block borders (they become 4 px) and the fine detail, so
		// the sharpness and compression checks read lower than at full
		// resolution (see TestReducedAnalysisAgrees); still images are
		// decoded whole. Half size at most: at a quarter the blocks are 2
		// px and there is nothing left to measure.
		f = a.factorFor(cfg.Width, cfg.Height, 2)
	}
	flags := gocv.IMReadColor
	if f == 2 {
		flags = gocv.IMReadReducedColor2
	}
	if err := decodeInto(data, flags, &a.dec); err != nil {
		return Result{}, fmt.Errorf("face: decoding %s image %dx%d: %w", format, cfg.Width, cfg.Height, err)
	}
	if a.dec.Type() != gocv.MatTypeCV8UC3 {
		return Result{}, fmt.Errorf("face: %s image %dx%d decoded to an unexpected type %v", format, cfg.Width, cfg.Height, a.dec.Type())
	}
	if f == 1 {
		return a.Analyze(a.dec)
	}
	st := a.saveTracking()
	res, small, err := a.analyze(a.dec, cfg.Width, cfg.Height, nil)
	if err != nil || !small {
		return res, err
	}
	// The face is too small at half size for the sharpness and
	// compression checks: decode the whole frame and analyse it there
	// (the next frames are then decoded whole while the face stays small).
	a.restoreTracking(st)
	if err := decodeInto(data, gocv.IMReadColor, &a.dec); err != nil {
		return Result{}, fmt.Errorf("face: decoding %s image %dx%d: %w", format, cfg.Width, cfg.Height, err)
	}
	return a.Analyze(a.dec)
}

type trackState struct {
	last, lastSize   image.Rectangle
	sinceFull, noFac int
	hint, eyeTilt    float64
	eyeNorm          [2]PointF
	eyeNormOK        bool
	tmplOK           bool
}

func (a *Analyzer) saveTracking() trackState {
	return trackState{last: a.last, lastSize: image.Rectangle{Max: a.lastSize}, sinceFull: a.sinceFull, noFac: a.noFace, hint: a.eyes.hint, eyeTilt: a.eyeTilt, eyeNorm: a.eyeNorm, eyeNormOK: a.eyeNormOK, tmplOK: a.eyes.tmplOK}
}

func (a *Analyzer) restoreTracking(s trackState) {
	a.last, a.lastSize, a.sinceFull, a.noFace, a.eyes.hint, a.eyeTilt = s.last, s.lastSize.Max, s.sinceFull, s.noFac, s.hint, s.eyeTilt
	a.eyeNorm, a.eyeNormOK, a.eyes.tmplOK = s.eyeNorm, s.eyeNormOK, s.tmplOK
}

// factorFor returns the reduction (1, 2 or 4, at most maxF) of a w×h
// frame for analysis.
func (a *Analyzer) factorFor(w, h, maxF int) int {
	if a.opts.AnalysisWidth < 0 {
		return 1
	}
	f := 1
	for f < maxF && w/(2*f) >= a.opts.AnalysisWidth {
		f *= 2
	}
	// A face followed from the last frame must stay wide enough to measure.
	if a.tracking() && !a.last.Empty() && a.lastSize == image.Pt(w, h) {
		for f > 1 && a.last.Dx()/f < minMeasureFaceWidth {
			f /= 2
		}
	}
	return f
}

func (a *Analyzer) tracking() bool { return a.opts.TrackEvery > 1 }

// Confirm analyses a frame on the thorough still-image path, whatever
// Options.TrackEvery says, and leaves the live path's tracking state as it
// was. It is meant for the frame an auto-capture keeps: the live path's
// periodic whole-frame search is a coarse pass, and a second face it did
// not propose would otherwise go unnoticed until a frame without a
// followed face.
func (a *Analyzer) Confirm(bgr gocv.Mat) (Result, error) {
	st, te := a.saveTracking(), a.opts.TrackEvery
	a.opts.TrackEvery = 0
	defer func() {
		a.opts.TrackEvery = te
		a.restoreTracking(st)
	}()
	return a.Analyze(bgr)
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
// Frames at least twice Options.AnalysisWidth wide are analysed reduced;
// the sharpness and compression checks read the face region at full
// resolution.
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
	src := bgr
	if f := a.factorFor(w, h, 4); f > 1 {
		gocv.Resize(bgr, &a.work, image.Pt((w+f/2)/f, (h+f/2)/f), 0, 0, gocv.InterpolationArea)
		src = a.work
	}
	res, _, err := a.analyze(src, w, h, &bgr)
	return res, err
}

// analyze checks src, the W×H frame or a reduced copy of it; full is the
// full-resolution frame when there is one. It reports whether the face
// found was too small in src to measure without full.
func (a *Analyzer) analyze(src gocv.Mat, W, H int, full *gocv.Mat) (Result, bool, error) {
	res := Result{Width: W, Height: H}
	w, h := src.Cols(), src.Rows()
	if w < minFrameSide || h < minFrameSide || W < minFrameSide || H < minFrameSide {
		res.finish(a.opts.Thresholds, nil)
		return res, false, nil
	}
	// Analysis-image pixels to frame pixels.
	sx, sy := float64(W)/float64(w), float64(H)/float64(h)
	toSrc := func(r image.Rectangle) image.Rectangle {
		return image.Rect(int(float64(r.Min.X)/sx), int(float64(r.Min.Y)/sy), int(math.Ceil(float64(r.Max.X)/sx)), int(math.Ceil(float64(r.Max.Y)/sy)))
	}
	gocv.CvtColor(src, &a.gray, gocv.ColorBGRToGray)
	a.eyes.live = a.tracking()

	var faces []Face
	var err error
	// Live path: follow the face near where it was; every TrackEvery-th
	// frame (or when it is lost) also search the whole frame for others.
	var known []Face
	if a.tracking() && !a.last.Empty() && a.lastSize == image.Pt(W, H) {
		if f, ok := a.detectNear(src, toSrc(a.last)); ok {
			known = []Face{f}
		}
	}
	if known != nil && a.sinceFull < a.opts.TrackEvery-1 {
		faces = known
		a.sinceFull++
	} else {
		if a.tracking() {
			faces, err = a.findFacesLive(src, known)
		} else {
			faces, err = a.findFaces(src)
		}
		if err != nil {
			return Result{}, false, err
		}
		a.sinceFull = 0
	}
	switch {
	case len(faces) == 0 || faces[0].HasLandmarks:
		a.eyeTilt = 0
	case faces[0].eyesPending:
		a.refineEyesTilted(&faces[0], true)
	case faces[0].EyesFound < 2:
		a.refineEyesTilted(&faces[0], false)
	default:
		a.eyeTilt = 0
	}
	if a.tracking() && len(faces) > 0 && !faces[0].HasLandmarks && faces[0].EyesFound < a.opts.Thresholds.MinEyesFound {
		// Before telling the person to open their eyes, the live path
		// looks again as the still path does: the whole-frame search at
		// the detection width (the eye band follows the box, and the
		// cascade's eye finding is sensitive to a few pixels of it), the
		// eyes searched over the whole band. This costs a whole-frame
		// search, on those frames only.
		hint := a.eyes.hint
		a.eyes.hint = 0
		if again, err := a.detect(src, a.gray, a.opts.DetectWidth); err == nil {
			for _, g := range again {
				if overlap(g.Box, faces[0].Box) < 0.5 {
					continue
				}
				if g.EyesFound < 2 {
					a.refineEyesTilted(&g, false)
				}
				if g.EyesFound > faces[0].EyesFound {
					faces[0] = g
				}
				break
			}
		}
		a.eyes.hint = hint
	}
	// A frame of the followed face in which an eye was missed keeps the
	// last positions for the next frame: eyes stay where they were in the
	// face box from one frame to the next.
	if !a.tracking() || len(faces) != 1 {
		a.eyes.hint, a.eyeNormOK, a.eyes.tmplOK = 0, false, false
	}
	if a.tracking() && len(faces) == 1 && faces[0].EyesFound == 2 && faces[0].eyeSize > 0 {
		// Where the eyes sit in the face box, for the next frame's search.
		fb := faces[0].Box
		for i, e := range faces[0].Eyes {
			a.eyeNorm[i] = PointF{(e.X - float64(fb.Min.X)) / float64(fb.Dx()), (e.Y - float64(fb.Min.Y)) / float64(fb.Dx())}
		}
		a.eyes.hint, a.eyeNormOK = faces[0].eyeSize, true
	}
	if len(faces) > 0 && full == nil && (sx > 1 || sy > 1) && faces[0].Box.Dx() < minMeasureFaceWidth {
		return Result{}, true, nil
	}
	var m *measures
	if len(faces) > 0 {
		if m, err = a.measure(src, faces[0], full, (sx+sy)/2); err != nil {
			return Result{}, false, err
		}
		m.ied *= (sx + sy) / 2
	}
	for i := range faces {
		faces[i].scale(sx, sy)
	}
	a.lastSize = image.Pt(W, H)
	if len(faces) == 1 {
		a.last, a.noFace = faces[0].Box, 0
	} else {
		a.last = image.Rectangle{}
		a.noFace++
	}
	res.Faces = faces
	if m != nil {
		m.face = faces[0]
	}
	res.finish(a.opts.Thresholds, m)
	return res, false, nil
}

// scale maps a face from analysis-image pixels to frame pixels.
func (f *Face) scale(sx, sy float64) {
	if sx == 1 && sy == 1 {
		return
	}
	f.Box = image.Rect(int(float64(f.Box.Min.X)*sx), int(float64(f.Box.Min.Y)*sy),
		int(math.Ceil(float64(f.Box.Max.X)*sx)), int(math.Ceil(float64(f.Box.Max.Y)*sy)))
	p := func(q *PointF) { q.X, q.Y = q.X*sx, q.Y*sy }
	for i := range 2 {
		p(&f.Eyes[i])
		p(&f.Mouth[i])
		p(&f.lmEyes[i])
	}
	p(&f.Nose)
}

// trackFaceWidth is the width, in pixels, the face is scaled to for
// detection near a known position: big enough for the cascade's 20-px
// window at every size searched, small enough to cost little.
const trackFaceWidth = 64

// detectNear looks for the face only around box (analysis-image pixels),
// where it was in the last frame. It succeeds when it finds exactly one
// face of about the same size.
func (a *Analyzer) detectNear(src gocv.Mat, box image.Rectangle) (Face, bool) {
	// Between two frames the face changes size by a few percent at most:
	// 0.87-1.15 of the last box is three of the cascade's 1.1 scale steps
	// (0.8-1.25 was five, for no better tracking: TestLivePathAgrees
	// 96.7 % within tolerance against 95.9 %, and about 15 % less time
	// per frame). A face that changes faster is lost for a frame and found
	// again by the whole-frame search.
	// When the eyes were last found on a tilted copy, the upright eye
	// search is left to refineEyesTilted, which tries that tilt first.
	found, err := a.detectAround(src, box, 0.87, 1.15, a.eyeTilt == 0)
	if err != nil || len(found) != 1 {
		return Face{}, false
	}
	return found[0], true
}

// detectAround runs the face detector on the neighbourhood of box, scaled
// so that the face is trackFaceWidth wide, for faces lo-hi times box's
// size, and finds the eyes of each face found (with eyes false, it leaves
// them to the caller: Face.eyesPending).
func (a *Analyzer) detectAround(src gocv.Mat, box image.Rectangle, lo, hi float64, eyes bool) ([]Face, error) {
	return a.detectAroundAt(src, box, lo, hi, eyes, trackFaceWidth)
}

// detectAroundAt is detectAround with the face scaled to tw pixels.
func (a *Analyzer) detectAroundAt(src gocv.Mat, box image.Rectangle, lo, hi float64, eyes bool, tw int) ([]Face, error) {
	frame := image.Rect(0, 0, src.Cols(), src.Rows())
	// A third of the face's width each way: at 25 frames a second a
	// sitting person moves far less between two frames.
	roi := box.Inset(-box.Dx() / 3).Intersect(frame)
	if roi.Dx() < 24 || roi.Dy() < 24 || box.Dx() < 4 {
		return nil, nil
	}
	scale := math.Min(float64(tw)/float64(box.Dx()), 2)
	sz := image.Pt(max(1, int(float64(roi.Dx())*scale+0.5)), max(1, int(float64(roi.Dy())*scale+0.5)))
	interp := gocv.InterpolationArea
	if scale > 1 {
		interp = gocv.InterpolationLinear
	}
	g := a.gray.Region(roi)
	gocv.Resize(g, &a.sgray, sz, 0, 0, interp)
	g.Close()
	cd, isCascade := a.det.(*CascadeDetector)
	if !isCascade {
		c := src.Region(roi)
		gocv.Resize(c, &a.small, sz, 0, 0, interp)
		c.Close()
	}
	var faces []Face
	var err error
	if isCascade {
		faces, err = cd.DetectSized(a.sgray, max(20, int(float64(tw)*lo)), int(math.Ceil(float64(tw)*hi)))
	} else {
		faces, err = a.det.Detect(a.small, a.sgray)
	}
	if err != nil {
		return nil, err
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
		if r := float64(f.Box.Dx()) / float64(box.Dx()); r > lo && r < hi {
			found = append(found, f)
		}
	}
	for i := range found {
		if !eyes && !found[i].HasLandmarks {
			found[i].eyesPending = true
			found[i].Eyes = estimatedEyes(found[i].Box)
			continue
		}
		a.predictEyes(found[i].Box, nil)
		a.eyes.find(a.gray, &found[i])
	}
	a.eyes.havePred = false
	return found, nil
}

// coarseWidth is the width of the live path's coarse whole-frame pass: a
// face a ninth of a 4:3 frame high still fills the cascade's 20-px window,
// and a booth's sitter is far larger than that.
const coarseWidth = 240

// findFacesLive is the whole-frame search of the live path: a coarse,
// cheaper pass (smaller image, larger pyramid steps) proposes faces, and the
// fine detector confirms each around its proposal, so the boxes (and the
// false-positive rate) are the fine detector's. When the coarse pass finds
// nothing the thorough still-image search runs, but only on the first
// frame after a face was lost and on every TrackEvery-th frame after that:
// an empty booth then costs little per frame.
//
// known is the face followed from the last frame, already found near its
// last position in this one: proposals on it are not confirmed again.
func (a *Analyzer) findFacesLive(src gocv.Mat, known []Face) ([]Face, error) {
	cd, isCascade := a.det.(*CascadeDetector)
	if !isCascade {
		// Other detectors (YuNet) are a single cheap network pass.
		return a.detect(src, a.gray, a.opts.DetectWidth)
	}
	w, h := src.Cols(), src.Rows()
	scale := math.Min(float64(coarseWidth)/float64(w), 1)
	sw, sh := max(1, int(float64(w)*scale+0.5)), max(1, int(float64(h)*scale+0.5))
	gocv.Resize(a.gray, &a.sgray, image.Pt(sw, sh), 0, 0, gocv.InterpolationArea)
	rects, err := cd.detectCoarse(a.sgray, max(20, sh/10))
	if err != nil {
		return nil, err
	}
	out := known
	// Other faces' eyes are searched without the followed face's hints.
	hint := a.eyes.hint
	a.eyes.hint = 0
	defer func() { a.eyes.hint = hint }()
	for _, r := range rects {
		box := image.Rect(int(float64(r.Min.X)/scale), int(float64(r.Min.Y)/scale),
			int(math.Ceil(float64(r.Max.X)/scale)), int(math.Ceil(float64(r.Max.Y)/scale)))
		if len(known) > 0 && overlap(box, known[0].Box) > 0.5 {
			continue
		}
		faces, err := a.detectAround(src, box, 0.6, 1.6, true)
		if err != nil {
			return nil, err
		}
		for _, f := range faces {
			dup := false
			for _, o := range out {
				if overlap(f.Box, o.Box) > 0.5 {
					dup = true
					break
				}
			}
			if !dup {
				out = append(out, f)
			}
		}
	}
	if len(out) == 0 && (a.noFace == 0 || a.noFace%a.opts.TrackEvery == 0) {
		return a.findFaces(src)
	}
	sortFaces(out)
	return dropSmall(out), nil
}

// overlap is the area of intersection over the area of the smaller box.
func overlap(p, q image.Rectangle) float64 {
	in := p.Intersect(q)
	if in.Empty() {
		return 0
	}
	small := min(p.Dx()*p.Dy(), q.Dx()*q.Dy())
	return float64(in.Dx()*in.Dy()) / float64(max(small, 1))
}

// dropSmall drops boxes much smaller than the largest face (sorted
// first): detectors report weak boxes on textures (a cap badge, a glove)
// beside the real face.
func dropSmall(out []Face) []Face {
	for i := 1; i < len(out); i++ {
		if out[i].Box.Dy()*3 < out[0].Box.Dy() {
			return out[:i]
		}
	}
	return out
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
	return dropSmall(out), nil
}

// eyeTilts are the rotations tried when the eye cascade misses an eye on
// the upright face: eye cascades are trained on level eyes and miss eyes
// tilted beyond about 5°.
var eyeTilts = []float64{-8, 8, -16, 16}

// refineEyesTilted looks for both eyes on tilted copies of the face's
// neighbourhood and, when found, keeps their positions mapped back to the
// frame: the eye line then measures the roll whatever tilt found it.
//
// With upright (live path, eyes last found on a tilted copy) it first tries
// that tilt, then the upright search, then the other tilts.
func (a *Analyzer) refineEyesTilted(f *Face, upright bool) {
	b := f.Box
	frame := image.Rect(0, 0, a.gray.Cols(), a.gray.Rows())
	area := b.Inset(-b.Dx() / 4).Intersect(frame)
	if area.Dx() < 16 || area.Dy() < 16 {
		if upright {
			f.eyesPending = false
			a.eyes.find(a.gray, f)
		}
		return
	}
	roi := a.gray.Region(area)
	defer roi.Close()
	cx, cy := float64(b.Min.X+b.Max.X)/2-float64(area.Min.X), float64(b.Min.Y+b.Max.Y)/2-float64(area.Min.Y)
	m := gocv.NewMatWithSize(2, 3, gocv.MatTypeCV64F)
	defer m.Close()
	tilts := eyeTilts
	if a.tracking() && a.eyeTilt != 0 {
		// Live video: the tilt that found both eyes in the last frame
		// most likely finds them again.
		tilts = append(append(a.tiltBuf[:0], a.eyeTilt), eyeTilts...)
		a.tiltBuf = tilts
	}
	// Live video, eyes found in the last frame: the head's roll changes
	// little from one frame to the next (a 25 fps frame lasts 40 ms), so
	// only tilts next to the last one (0: upright) are tried.
	near, prev := a.tracking() && a.eyeNormOK, a.eyeTilt
	a.eyeTilt = 0
	for i, ang := range tilts {
		if upright && i == 1 {
			f.eyesPending = false
			a.predictEyes(f.Box, nil)
			a.eyes.find(a.gray, f)
			a.eyes.havePred = false
			if f.EyesFound == 2 {
				return
			}
		}
		if i > 0 && ang == tilts[0] && a.tracking() {
			continue
		}
		if near && math.Abs(ang-prev) > 8 {
			continue
		}
		al, be := math.Cos(ang*math.Pi/180), math.Sin(ang*math.Pi/180)
		t0, t1 := (1-al)*cx-be*cy, be*cx+(1-al)*cy
		for i, v := range []float64{al, be, t0, -be, al, t1} {
			m.SetDoubleAt(i/3, i%3, v)
		}
		gocv.WarpAffineWithParams(roi, &a.rotG, m, image.Pt(area.Dx(), area.Dy()), gocv.InterpolationLinear, gocv.BorderReplicate, color.RGBA{})
		g := Face{Box: b.Sub(area.Min)}
		a.predictEyes(b, func(p PointF) PointF {
			x, y := p.X-float64(area.Min.X), p.Y-float64(area.Min.Y)
			return PointF{al*x + be*y + t0, -be*x + al*y + t1}
		})
		a.eyes.find(a.rotG, &g)
		a.eyes.havePred = false
		if g.EyesFound < 2 {
			continue
		}
		back := func(q PointF) PointF {
			x, y := q.X-t0, q.Y-t1
			return PointF{al*x - be*y + float64(area.Min.X), be*x + al*y + float64(area.Min.Y)}
		}
		f.Eyes[0], f.Eyes[1], f.EyesFound, f.eyeSize = back(g.Eyes[0]), back(g.Eyes[1]), 2, g.eyeSize
		a.eyeTilt = ang
		f.eyesPending = false
		return
	}
	if f.eyesPending { // only one tilt to try, and it failed
		f.eyesPending = false
		a.eyes.find(a.gray, f)
	}
}
