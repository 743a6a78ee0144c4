package tech

import (
	"context"
	"fmt"
	"math"
	"time"

	"gocv.io/x/gocv"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/devices/camera"
)

// cam tests a camera on its live frames. Calibration measures the live
// image and, where the camera's controls can be changed while it streams
// (V4L2 cameras, the simulator), adjusts exposure, white balance and focus
// towards the image targets in a closed loop (camera_calib.go); a camera
// without runtime controls is measured and the technician told which
// option to change.
type cam struct {
	s *Service
	d *camera.Device
}

func cameraTester(s *Service, dev devices.Device) tester {
	d, ok := dev.(*camera.Device)
	if !ok {
		return nil
	}
	return &cam{s: s, d: d}
}

func (t *cam) steps(run string) int {
	if _, ok := t.d.Adjustable(); ok && run == RunCalibrate {
		return calibSteps
	}
	return 2
}

// defaultTargetFPS is what a camera that does not report its frame rate
// must reach: the operator UI's preview goal (issue: ≥ 25 fps).
const defaultTargetFPS = 25

func (t *cam) selftest(ctx context.Context, p *progress) []Check {
	n := t.s.opts.CameraFrames
	p.next(fmt.Sprintf("frame rate: counting %d frames", n))
	// A short queue: frames hold full images. Frames it loses still count
	// (by sequence number) towards the camera's rate.
	sub := t.d.Subscribe(4)
	defer sub.Close()
	var first, last struct {
		seq uint64
		at  time.Time
	}
	got, w, h := 0, 0, 0
	for i := 0; got < n; i++ {
		f, err := sub.Next(ctx)
		if err == nil && i < settleFrames {
			// Frames buffered while the stream was opened come in a
			// burst: not the camera's pace.
			f.Release()
			continue
		}
		if err != nil {
			p.next("frame size: skipped")
			return []Check{{Name: "frame-rate", Result: Fail,
				Message: fmt.Sprintf("the camera delivered %d of %d frames: %v", got, n, err),
				Advice:  "check the camera's cable and that no other program uses it; reconnect it"}}
		}
		if got == 0 {
			first.seq, first.at = f.Seq, f.At
			w, h = f.Mat.Cols(), f.Mat.Rows()
		}
		last.seq, last.at = f.Seq, f.At
		f.Release()
		got++
	}
	p.next("frame size")
	fr := Check{Name: "frame-rate"}
	span := last.at.Sub(first.at).Seconds()
	fps := 0.0
	if span > 0 {
		// Frames the camera delivered over the span, including any this
		// queue lost, so a slow test does not blame the camera.
		fps = float64(last.seq-first.seq) / span
	}
	nominal := t.d.Settings().FPS
	target := nominal
	if target <= 0 || target > 1000 {
		target = defaultTargetFPS
	}
	fr.Values = map[string]any{"fps": round2(fps), "target_fps": round2(target), "frames": got,
		"lost_by_test": int(last.seq-first.seq) + 1 - got}
	switch {
	case fps >= 0.9*target:
		fr.Result, fr.Message = Pass, fmt.Sprintf("%.1f fps achieved (target %.0f)", fps, target)
	case fps >= 0.5*target:
		fr.Result, fr.Message = Warn, fmt.Sprintf("only %.1f fps achieved (target %.0f)", fps, target)
		fr.Advice = "use the camera on its own USB port, choose fourcc = \"MJPG\", or lower width/height; long exposure in dim light also lowers the frame rate"
	default:
		fr.Result, fr.Message = Fail, fmt.Sprintf("%.1f fps achieved, far below the target %.0f", fps, target)
		fr.Advice = "use the camera on its own USB port, choose fourcc = \"MJPG\", lower width/height, and add light; replace the camera if it stays slow"
	}
	set := t.d.Settings()
	sz := Check{Name: "frame-size", Values: map[string]any{"width": w, "height": h}}
	if set.Width > 0 && set.Height > 0 && (w != set.Width || h != set.Height) {
		sz.Result, sz.Message = Warn, fmt.Sprintf("frames are %d × %d, the camera reported %d × %d", w, h, set.Width, set.Height)
	} else {
		sz.Result, sz.Message = Pass, fmt.Sprintf("frames are %d × %d", w, h)
	}
	return []Check{fr, sz}
}

// settleFrames are skipped before measuring: a camera's automatic exposure
// needs a moment to react to the scene, and a stream's first frames may
// come in a burst from its buffers.
const settleFrames = 5

func (t *cam) calibrate(ctx context.Context, p *progress) []Check {
	p.next("reading the live image (the booth as for an enrollment, nobody in front of the camera or the applicant seated)")
	sub := t.d.Subscribe(2)
	defer sub.Close()
	var m imageMeasures
	for i := 0; i <= settleFrames; i++ {
		f, err := sub.Next(ctx)
		if err != nil {
			p.next("measuring: no image")
			return []Check{{Name: "exposure", Result: Fail, Message: fmt.Sprintf("no image from the camera: %v", err),
				Advice: "check the camera's cable and reconnect it, then calibrate again"}}
		}
		if i == settleFrames {
			var merr error
			m, merr = measureMat(f.Mat)
			if merr != nil {
				f.Release()
				p.next("measuring: unusable image")
				return []Check{{Name: "exposure", Result: Fail, Message: merr.Error()}}
			}
		}
		f.Release()
	}
	if _, ok := t.d.Adjustable(); ok {
		return t.adjust(ctx, p, sub, m)
	}
	p.next("measuring exposure, white balance and focus")
	return []Check{m.exposure(), m.whiteBalance(), m.focus(),
		{Name: "adjustment", Result: Skipped, Values: map[string]any{"adjustable": false},
			Message: fmt.Sprintf("not adjustable: this camera's source (%s backend) cannot change exposure, white balance or focus while it runs, so they were only measured; "+
				"set them in the camera's [device.options] (exposure, white_balance, focus, or their auto_ switches) as advised above, restart stationd and calibrate again",
				t.d.Settings().Backend)}}
}

func measureMat(m gocv.Mat) (imageMeasures, error) {
	if m.Empty() || m.Type() != gocv.MatTypeCV8UC3 {
		return imageMeasures{}, fmt.Errorf("camera frame is not 8-bit colour (type %v)", m.Type())
	}
	return measureBGR(m.ToBytes(), m.Cols(), m.Rows(), m.Cols()*3), nil
}

// Live-image targets. They are engineering targets for a lit enrollment
// booth with a plain light background (ICAO 9303 p3 asks for even lighting
// and a plain background; the numbers here are ours, not the standard's).
const (
	lumaLowPass, lumaHighPass = 90.0, 170.0 // mean luma of a well exposed booth image
	lumaLowWarn, lumaHighWarn = 60.0, 200.0
	lumaTarget                = 128.0
	clipWarn, clipFail        = 0.05, 0.15 // fraction of pixels burnt out or crushed
	castPass, castWarn        = 0.08, 0.15 // gray-world channel imbalance (R/G, B/G away from 1)
	// Variance of the 4-neighbour Laplacian of luma in the image's centre:
	// a sharp face image at VGA and above lies well over 100.
	focusPass, focusWarn = 100.0, 30.0
)

// imageMeasures describe one live camera image.
type imageMeasures struct {
	Luma            float64 // mean luma, 0..255 (ITU-R BT.601 weights)
	ClipHigh        float64 // fraction of pixels with luma ≥ 250
	ClipLow         float64 // fraction with luma ≤ 5
	R, G, B         float64 // channel means over well exposed pixels
	Cast            float64 // max(|R/G−1|, |B/G−1|)
	LaplacianVar    float64 // centre sharpness
	Width, Height   int
	GrayWorldPixels int
}

// measureBGR measures an 8-bit BGR image.
func measureBGR(pix []byte, w, h, stride int) imageMeasures {
	m := imageMeasures{Width: w, Height: h}
	if w <= 0 || h <= 0 || stride < 3*w || len(pix) < (h-1)*stride+3*w {
		return m
	}
	luma := make([]float64, w*h)
	var sum, sr, sg, sb float64
	var hi, lo, nw int
	for y := 0; y < h; y++ {
		row := pix[y*stride:]
		for x := 0; x < w; x++ {
			b, g, r := float64(row[3*x]), float64(row[3*x+1]), float64(row[3*x+2])
			l := 0.299*r + 0.587*g + 0.114*b
			luma[y*w+x] = l
			sum += l
			switch {
			case l >= 250:
				hi++
			case l <= 5:
				lo++
			}
			if l >= 20 && l <= 235 {
				sr, sg, sb = sr+r, sg+g, sb+b
				nw++
			}
		}
	}
	n := float64(w * h)
	m.Luma, m.ClipHigh, m.ClipLow = sum/n, float64(hi)/n, float64(lo)/n
	m.GrayWorldPixels = nw
	if nw > 0 {
		m.R, m.G, m.B = sr/float64(nw), sg/float64(nw), sb/float64(nw)
		if m.G > 0 {
			m.Cast = math.Max(math.Abs(m.R/m.G-1), math.Abs(m.B/m.G-1))
		}
	}
	// Centre half of the frame, where the face is.
	x0, x1, y0, y1 := max(1, w/4), min(w-1, 3*w/4), max(1, h/4), min(h-1, 3*h/4)
	var ls, lq float64
	cnt := 0
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			i := y*w + x
			lap := luma[i-1] + luma[i+1] + luma[i-w] + luma[i+w] - 4*luma[i]
			ls += lap
			lq += lap * lap
			cnt++
		}
	}
	if cnt > 0 {
		mean := ls / float64(cnt)
		m.LaplacianVar = lq/float64(cnt) - mean*mean
	}
	return m
}

func (m imageMeasures) exposure() Check {
	c := Check{Name: "exposure", Values: map[string]any{"mean_luma": round2(m.Luma), "clipped_high": round2(m.ClipHigh),
		"clipped_low": round2(m.ClipLow), "target_luma": lumaTarget}}
	if m.Luma > 0 {
		c.Values["exposure_factor"] = round2(lumaTarget / m.Luma)
	}
	clip := max(m.ClipHigh, m.ClipLow)
	switch {
	case m.Luma < lumaLowWarn || m.Luma > lumaHighWarn || clip > clipFail:
		c.Result = Fail
	case m.Luma < lumaLowPass || m.Luma > lumaHighPass || clip > clipWarn:
		c.Result = Warn
	default:
		c.Result = Pass
		c.Message = fmt.Sprintf("well exposed (mean luma %.0f, %.1f%% clipped)", m.Luma, 100*clip)
		return c
	}
	switch {
	case m.Luma < lumaLowPass || m.ClipLow > clipWarn && m.ClipLow >= m.ClipHigh:
		c.Message = fmt.Sprintf("image too dark (mean luma %.0f, target about %.0f)", m.Luma, lumaTarget)
		c.Advice = fmt.Sprintf("add light in the booth, or raise the camera's exposure option about ×%.1f (or set auto_exposure = true)", lumaTarget/max(m.Luma, 1))
	default:
		c.Message = fmt.Sprintf("image too bright (mean luma %.0f, %.1f%% burnt out)", m.Luma, 100*m.ClipHigh)
		c.Advice = fmt.Sprintf("reduce the light on the face, or lower the camera's exposure option about ×%.1f (or set auto_exposure = true)", lumaTarget/max(m.Luma, 1))
	}
	return c
}

func (m imageMeasures) whiteBalance() Check {
	c := Check{Name: "white-balance", Values: map[string]any{"r_over_g": 0.0, "b_over_g": 0.0, "cast": round2(m.Cast)}}
	if m.GrayWorldPixels == 0 || m.G == 0 {
		c.Result, c.Message = Fail, "no well exposed pixels to judge the colour by"
		c.Advice = "fix the exposure first, then calibrate again"
		return c
	}
	c.Values["r_over_g"], c.Values["b_over_g"] = round2(m.R/m.G), round2(m.B/m.G)
	tint := "neutral"
	switch {
	case m.R/m.G-1 > castPass && m.R > m.B:
		tint = "reddish (warm light)"
	case m.B/m.G-1 > castPass && m.B > m.R:
		tint = "bluish (cold light)"
	case m.R < m.G && m.B < m.G:
		tint = "greenish"
	}
	switch {
	case m.Cast <= castPass:
		c.Result, c.Message = Pass, fmt.Sprintf("colour balanced (cast %.2f)", m.Cast)
		return c
	case m.Cast <= castWarn:
		c.Result = Warn
	default:
		c.Result = Fail
	}
	c.Message = fmt.Sprintf("colour cast %.2f: the image looks %s", m.Cast, tint)
	c.Advice = "use daylight-white lamps and a neutral grey or white background; set the camera's white_balance (kelvin) or auto_white_balance = true"
	return c
}

func (m imageMeasures) focus() Check {
	c := Check{Name: "focus", Values: map[string]any{"laplacian_variance": round2(m.LaplacianVar)}}
	switch {
	case m.LaplacianVar >= focusPass:
		c.Result, c.Message = Pass, fmt.Sprintf("sharp (Laplacian variance %.0f)", m.LaplacianVar)
	case m.LaplacianVar >= focusWarn:
		c.Result, c.Message = Warn, fmt.Sprintf("slightly soft (Laplacian variance %.0f, target ≥ %.0f)", m.LaplacianVar, focusPass)
		c.Advice = "check the focus with the applicant seated; set the camera's focus option or auto_focus = true; clean the lens"
	default:
		c.Result, c.Message = Fail, fmt.Sprintf("blurred (Laplacian variance %.0f, target ≥ %.0f)", m.LaplacianVar, focusPass)
		c.Advice = "clean the lens; set the camera's focus option for the seat's distance or auto_focus = true"
	}
	return c
}
