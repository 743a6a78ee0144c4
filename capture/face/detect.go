package face

import (
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"sort"

	"gocv.io/x/gocv"
)

// PointF is a point in frame pixels, with sub-pixel precision.
type PointF struct{ X, Y float64 }

// Face is one detected face, in the coordinates of the analysed frame.
type Face struct {
	Box   image.Rectangle // face box as the detector gives it
	Score float64         // detector confidence, 0-1 (cascades: 1)
	// Eyes are the centres of the subject's right eye (on the image's left)
	// and left eye. EyesFound counts the eyes seen open (0-2): found by
	// the eye cascades or, on the live path, matched to the patch of an
	// eye they found open in an earlier frame of the same face. When it is
	// below 2 the missing positions are estimated from the box.
	Eyes      [2]PointF
	EyesFound int
	// Nose and mouth corners, when the detector gives landmarks (YuNet).
	Nose         PointF
	Mouth        [2]PointF
	HasLandmarks bool
	// Tilt is the rotation, in degrees, of the frame copy the face was
	// found in (0: found upright). With fewer than two eyes found, it is
	// the best estimate of the head's roll.
	Tilt float64
	// lmEyes keeps the detector's own eye landmarks (Eyes may be replaced
	// by iris centres): yaw pairs them with the nose landmark.
	lmEyes [2]PointF
	// eyeSize is the mean side of the eye boxes the eye cascade found, in
	// the eye band's pixels (0: not both found); the next frame's eye
	// search on a tracked face looks only for eyes of about that size.
	eyeSize float64
	// eyesPending: the eye search was left for later (live path).
	eyesPending bool
}

// Detector finds faces in a BGR image (and its grey copy, which cascade
// detectors use). Boxes are in the given image's coordinates. A Detector
// is not safe for concurrent use.
type Detector interface {
	Detect(bgr, gray gocv.Mat) ([]Face, error)
	Close() error
}

// Debian's opencv-data installs its cascades here.
const cascadeDir = "/usr/share/opencv4/"

// Default cascades: the Haar frontal face model "alt2" gave the fewest false
// positives on the OpenCV sample pictures, and the eyeglasses eye model
// still finds eyes behind spectacles.
const (
	DefaultFaceCascade = cascadeDir + "haarcascades/haarcascade_frontalface_alt2.xml"
	DefaultEyeCascade  = cascadeDir + "haarcascades/haarcascade_eye_tree_eyeglasses.xml"
	// Tried on a side where the first eye cascade found nothing.
	secondEyeCascade = cascadeDir + "haarcascades/haarcascade_eye.xml"
)

// cascadeScaleStep is the pyramid step between detection scales
// (OpenCV's usual 1.1; 1.15 was faster but moved the boxes enough to
// change eye and roll results on the test portraits).
var cascadeScaleStep = 1.1

// CascadeDetector finds faces with an OpenCV cascade classifier.
type CascadeDetector struct {
	cc           gocv.CascadeClassifier
	minNeighbors int
	eq           gocv.Mat
}

// The live path's coarse whole-frame pass: pyramid steps of 1.25 instead
// of 1.1 (half the scales) and a single neighbour, so that it proposes
// every face the fine search finds on the test portraits, the smaller
// face of two included; the fine cascade then confirms each proposal. (The
// LBP frontal cascade was tried as the proposer: at this width it missed
// the astronaut and one face of the two-person picture.)
const (
	coarseStep      = 1.25
	coarseNeighbors = 1
)

// NewCascadeDetector loads a face cascade file (empty: DefaultFaceCascade).
func NewCascadeDetector(path string) (*CascadeDetector, error) {
	if path == "" {
		path = DefaultFaceCascade
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("face cascade %s: %w (install Debian's opencv-data package or set the cascade path)", path, err)
	}
	cc := gocv.NewCascadeClassifier()
	if !cc.Load(path) {
		cc.Close()
		return nil, fmt.Errorf("face cascade %s: OpenCV could not load it (is it a cascade XML file?)", path)
	}
	// 4 neighbours: below it the sample negatives (buildings, fabric) gave
	// boxes; above it small faces were missed.
	return &CascadeDetector{cc: cc, minNeighbors: 4, eq: gocv.NewMat()}, nil
}

// detectCoarse proposes face boxes at least minSide wide, in large pyramid
// steps and with few neighbours: it must not miss a face, and the fine
// search confirms every proposal.
func (d *CascadeDetector) detectCoarse(gray gocv.Mat, minSide int) ([]image.Rectangle, error) {
	if gray.Empty() {
		return nil, errors.New("face: empty image")
	}
	gocv.EqualizeHist(gray, &d.eq)
	return d.cc.DetectMultiScaleWithParams(d.eq, coarseStep, coarseNeighbors, 0, image.Pt(minSide, minSide), image.Pt(0, 0)), nil
}

// Detect implements Detector.
func (d *CascadeDetector) Detect(_, gray gocv.Mat) ([]Face, error) {
	// Faces smaller than a tenth of the frame are too far for a portrait
	// anyway; not searching below that saves most of the cascade's work
	// (the smallest scales have the most windows).
	minSide := max(20, min(gray.Cols(), gray.Rows())/10)
	return d.DetectSized(gray, minSide, 0)
}

// DetectSized finds faces between minSide and maxSide pixels wide
// (maxSide 0: no limit).
func (d *CascadeDetector) DetectSized(gray gocv.Mat, minSide, maxSide int) ([]Face, error) {
	if gray.Empty() {
		return nil, errors.New("face: empty image")
	}
	gocv.EqualizeHist(gray, &d.eq)
	rects := d.cc.DetectMultiScaleWithParams(d.eq, cascadeScaleStep, d.minNeighbors, 0,
		image.Pt(minSide, minSide), image.Pt(maxSide, maxSide))
	faces := make([]Face, 0, len(rects))
	for _, r := range rects {
		faces = append(faces, Face{Box: r, Score: 1})
	}
	return faces, nil
}

// Close releases the classifier.
func (d *CascadeDetector) Close() error {
	d.eq.Close()
	return d.cc.Close()
}

// eyeFinder refines eye positions inside a face box with an eye cascade.
type eyeFinder struct {
	cc      []gocv.CascadeClassifier
	scratch gocv.Mat
	// hint, when not 0, is the eye box side found on the face in the last
	// frame (band pixels): the search then looks only for eyes of that
	// size, give or take a third, which skips most of the pyramid. With
	// havePred it also looks only near pred, where each eye is expected
	// (in the searched image's pixels).
	hint     float64
	pred     [2]PointF
	havePred bool
	lastBy   [2]int // which cascade found each eye when both were last found
	upright  bool   // the search is on the upright frame (not a tilted copy)
	// Live video: each eye's patch from the last upright frame in which the
	// cascades found both (band pixels, centred on the iris). When a
	// cascade then misses one eye, the patch is looked for around where
	// that eye is expected; see track.
	live   bool // on the live path (set per frame by the Analyzer)
	tmpl   [2]gocv.Mat
	tmplOK bool
	tried  [2]bool // this search already looked for the eye by its patch
	match  gocv.Mat
	noMask gocv.Mat
}

func newEyeFinder(path string) (*eyeFinder, error) {
	if path == "" {
		path = DefaultEyeCascade
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("eye cascade %s: %w (install Debian's opencv-data package)", path, err)
	}
	e := &eyeFinder{scratch: gocv.NewMat(), match: gocv.NewMat(), noMask: gocv.NewMat()}
	for i := range e.tmpl {
		e.tmpl[i] = gocv.NewMat()
	}
	for i, p := range []string{path, secondEyeCascade} {
		cc := gocv.NewCascadeClassifier()
		if !cc.Load(p) {
			cc.Close()
			if i > 0 {
				break // the second cascade is a bonus
			}
			e.Close()
			return nil, fmt.Errorf("eye cascade %s: OpenCV could not load it", p)
		}
		e.cc = append(e.cc, cc)
	}
	return e, nil
}

func (e *eyeFinder) Close() {
	e.scratch.Close()
	e.match.Close()
	e.noMask.Close()
	for i := range e.tmpl {
		e.tmpl[i].Close()
	}
	for i := range e.cc {
		e.cc[i].Close()
	}
}

// eyeBandWidth is the width the upper face band is scaled to before the eye
// cascade runs: eyes are then about 25 px wide, comfortably above the
// cascade's 20 px window, whatever the camera resolution.
const eyeBandWidth = 120

// find looks for the two eyes in the upper part of box (in gray's
// coordinates) and returns how many it found; the positions of eyes not
// found are estimated from the box.
func (e *eyeFinder) find(gray gocv.Mat, f *Face) {
	b := f.Box
	est := estimatedEyes(b)
	if f.HasLandmarks {
		// Detector landmarks are better than the cascade's boxes for position.
		est = f.Eyes
		f.lmEyes = f.Eyes
	}
	f.Eyes, f.EyesFound = est, 0
	band := image.Rect(b.Min.X, b.Min.Y+b.Dy()/6, b.Max.X, b.Min.Y+b.Dy()*3/5).Intersect(image.Rect(0, 0, gray.Cols(), gray.Rows()))
	if band.Dx() < 8 || band.Dy() < 4 {
		return
	}
	roi := gray.Region(band)
	scale := float64(eyeBandWidth) / float64(band.Dx())
	gocv.Resize(roi, &e.scratch, image.Pt(eyeBandWidth, max(1, int(float64(band.Dy())*scale+0.5))), 0, 0, gocv.InterpolationLinear)
	roi.Close()
	// Per side, the candidate nearest the expected eye position; a second
	// cascade is tried only while a side is still missing.
	var found [2]*PointF
	var sizes [2]float64
	bestD := [2]float64{math.Inf(1), math.Inf(1)}
	consider := func(rects []image.Rectangle, off image.Point) {
		for _, r := range rects {
			r = r.Add(off)
			c := darkCentre(e.scratch, r)
			p := PointF{
				X: float64(band.Min.X) + c.X/scale,
				Y: float64(band.Min.Y) + c.Y/scale,
			}
			side := 0
			if p.X > float64(b.Min.X+b.Max.X)/2 {
				side = 1
			}
			d := math.Hypot(p.X-est[side].X, p.Y-est[side].Y)
			if d < bestD[side] && d < float64(b.Dx())/4 {
				bestD[side] = d
				found[side] = &p
				sizes[side] = float64(r.Dx()+r.Dy()) / 2
			}
		}
	}
	lo, hi := 14, eyeBandWidth/3 // eyes are 15-30 px in the 120 px band
	if e.hint > 0 {
		lo, hi = max(lo, int(e.hint*0.85)), min(hi, int(math.Ceil(e.hint*1.18)))
	}
	var by [2]int
	e.tried = [2]bool{}
	narrow := e.hint > 0 && e.havePred
	if narrow {
		e.findNear(band, scale, lo, hi, &found, &by, &sizes, consider)
		if found[0] == nil && found[1] == nil && e.upright {
			// Neither eye where it was: search the whole band before
			// reporting closed eyes.
			narrow, lo, hi = false, 14, eyeBandWidth/3
		}
	}
	if !narrow {
		for k, cc := range e.cc {
			if found[0] != nil && found[1] != nil {
				break
			}
			had := found
			consider(cc.DetectMultiScaleWithParams(e.scratch, 1.1, 2, 0, image.Pt(lo, lo), image.Pt(hi, hi)), image.Point{})
			for side := range found {
				if found[side] != had[side] && had[side] == nil {
					by[side] = k
				}
			}
		}
	}
	if found[0] != nil && found[1] != nil {
		for side, k := range by {
			if k != trackedBy {
				e.lastBy[side] = k
			}
		}
	}
	// Live path: an eye the narrow search did not find, looked for as its
	// patch from an earlier frame (the whole-band search may have found it
	// since).
	if e.canTrack() {
		for side := range found {
			if found[side] == nil && !e.tried[side] {
				e.trackInto(side, band, scale, &found, &by, &sizes)
			}
		}
	}
	for _, p := range found {
		if p != nil {
			f.EyesFound++
		}
	}
	f.eyeSize = 0
	if f.EyesFound == 2 {
		f.eyeSize = (sizes[0] + sizes[1]) / 2
		if e.upright && e.live && by[0] != trackedBy && by[1] != trackedBy {
			// Patches are taken only from eyes both cascades' boxes place,
			// never from tracked ones: tracking cannot drift.
			e.keepTemplates(found, band, scale, f.eyeSize)
		}
	}
	// The iris centres found here are steadier than a detector's eye
	// landmarks (YuNet's read a 12° tilt as about 6°): use them when both
	// eyes were found, or, without landmarks, whichever was found.
	for side, p := range found {
		if p != nil && (!f.HasLandmarks || f.EyesFound == 2) {
			f.Eyes[side] = *p
		}
	}
}

// trackedBy marks, in eyeFinder's per-side "by", an eye found by tracking
// its patch rather than by a cascade.
const trackedBy = -1

// canTrack: the live path on the upright frame, with both eyes' patches
// from an earlier frame of this face and their expected positions.
func (e *eyeFinder) canTrack() bool {
	return e.live && e.upright && e.tmplOK && e.havePred && e.hint > 0
}

// trackInto tracks one eye (see track) and, when found, records it in the
// search's per-side results.
func (e *eyeFinder) trackInto(side int, band image.Rectangle, scale float64, found *[2]*PointF, by *[2]int, sizes *[2]float64) bool {
	e.tried[side] = true
	p, ok := e.track(side, band, scale)
	if ok {
		found[side], by[side], sizes[side] = &p, trackedBy, e.hint
	}
	return ok
}

// minTrackScore is the least normalised correlation at which an eye's
// patch from an earlier frame counts as found again. On the simulated
// sitter with sensor noise (TestTrackedEyesBlink) open eyes matched their
// patches at 0.90-1.00 and closed ones at 0.45-0.65.
const minTrackScore = 0.8

// keepTemplates copies each eye's patch (side about the eye box's, centred
// on the iris) out of the band image for the next frames' tracking.
func (e *eyeFinder) keepTemplates(found [2]*PointF, band image.Rectangle, scale, size float64) {
	half := int(size*0.5 + 0.5)
	bounds := image.Rect(0, 0, e.scratch.Cols(), e.scratch.Rows())
	e.tmplOK = false
	for side, p := range found {
		c := image.Pt(int((p.X-float64(band.Min.X))*scale+0.5), int((p.Y-float64(band.Min.Y))*scale+0.5))
		r := image.Rect(c.X-half, c.Y-half, c.X+half, c.Y+half)
		if half < 4 || !r.In(bounds) {
			return
		}
		reg := e.scratch.Region(r)
		reg.CopyTo(&e.tmpl[side])
		reg.Close()
		if patchSpread(e.tmpl[side]) < minTemplateSpread {
			// A flat patch correlates with any flat skin: no tracking.
			return
		}
	}
	e.tmplOK = true
}

// minTemplateSpread is the least standard deviation, in grey levels, of an
// eye patch kept for tracking; an open eye (iris, white, lids) has several
// times that.
const minTemplateSpread = 8

// patchSpread is the standard deviation of a small grey patch's pixels.
func patchSpread(m gocv.Mat) float64 {
	p, err := planeOf(&m)
	if err != nil {
		return 0
	}
	var s, s2 float64
	for y := 0; y < p.h; y++ {
		for x := 0; x < p.w; x++ {
			v := float64(p.at(x, y))
			s += v
			s2 += v * v
		}
	}
	n := float64(p.w * p.h)
	if n == 0 {
		return 0
	}
	return math.Sqrt(max(0, s2/n-(s/n)*(s/n)))
}

// track looks for the given eye's patch from an earlier frame around
// where the eye is expected (e.pred), by normalised cross-correlation on
// the band image; it gives the eye's centre in frame pixels. It is how the
// live path places an eye the cascades missed in this frame (a glint, the
// sensor's noise, a few degrees of roll): the position is then measured,
// not guessed, and the roll is known without searching tilted copies. The
// patch is an eye the cascades saw open, and a closing lid changes it far
// beyond minTrackScore (TestTrackedEyesBlink), so a tracked eye counts as
// seen open (Face.EyesFound).
func (e *eyeFinder) track(side int, band image.Rectangle, scale float64) (PointF, bool) {
	t := e.tmpl[side]
	tw, th := t.Cols(), t.Rows()
	p := e.pred[side]
	c := image.Pt(int((p.X-float64(band.Min.X))*scale+0.5), int((p.Y-float64(band.Min.Y))*scale+0.5))
	// Within about half an eye of where it was, as the cascade's narrow
	// search looks.
	r := int(e.hint*0.5+0.5) + tw/2
	win := image.Rect(c.X-r, c.Y-r, c.X+r+1, c.Y+r+1).Intersect(image.Rect(0, 0, e.scratch.Cols(), e.scratch.Rows()))
	if win.Dx() <= tw || win.Dy() <= th {
		return PointF{}, false
	}
	reg := e.scratch.Region(win)
	gocv.MatchTemplate(reg, t, &e.match, gocv.TmCcoeffNormed, e.noMask)
	reg.Close()
	_, best, _, at := gocv.MinMaxLoc(e.match)
	if best < minTrackScore {
		return PointF{}, false
	}
	return PointF{
		X: float64(band.Min.X) + (float64(win.Min.X+at.X)+float64(tw)/2)/scale,
		Y: float64(band.Min.Y) + (float64(win.Min.Y+at.Y)+float64(th)/2)/scale,
	}, true
}

// findNear searches, for each eye still missing, a square of 2.2 eye sizes
// around where it is expected (e.pred): the windows whose centres lie
// within about half an eye of where the eye was, with first the cascade
// that found that eye last time.
func (e *eyeFinder) findNear(band image.Rectangle, scale float64, lo, hi int, found *[2]*PointF, by *[2]int, sizes *[2]float64, consider func([]image.Rectangle, image.Point)) {
	r := int(e.hint*0.9 + 0.5)
	for side, p := range e.pred {
		c := image.Pt(int((p.X-float64(band.Min.X))*scale), int((p.Y-float64(band.Min.Y))*scale))
		sub := image.Rect(c.X-r, c.Y-r, c.X+r, c.Y+r).Intersect(image.Rect(0, 0, e.scratch.Cols(), e.scratch.Rows()))
		if sub.Dx() < lo || sub.Dy() < lo {
			continue
		}
		for j := range e.cc {
			if (*found)[side] != nil {
				break
			}
			if j == 1 && e.canTrack() && e.trackInto(side, band, scale, found, by, sizes) {
				break // the eye's own patch, before the second cascade
			}
			k := (e.lastBy[side] + j) % len(e.cc)
			reg := e.scratch.Region(sub)
			rects := e.cc[k].DetectMultiScaleWithParams(reg, 1.1, 2, 0, image.Pt(lo, lo), image.Pt(hi, hi))
			reg.Close()
			had := (*found)[side]
			consider(rects, sub.Min)
			if (*found)[side] != had {
				(*by)[side] = k
			}
		}
	}
}

// estimatedEyes places the eyes where they sit in a frontal cascade box:
// about 30% and 70% across and 38% down.
func estimatedEyes(b image.Rectangle) [2]PointF {
	w, h := float64(b.Dx()), float64(b.Dy())
	x0, y0 := float64(b.Min.X), float64(b.Min.Y)
	return [2]PointF{{x0 + 0.3*w, y0 + 0.38*h}, {x0 + 0.7*w, y0 + 0.38*h}}
}

// sortFaces orders faces largest first.
func sortFaces(fs []Face) {
	sort.SliceStable(fs, func(i, j int) bool {
		return fs[i].Box.Dx()*fs[i].Box.Dy() > fs[j].Box.Dx()*fs[j].Box.Dy()
	})
}

// darkCentre returns the centre of the darkest pixels (iris and pupil) in
// the middle of an eye box, in the box's image coordinates; the cascade's
// box centre is off by a few pixels, which tilts the eye line by degrees.
// It falls back to the box centre when the box has no clear dark spot.
func darkCentre(m gocv.Mat, r image.Rectangle) PointF {
	box := PointF{float64(r.Min.X+r.Max.X) / 2, float64(r.Min.Y+r.Max.Y) / 2}
	p, err := planeOf(&m)
	if err != nil {
		return box
	}
	// The middle of the box: eyebrows and lashes sit at its edges.
	in := image.Rect(r.Min.X+r.Dx()/5, r.Min.Y+r.Dy()/4, r.Max.X-r.Dx()/5, r.Max.Y-r.Dy()/5).Intersect(image.Rect(0, 0, p.w, p.h))
	if in.Dx() < 3 || in.Dy() < 3 {
		return box
	}
	var hist [256]int
	for y := in.Min.Y; y < in.Max.Y; y++ {
		for x := in.Min.X; x < in.Max.X; x++ {
			hist[p.at(x, y)]++
		}
	}
	// The darkest 12% of the pixels: about the iris's share of the box.
	n := in.Dx() * in.Dy()
	lim, acc := 0, 0
	for v, k := range hist {
		acc += k
		if acc*100 >= n*12 {
			lim = v
			break
		}
	}
	if histMedian(hist[:], n)-lim < 20 {
		return box // no contrast: a closed eye or a flat patch
	}
	var sx, sy, cnt float64
	for y := in.Min.Y; y < in.Max.Y; y++ {
		for x := in.Min.X; x < in.Max.X; x++ {
			if int(p.at(x, y)) <= lim {
				sx += float64(x)
				sy += float64(y)
				cnt++
			}
		}
	}
	if cnt == 0 {
		return box
	}
	return PointF{sx/cnt + 0.5, sy/cnt + 0.5}
}
