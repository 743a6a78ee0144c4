package enroll

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"

	"github.com/openenroll/stationd/capture/face"
	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/devices/camera"
	"github.com/openenroll/stationd/station/session"
)

// FaceOptions tune the portrait step.
type FaceOptions struct {
	Analyzer    face.Options
	AutoCapture face.AutoCaptureOptions
	// Geometry of the kept portrait (ICAO full-frontal by default).
	Geometry face.Geometry
	// JPEGBudget bounds the kept portrait's size in bytes (a chip's DG2
	// has room for 15-20 KB); 0: quality 95 without a bound.
	JPEGBudget int
	// Timeout bounds one auto-capture attempt.
	Timeout time.Duration
	// PreviewWidth is the width preview frames are scaled to for the UI.
	PreviewWidth int
}

func (o *FaceOptions) defaults() {
	if o.Geometry.Width == 0 {
		o.Geometry = face.FullFrontal
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.PreviewWidth <= 0 {
		o.PreviewWidth = 640
	}
	if o.Analyzer.TrackEvery == 0 {
		o.Analyzer.TrackEvery = face.DefaultLiveTrackEvery
	}
	if o.AutoCapture.MaxMisses == 0 {
		o.AutoCapture.MaxMisses = 1
	}
}

// FaceResult is the reply to session.face.capture.
type FaceResult struct {
	Session string        `json:"session"`
	Score   int           `json:"score"`
	Pass    bool          `json:"pass"`
	Manual  bool          `json:"manual"` // taken by the officer's override, checks not all passed
	Reasons []face.Reason `json:"reasons"`
	Width   int           `json:"width"`
	Height  int           `json:"height"`
	Bytes   int           `json:"bytes"`
	Frames  int           `json:"frames"` // frames analysed
	// Refused counts auto-captures that the thorough re-check of the
	// frame (face.Analyzer.Confirm) did not confirm.
	Refused int            `json:"refused"`
	Summary map[string]any `json:"summary"`
}

// facePreview is the payload of preview.face messages.
type facePreview struct {
	Session     string           `json:"session"`
	Format      string           `json:"format"`
	Width       int              `json:"width"` // of the preview image
	Height      int              `json:"height"`
	Scale       float64          `json:"scale"` // preview pixels per frame pixel
	Box         *image.Rectangle `json:"box,omitempty"`
	Eyes        [][2]float64     `json:"eyes,omitempty"`
	Checks      []face.Component `json:"checks"`
	Pass        bool             `json:"pass"`
	Instruction string           `json:"instruction,omitempty"`
	Reasons     []face.Reason    `json:"reasons,omitempty"`
	Seq         uint64           `json:"seq"`
	// AnalysedSeq is the camera frame the box and checks were found on:
	// Seq or an earlier frame (the checks run beside the preview).
	AnalysedSeq uint64 `json:"analysed_seq"`
}

func (c *Controller) cmdCaptureFace(ctx context.Context, p json.RawMessage) (any, error) {
	in, err := decode[struct {
		Session string `json:"session"`
		Device  string `json:"device"`
		// Manual takes the next frame with a face whatever the checks say
		// (the officer's override, recorded with the failing reasons).
		Manual bool `json:"manual"`
	}](p)
	if err != nil {
		return nil, err
	}
	return c.CaptureFace(ctx, in.Session, in.Device, in.Manual)
}

// CaptureFace watches the camera, checks every frame, streams previews
// with the checks to the UI, and keeps the best frame of the first stable
// compliant run (or, with manual, the first frame with one face).
func (c *Controller) CaptureFace(ctx context.Context, sid, deviceID string, manual bool) (*FaceResult, error) {
	fo := c.opts.Face
	fo.defaults()
	s, err := c.opts.Sessions.Get(sid)
	if err != nil {
		return nil, coded(err)
	}
	if s.State != session.Capturing {
		return nil, fail("refused", "session is %s, not capturing", s.State)
	}
	cam, info, err := findDevice[*camera.Device](c.opts.Registry, deviceID, devices.KindCamera)
	if err != nil {
		return nil, err
	}
	if err := c.claim(info.ID, "taking the portrait"); err != nil {
		return nil, err
	}
	defer c.release(info.ID)
	an, err := face.NewAnalyzer(fo.Analyzer)
	if err != nil {
		return nil, fmt.Errorf("face checks: %w", err)
	}
	defer an.Close()
	ac := face.NewAutoCapture(fo.AutoCapture)
	defer ac.Close()
	// A queue of one: when the checks fall behind the camera, the oldest
	// frame is dropped and the next analysis takes the newest, so they lag
	// the person by one analysis at most, never by a queue.
	sub := cam.Subscribe(1)
	defer sub.Close()
	ctx, cancel := context.WithTimeout(ctx, fo.Timeout)
	defer cancel()
	// The preview runs beside the checks, at the camera's rate: every
	// frame goes to the screen as it arrives, with the overlay of the
	// latest analysed frame (at most one analysis old), so the officer's
	// view neither stutters nor lags when the checks take longer than a
	// frame.
	var latest atomic.Pointer[analysed]
	stopPreview := c.facePreviewLoop(ctx, cam, sid, &latest)
	defer stopPreview()
	frames, rechecked := 0, 0
	c.attempt(info.ID, "portrait")
	var kept face.Captured
	got := false
	for !got {
		fr, err := sub.Next(ctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return nil, fail("face_timeout", "no compliant portrait within %v: follow the instructions on screen, or take it manually", fo.Timeout)
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			c.failed(ctx, info.ID, "portrait", err)
			return nil, fail("device_unavailable", "camera %s: %v", info.ID, err)
		}
		res, err := an.Analyze(fr.Mat)
		frames++
		if err == nil {
			latest.Store(snapshot(fr.Seq, res))
			switch {
			case manual && len(res.Faces) == 1:
				kept = face.Captured{Seq: fr.Seq, Time: fr.Time, Result: res, Frame: fr.Mat.Clone()}
				got = true
			case !manual:
				kept, got = ac.Offer(fr.Seq, fr.Time, res, fr.Mat)
				if got {
					// The live checks track the face between frames; the
					// frame about to be kept is checked once more the
					// thorough way (whole-frame search, full resolution).
					// If that disagrees, the person is watched again.
					conf, cerr := an.Confirm(kept.Frame)
					if cerr != nil || !conf.Pass || len(conf.Faces) != 1 {
						kept.Frame.Close()
						ac.Reset()
						got = false
						rechecked++
					} else {
						kept.Result = conf
					}
				}
			}
		}
		fr.Release()
	}
	defer kept.Frame.Close()
	c.captured(info.ID, "portrait")
	crop, err := face.Crop(kept.Frame, kept.Result.Faces[0], fo.Geometry)
	if err != nil {
		return nil, fail("capture_failed", "cropping the portrait: %v", err)
	}
	defer crop.Close()
	jpg, err := face.EncodeJPEG(crop, fo.JPEGBudget)
	if err != nil {
		return nil, fail("capture_failed", "encoding the portrait: %v", err)
	}
	reasons := make([]string, 0, len(kept.Result.Reasons))
	for _, r := range kept.Result.Reasons {
		reasons = append(reasons, r.Code)
	}
	ns, err := c.opts.Sessions.SetFace(sid, session.Capture{Data: jpg, Format: "jpeg", Width: crop.Cols(), Height: crop.Rows(),
		Score: kept.Result.Score, Reasons: reasons, Device: info.ID, DeviceUse: c.use(info)})
	if err != nil {
		return nil, coded(err)
	}
	out := &FaceResult{Session: sid, Score: kept.Result.Score, Pass: kept.Result.Pass, Manual: manual && !kept.Result.Pass,
		Reasons: kept.Result.Reasons, Width: crop.Cols(), Height: crop.Rows(), Bytes: len(jpg), Frames: frames, Refused: rechecked, Summary: ns.Summary()}
	c.publish("capture.face.result", out)
	c.publishPreview("preview.portrait", map[string]any{"session": sid, "format": "jpeg", "width": out.Width, "height": out.Height}, jpg)
	return out, nil
}

// analysed is what the checks found on one frame, for the preview overlay.
type analysed struct {
	seq uint64
	res face.Result
}

// snapshot copies what the preview shows of res (the analyzer may reuse
// its slices for the next frame while the preview goroutine reads them).
func snapshot(seq uint64, res face.Result) *analysed {
	a := &analysed{seq: seq, res: res}
	a.res.Components = append([]face.Component(nil), res.Components...)
	a.res.Reasons = append([]face.Reason(nil), res.Reasons...)
	a.res.Faces = append([]face.Face(nil), res.Faces...)
	return a
}

// facePreviewLoop publishes every camera frame as a preview.face, with the
// overlay of the latest analysed frame, until the returned stop function
// is called (it waits for the loop to end).
func (c *Controller) facePreviewLoop(ctx context.Context, cam *camera.Device, sid string, latest *atomic.Pointer[analysed]) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	psub := cam.Subscribe(1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer psub.Close()
		for {
			fr, err := psub.Next(ctx)
			if err != nil {
				return
			}
			if a := latest.Load(); a != nil { // nothing to overlay before the first analysis
				c.previewFace(sid, fr, a.res, a.seq)
			}
			fr.Release()
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// previewFace sends the frame, scaled down, with what the checks found on
// frame analysedSeq (this frame or an earlier one).
func (c *Controller) previewFace(sid string, fr *camera.Frame, res face.Result, analysedSeq uint64) {
	if c.opts.Bus == nil || c.opts.Bus.Followers() == 0 {
		return // no screen to show it on: do not encode the frame
	}
	w := c.opts.Face.PreviewWidth
	if w <= 0 {
		w = 640
	}
	scale := 1.0
	src := fr.Mat
	var small gocv.Mat
	if fr.Mat.Cols() > w {
		scale = float64(w) / float64(fr.Mat.Cols())
		small = gocv.NewMat()
		defer small.Close()
		gocv.Resize(fr.Mat, &small, image.Pt(w, int(float64(fr.Mat.Rows())*scale+0.5)), 0, 0, gocv.InterpolationArea)
		src = small
	}
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, src, []int{gocv.IMWriteJpegQuality, 70})
	if err != nil {
		return
	}
	data := append([]byte(nil), buf.GetBytes()...)
	buf.Close()
	p := facePreview{Session: sid, Format: "jpeg", Width: src.Cols(), Height: src.Rows(), Scale: scale,
		Checks: res.Components, Pass: res.Pass, Reasons: res.Reasons, Seq: fr.Seq, AnalysedSeq: analysedSeq}
	if len(res.Faces) > 0 {
		f := res.Faces[0]
		b := image.Rect(int(float64(f.Box.Min.X)*scale), int(float64(f.Box.Min.Y)*scale), int(float64(f.Box.Max.X)*scale), int(float64(f.Box.Max.Y)*scale))
		p.Box = &b
		for _, e := range f.Eyes {
			p.Eyes = append(p.Eyes, [2]float64{e.X * scale, e.Y * scale})
		}
	}
	if len(res.Reasons) > 0 {
		p.Instruction = res.Reasons[0].Message
	}
	c.opts.Bus.Publish(busPreview("preview.face", p, data))
}

// SnapshotJPEG takes one fresh frame from the camera as a JPEG (the photo
// of a hand for a finger exception).
func (c *Controller) SnapshotJPEG(ctx context.Context, deviceID string) ([]byte, error) {
	cam, info, err := findDevice[*camera.Device](c.opts.Registry, deviceID, devices.KindCamera)
	if err != nil {
		return nil, err
	}
	if err := c.claim(info.ID, "taking a photo"); err != nil {
		return nil, err
	}
	defer c.release(info.ID)
	sub := cam.Subscribe(1)
	defer sub.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// Skip one frame: the first may have been queued before the request.
	var fr *camera.Frame
	for range 2 {
		if fr != nil {
			fr.Release()
		}
		if fr, err = sub.Next(ctx); err != nil {
			return nil, fail("device_unavailable", "camera %s: %v", info.ID, err)
		}
	}
	defer fr.Release()
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, fr.Mat, []int{gocv.IMWriteJpegQuality, 85})
	if err != nil {
		return nil, err
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...), nil
}
