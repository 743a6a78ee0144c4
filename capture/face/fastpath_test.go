package face

import (
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	camsim "github.com/openenroll/stationd/firmware-sim/camera"
)

// onCanvas draws an image, scaled up to fill a 1280x720 frame's height as
// far as it fits (at most twice), centred on a grey backdrop: a camera
// frame big enough for the reduced analysis path (analysed at 640x360).
func onCanvas(t testing.TB, src gocv.Mat) gocv.Mat {
	const W, H = 1280, 720
	s := math.Min(2, math.Min(float64(W)/float64(src.Cols()), float64(H)/float64(src.Rows())))
	sz := image.Pt(int(float64(src.Cols())*s), int(float64(src.Rows())*s))
	sc := gocv.NewMat()
	defer sc.Close()
	gocv.Resize(src, &sc, sz, 0, 0, gocv.InterpolationLinear)
	frame := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(180, 180, 180, 0), H, W, gocv.MatTypeCV8UC3)
	dst := frame.Region(image.Rect((W-sz.X)/2, (H-sz.Y)/2, (W-sz.X)/2+sz.X, (H-sz.Y)/2+sz.Y))
	sc.CopyTo(&dst)
	dst.Close()
	return frame
}

// componentTolerance is how far a component's raw value on the fast path
// may stray from the full-resolution reference on the same frame. The
// reduced image averages 2x2 pixels, which narrows the face's histogram a
// little (variance, entropy, tails) and moves the cascade's boxes by a
// pixel or two of the reduced image (geometry, pose estimates).
var componentTolerance = map[string]struct{ abs, rel float64 }{
	"inter_eye_distance":      {2, 0.06},
	"head_size":               {0.01, 0.05},
	"leftward_crop":           {0.1, 0.05},
	"rightward_crop":          {0.1, 0.05},
	"margin_above":            {0.1, 0.05},
	"margin_below":            {0.1, 0.05},
	"centred":                 {0.05, 0.05},
	"roll":                    {1.5, 0},
	"yaw":                     {4, 0},
	"pitch":                   {4, 0},
	"eyes_open":               {1, 0},
	"mouth_closed":            {0.03, 0.2},
	"sharpness":               {10, 0.15},
	"luminance_mean":          {0.01, 0.02},
	"luminance_variance":      {0.002, 0.1},
	"under_exposure":          {0.02, 0.2},
	"over_exposure":           {0.02, 0.2},
	"dynamic_range":           {0.15, 0.03},
	"illumination_uniformity": {0.03, 0.05},
	"natural_colour":          {1, 0.1},
	"background_uniformity":   {0.5, 0.15},
	"compression_artifacts":   {0.1, 0.1},
	"single_face":             {0, 0},
}

// jpegHalfTolerance widens componentTolerance for JPEG frames decoded at
// half size (live path): the scaled inverse DCT keeps only each block's
// low frequencies, so sharpness reads about 20% lower (measured 0.78-0.85
// of the reference on these frames) and the block-border steps mostly
// vanish (compression ratio about 1.0 where full resolution reads
// 1.15-1.35).
var jpegHalfTolerance = map[string]struct{ abs, rel float64 }{
	"sharpness":             {10, 0.25},
	"compression_artifacts": {0.4, 0},
}

// agreement counts, over frames, verdicts equal to the reference's and
// measured components within tolerance, and logs the rest.
type agreement struct {
	t                        *testing.T
	frames, verdicts, n, inT int
	// onlyLogVerdicts: a different verdict is logged, not an error (the
	// caller judges verdicts against the scene's ground truth instead).
	onlyLogVerdicts bool
}

func (g *agreement) add(name string, ref, got Result, extra map[string]struct{ abs, rel float64 }) {
	g.frames++
	switch {
	case ref.Pass == got.Pass:
		g.verdicts++
	case g.onlyLogVerdicts:
		g.t.Logf("%s: pass %v %v, reference %v %v", name, got.Pass, reasonCodes(got), ref.Pass, reasonCodes(ref))
	default:
		g.t.Errorf("%s: pass %v %v, reference %v %v", name, got.Pass, reasonCodes(got), ref.Pass, reasonCodes(ref))
	}
	if len(ref.Faces) != len(got.Faces) {
		// Both fail then (the verdicts were compared above): a face the
		// reference finds in a degraded picture and the fast path does
		// not, or the reverse.
		g.t.Logf("%s: %d faces, reference %d", name, len(got.Faces), len(ref.Faces))
		return
	}
	for i, rc := range ref.Components {
		gc := got.Components[i]
		if !rc.Measured && !gc.Measured {
			continue
		}
		g.n++
		tol, ok := extra[rc.ID]
		if !ok {
			tol = componentTolerance[rc.ID]
		}
		d := math.Abs(gc.Raw - rc.Raw)
		if rc.Measured == gc.Measured && (d <= tol.abs || d <= tol.rel*math.Abs(rc.Raw)) {
			g.inT++
			continue
		}
		g.t.Logf("%s: %s %.4g (measured %v), reference %.4g (measured %v)", name, rc.ID, gc.Raw, gc.Measured, rc.Raw, rc.Measured)
	}
}

// minComponentAgreement is the share of measured components that must be
// within tolerance. The rest come from the eye cascade, which on a
// degraded picture (blurred, low contrast, tilted) may find an eye in one
// path and not the other, or pick another dark spot, from a box a pixel or
// two away: roll, yaw and the eye-distance measures then differ by more.
const minComponentAgreement = 0.9

func (g *agreement) check(what string) {
	share := float64(g.inT) / float64(max(g.n, 1))
	g.t.Logf("%s: verdict as the reference's on %d of %d frames; %d of %d measured components (%.1f%%) within tolerance",
		what, g.verdicts, g.frames, g.inT, g.n, 100*share)
	if share < minComponentAgreement {
		g.t.Errorf("%s: only %.1f%% of components within tolerance, want %.0f%%", what, 100*share, 100*minComponentAgreement)
	}
}

// TestReducedAnalysisAgrees: frames big enough to be analysed reduced
// (every committed portrait drawn on a 1280x720 frame) get the
// full-resolution reference's verdict on every frame and its components
// within the tolerances above: given decoded (still path, reduced
// analysis, full-resolution face checks) and as JPEG to the live path
// (half-size DCT decode, coarse search; tracking reset before each frame).
func TestReducedAnalysisAgrees(t *testing.T) {
	ref, err := NewAnalyzer(Options{AnalysisWidth: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	fast := newTestAnalyzer(t)
	live, err := NewAnalyzer(Options{TrackEvery: DefaultLiveTrackEvery})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	rows := readCSV(t, filepath.Join(testdataDir, "expected.csv"))
	mats, jpegs := agreement{t: t}, agreement{t: t}
	for i, r := range rows {
		// expected.csv lists each change made to the astronaut and then
		// to Hopper: one of each pair, alternately, covers every change
		// at half the cost of the full-resolution reference.
		if i%4 == 1 || i%4 == 2 {
			continue
		}
		if strings.Contains(r[0], "jpeg_q5") {
			// Scaled by 1.4, the 8-px blocks these files were made for no
			// longer sit on the grid: neither path can measure them, and
			// the verdict rests on whether the eye cascade sees an eye
			// through the blur of blocks.
			continue
		}
		src := decodeFile(t, r[0])
		frame := onCanvas(t, src)
		src.Close()
		jpg := encodeJPEG(t, frame, 95)
		rm, err1 := ref.Analyze(frame)
		fm, err2 := fast.Analyze(frame)
		live.ResetTracking()
		lj, err3 := live.AnalyzeBytes(jpg)
		frame.Close()
		for _, err := range []error{err1, err2, err3} {
			if err != nil {
				t.Fatalf("%s: %v", r[0], err)
			}
		}
		mats.add(r[0]+" decoded", rm, fm, nil)
		// The reference on the decoded frame stands for the JPEG one too:
		// at quality 95 they differ by less than the tolerances.
		jpegs.add(r[0]+" JPEG", rm, lj, jpegHalfTolerance)
	}
	mats.check("decoded 1280x720 frames, reduced analysis")
	jpegs.check("JPEG 1280x720 frames, live path decoding at half size")
}

// TestLivePathAgrees: the live path (tracking, coarse whole-frame search,
// narrowed eye search), fed each committed portrait as a still camera
// would deliver it, gives the reference's verdict on every frame: the
// first (whole-frame search), tracked ones and a periodic whole-frame
// search (TrackEvery 2 here, so that three frames see every kind).
func TestLivePathAgrees(t *testing.T) {
	ref := newTestAnalyzer(t)
	live, err := NewAnalyzer(Options{TrackEvery: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	rows := readCSV(t, filepath.Join(testdataDir, "expected.csv"))
	g := agreement{t: t}
	for _, r := range rows {
		data, err := os.ReadFile(filepath.Join(testdataDir, r[0]))
		if err != nil {
			t.Fatal(err)
		}
		want, err := ref.AnalyzeBytes(data)
		if err != nil {
			t.Fatal(err)
		}
		live.ResetTracking()
		for i := range 3 {
			got, err := live.AnalyzeBytes(data)
			if err != nil {
				t.Fatal(err)
			}
			g.add(fmt.Sprintf("%s frame %d", r[0], i), want, got, nil)
		}
	}
	g.check("live path on the committed portraits")
}

// TestAutoCaptureJPEGLive: the live path on JPEG frames of a moving
// sitter (1280x720, analysed from half-size decodes) fires the
// auto-capture, and the kept frame comes back at full resolution, with
// the face where the results (in full-frame pixels) say: its ICAO crop
// has one face with the eyes where the geometry puts them.
func TestAutoCaptureJPEGLive(t *testing.T) {
	live, err := NewAnalyzer(Options{TrackEvery: DefaultLiveTrackEvery})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	ac := NewAutoCapture(AutoCaptureOptions{StableFor: 200 * time.Millisecond, MinFrames: 3, MaxMisses: 1})
	defer ac.Close()
	seq := liveSequence(t, 1280, 720, 16)
	var kept Captured
	fired := false
	for i, jpg := range seq {
		res, err := live.AnalyzeBytes(jpg)
		if err != nil {
			t.Fatal(err)
		}
		c, ok, err := ac.OfferJPEG(uint64(i), time.Duration(i)*40*time.Millisecond, res, jpg)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			kept, fired = c, true
			break
		}
	}
	if !fired {
		t.Fatal("auto-capture did not fire on a compliant sitter")
	}
	defer kept.Frame.Close()
	if kept.Frame.Cols() != 1280 || kept.Frame.Rows() != 720 || len(kept.JPEG) == 0 {
		t.Fatalf("kept frame %dx%d, %d JPEG bytes; want the 1280x720 original", kept.Frame.Cols(), kept.Frame.Rows(), len(kept.JPEG))
	}
	crop, err := Crop(kept.Frame, kept.Result.Faces[0], FullFrontal)
	if err != nil {
		t.Fatal(err)
	}
	defer crop.Close()
	still := newTestAnalyzer(t)
	r, err := still.Analyze(crop)
	if err != nil || len(r.Faces) != 1 {
		t.Fatalf("crop: %v, %d faces", err, len(r.Faces))
	}
	e := r.Faces[0].Eyes
	if my, want := (e[0].Y+e[1].Y)/2, FullFrontal.EyeY*float64(FullFrontal.Height); math.Abs(my-want) > 0.06*float64(FullFrontal.Height) {
		t.Errorf("crop of the kept frame: eye line at %.1f px, want about %.1f", my, want)
	}
}

// TestTrackedEyesBlink: on the live path an eye the cascades miss may be
// found again by its patch from an earlier frame, and then counts as seen
// open. That must not hide a blink: the camera simulator's sitter, with
// sensor noise, holds still with her eyes open, closes them for six
// frames, and opens them again, twice. Every closed frame must fail
// eyes_open, and the open ones must pass it (a Haar cascade misses an eye
// now and then: at most one open frame in ten may).
func TestTrackedEyesBlink(t *testing.T) {
	p, err := camsim.LoadPerson(filepath.Join(testdataDir, "grace_hopper_512x512.jpg"), camsim.DefaultEyes)
	if err != nil {
		t.Fatal(err)
	}
	r, err := camsim.NewRenderer(640, 480, p)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAnalyzer(Options{TrackEvery: DefaultLiveTrackEvery})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var open, openMissed, closed, tracked int
	for i := range 2 * 40 {
		shut := i%40 >= 25 && i%40 < 31
		jpg, err := r.Frame(camsim.State{Present: true, Gain: 1, Noise: 3, Closed: shut})
		if err != nil {
			t.Fatal(err)
		}
		res, err := a.AnalyzeBytes(jpg)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Faces) != 1 {
			t.Fatalf("frame %d: %d faces", i, len(res.Faces))
		}
		var c Component
		for _, c = range res.Components {
			if c.ID == "eyes_open" {
				break
			}
		}
		if c.ID != "eyes_open" {
			t.Fatalf("frame %d: no eyes_open component", i)
		}
		if a.eyes.tmplOK {
			tracked++
		}
		switch {
		case shut:
			closed++
			if c.Pass {
				t.Errorf("frame %d: eyes closed, but eyes_open passes (%v eyes seen open)", i, c.Raw)
			}
		default:
			open++
			if !c.Pass {
				openMissed++
			}
		}
	}
	t.Logf("%d open frames (%d judged closed), %d closed frames; eye patches held in %d frames", open, openMissed, closed, tracked)
	if openMissed*10 > open {
		t.Errorf("%d of %d open-eyed frames judged closed", openMissed, open)
	}
	if tracked < open/2 {
		t.Errorf("eye patches held in only %d frames: tracking is not exercised", tracked)
	}
}

// TestLivePathMovingAgrees: on the moving sitter of the benchmarks (sway,
// bob, lean, fresh sensor noise in every frame), the live path, frame
// after frame with its tracking, gives the still path's components within
// tolerance. The sitter is compliant in every frame (eyes open, facing the
// camera), so verdicts are judged against that truth: the live path must
// pass at least 95% of the frames and no fewer than the still path. (The
// still path, with no earlier frame to go by, now and then misses both
// eyes in the noise and calls them closed.)
func TestLivePathMovingAgrees(t *testing.T) {
	ref := newTestAnalyzer(t)
	live, err := NewAnalyzer(Options{TrackEvery: DefaultLiveTrackEvery})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	g := agreement{t: t, onlyLogVerdicts: true}
	var refPass, livePass int
	for i, jpg := range liveSequence(t, 640, 480, seqFrames) {
		want, err1 := ref.AnalyzeBytes(jpg)
		got, err2 := live.AnalyzeBytes(jpg)
		if err1 != nil || err2 != nil {
			t.Fatalf("frame %d: %v %v", i, err1, err2)
		}
		g.add(fmt.Sprintf("frame %d", i), want, got, nil)
		if want.Pass {
			refPass++
		}
		if got.Pass {
			livePass++
		}
	}
	g.check("live path on the moving sitter")
	t.Logf("compliant sitter passed on %d of %d frames by the live path, %d by the still path", livePass, seqFrames, refPass)
	if livePass*100 < seqFrames*95 || livePass < refPass {
		t.Errorf("live path passed the compliant sitter on %d of %d frames (still path %d)", livePass, seqFrames, refPass)
	}
}

// TestPatchSpread: a flat patch has no spread (and is never kept as an eye
// template); a black-and-white checkerboard has half the range.
func TestPatchSpread(t *testing.T) {
	m := gocv.NewMatWithSize(10, 10, gocv.MatTypeCV8U)
	defer m.Close()
	m.SetTo(gocv.NewScalar(120, 0, 0, 0))
	if s := patchSpread(m); s != 0 {
		t.Errorf("flat patch: spread %v", s)
	}
	for y := range 10 {
		for x := range 10 {
			m.SetUCharAt(y, x, uint8(255*((x+y)%2)))
		}
	}
	if s := patchSpread(m); math.Abs(s-127.5) > 1e-9 {
		t.Errorf("checkerboard: spread %v, want 127.5", s)
	}
}
