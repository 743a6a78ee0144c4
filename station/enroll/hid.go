package enroll

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"slices"
	"time"

	"github.com/openenroll/stationd/capture/finger"
	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/devices/hid"
	"github.com/openenroll/stationd/station/session"
)

// Run watches the booth's foot pedals until ctx ends: a press captures the
// open session's next finger, so the officer can keep both hands guiding
// the applicant's. Close also stops it.
func (c *Controller) Run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.ctx.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	sub := c.opts.Registry.Subscribe(0)
	defer sub.Close()
	for _, st := range c.opts.Registry.Snapshot() {
		c.watchPedal(ctx, st.Info.ID)
	}
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			return
		}
		if ev.Type == devices.EventAdded && ev.Device.Kind == devices.KindPedal {
			c.watchPedal(ctx, ev.Device.ID)
		}
	}
}

// watchPedal follows one pedal's presses until it is closed (unplugged: the
// registry opens a new one, which Run picks up again).
func (c *Controller) watchPedal(ctx context.Context, id string) {
	d, ok := c.opts.Registry.Get(id)
	if !ok {
		return
	}
	p, ok := d.(*hid.Pedal)
	if !ok {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-p.Events():
				if !ok {
					return
				}
				if ev.Pressed {
					c.pedalPressed(ctx, id)
				}
			}
		}
	}()
}

// pedalPressed captures the next finger of the session being captured.
func (c *Controller) pedalPressed(ctx context.Context, pedal string) {
	var open *session.Session
	for _, s := range c.opts.Sessions.List() {
		if s.State == session.Capturing {
			open = s // the newest open one
		}
	}
	if open == nil || open.NextFinger() == 0 {
		c.publish("pedal.pressed", map[string]any{"device": pedal, "action": "none"})
		return
	}
	pos := open.NextFinger()
	c.publish("pedal.pressed", map[string]any{"device": pedal, "action": "capture", "session": open.ID, "position": pos})
	// The capture runs beside the pedal loop so a second press is not
	// queued behind a finger wait (it is refused as device_busy instead).
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if _, err := c.CaptureFinger(ctx, open.ID, pos, ""); err != nil {
			c.publish("capture.finger.error", map[string]any{"session": open.ID, "position": pos, "error": err.Error()})
		}
	}()
}

// setLight tells the applicant what to do on every status light, in the
// background and without waiting: a light is never worth delaying a capture.
func (c *Controller) setLight(p hid.Pattern) {
	for _, st := range c.opts.Registry.Snapshot() {
		if st.Info.Kind != devices.KindLight {
			continue
		}
		d, ok := c.opts.Registry.Get(st.Info.ID)
		if !ok {
			continue
		}
		lt, ok := d.(*hid.Light)
		if !ok {
			continue
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
			defer cancel()
			if err := lt.Set(ctx, p); err != nil {
				c.log.Debug("status light", "device", st.Info.ID, "err", err)
			}
		}()
	}
}

// SlapResult is the reply to session.slap.capture.
type SlapResult struct {
	Session   string              `json:"session"`
	Slap      string              `json:"slap"`
	WrongHand bool                `json:"wrong_hand"`
	Missing   []int               `json:"missing,omitempty"`
	Reasons   []string            `json:"reasons,omitempty"`
	Fingers   []SlapFingerOutcome `json:"fingers"`
	Recorded  bool                `json:"recorded"` // attempts added to the session
	// Width and Height are the slap image's size; Boxes place every
	// fingertip found on it (of the other hand too, when WrongHand), for
	// the UI to draw over the preview.slap image.
	Width   int            `json:"width"`
	Height  int            `json:"height"`
	Boxes   []SlapBox      `json:"boxes"`
	Summary map[string]any `json:"summary"`
}

// SlapBox is one fingertip's bounding box on the slap image, in pixels.
type SlapBox struct {
	Position int `json:"position"`
	X        int `json:"x"`
	Y        int `json:"y"`
	W        int `json:"w"`
	H        int `json:"h"`
}

// SlapFingerOutcome is one segmented finger of a slap.
type SlapFingerOutcome struct {
	Position int      `json:"position"`
	Name     string   `json:"name"`
	Score    int      `json:"score"`
	Reasons  []string `json:"reasons,omitempty"`
	Kept     bool     `json:"kept"`
}

// slapKinds maps the command's slap names to the slap position, the
// scanner's and the segmenter's kinds, and the scanner's finger bits in the
// order of session.SlapFingers(slap).
var slapKinds = map[string]struct {
	slap int // session.SlapRightFour ...
	hid  hid.SlapKind
	seg  finger.SlapKind
	bits []uint8
}{
	"right":  {session.SlapRightFour, hid.RightFour, finger.SlapRightFour, []uint8{hid.FingerIndex, hid.FingerMiddle, hid.FingerRing, hid.FingerLittle}},
	"left":   {session.SlapLeftFour, hid.LeftFour, finger.SlapLeftFour, []uint8{hid.FingerIndex, hid.FingerMiddle, hid.FingerRing, hid.FingerLittle}},
	"thumbs": {session.SlapThumbs, hid.TwoThumbs, finger.SlapTwoThumbs, []uint8{hid.ThumbRight, hid.ThumbLeft}},
}

func (c *Controller) cmdCaptureSlap(ctx context.Context, p json.RawMessage) (any, error) {
	in, err := decode[struct {
		Session string `json:"session"`
		Slap    string `json:"slap"` // right, left, thumbs
		Device  string `json:"device"`
		Manual  bool   `json:"manual"` // wait for the pedal instead of capturing when still
	}](p)
	if err != nil {
		return nil, err
	}
	return c.CaptureSlap(ctx, in.Session, in.Slap, in.Device, in.Manual)
}

// CaptureSlap takes one slap (four fingers or two thumbs) on a slap
// scanner, segments it, scores each fingertip and records each as an
// attempt of its finger, unless the fingers are of the wrong hand.
func (c *Controller) CaptureSlap(ctx context.Context, sid, which, deviceID string, manual bool) (*SlapResult, error) {
	k, ok := slapKinds[which]
	if !ok {
		return nil, fail("bad_request", "slap %q: use right, left or thumbs", which)
	}
	s, err := c.opts.Sessions.Get(sid)
	if err != nil {
		return nil, coded(err)
	}
	if s.State != session.Capturing {
		return nil, fail("refused", "session is %s, not capturing", s.State)
	}
	// Expect the fingers the session still needs and has not excused.
	var expected []int
	var bits uint8
	for i, pos := range session.SlapFingers(k.slap) {
		if !slices.Contains(s.Policy.FingerOrder, pos) {
			continue
		}
		if f := s.Fingers[pos]; f != nil && f.Exception != nil {
			continue
		}
		expected = append(expected, pos)
		bits |= k.bits[i]
	}
	if len(expected) == 0 {
		return nil, fail("refused", "no finger of this slap is to be captured in this session")
	}
	sc, info, err := findDevice[*hid.Slap](c.opts.Registry, deviceID, devices.KindSlap)
	if err != nil {
		return nil, err
	}
	if err := c.claim(info.ID, "taking a slap"); err != nil {
		return nil, err
	}
	defer c.release(info.ID)
	c.setLight(hid.PatternPlaceFingers)
	c.publish("capture.slap.waiting", map[string]any{"session": sid, "slap": which, "expected": expected, "device": info.ID})
	c.attempt(info.ID, "slap")
	img, err := sc.Capture(ctx, hid.SlapRequest{Kind: k.hid, Expected: bits, Manual: manual, Timeout: c.opts.FingerTimeout})
	if err != nil {
		c.failed(ctx, info.ID, "slap", err)
		c.setLight(hid.PatternTryAgain)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fail("capture_failed", "slap scanner %s: %v", info.ID, err)
	}
	c.captured(info.ID, "slap")
	seg, err := finger.SegmentSlap(img.Gray, img.PPI, k.seg, finger.SlapOptions{Expected: expected})
	if err != nil {
		c.setLight(hid.PatternTryAgain)
		return nil, fail("capture_failed", "segmenting the slap: %v", err)
	}
	b := img.Gray.Bounds()
	res := &SlapResult{Session: sid, Slap: which, WrongHand: seg.WrongHand, Missing: seg.Missing, Reasons: seg.Reasons,
		Width: b.Dx(), Height: b.Dy(), Boxes: []SlapBox{}}
	for _, f := range seg.Fingers {
		r := f.Box.Sub(b.Min)
		res.Boxes = append(res.Boxes, SlapBox{Position: f.Position, X: r.Min.X, Y: r.Min.Y, W: r.Dx(), H: r.Dy()})
	}
	c.previewSlap(sid, which, img.Gray)
	if seg.WrongHand {
		// Never record a left hand as the right one.
		c.setLight(hid.PatternTryAgain)
		res.Reasons = append(res.Reasons, fmt.Sprintf("these fingers are of the other hand: place the %s", slapName(which)))
		res.Summary = s.Summary()
		c.publish("capture.slap.result", res)
		return res, nil
	}
	ns := s
	for _, f := range seg.Fingers {
		if !slices.Contains(expected, f.Position) || f.Image == nil {
			continue
		}
		out := SlapFingerOutcome{Position: f.Position, Name: session.FingerName(f.Position), Score: f.Quality.Score}
		for _, r := range f.Quality.Reasons {
			out.Reasons = append(out.Reasons, string(r))
		}
		if f.Quality.Fingerprint {
			pngData, err := encodePNG(f.Image)
			if err != nil {
				return nil, err
			}
			b := f.Image.Bounds()
			next, err := c.opts.Sessions.AddFingerAttempt(sid, f.Position, session.Capture{Data: pngData, Format: "png",
				Width: b.Dx(), Height: b.Dy(), PPI: img.PPI, Score: f.Quality.Score, Reasons: out.Reasons,
				Device: info.ID, DeviceUse: c.use(info)})
			if err != nil {
				out.Reasons = append(out.Reasons, err.Error())
			} else {
				ns = next
				res.Recorded = true
				kept := next.Fingers[f.Position]
				out.Kept = kept.BestOf == len(kept.Attempts)-1
			}
		}
		res.Fingers = append(res.Fingers, out)
	}
	if res.Recorded {
		// Keep the whole slap with where each finger lies on it: the
		// central checks the fingers' sequence against it.
		if next, err := c.keepSlap(sid, k.slap, img.Gray, img.PPI, &seg, expected, info); err != nil {
			c.log.Warn("slap image not kept", "session", sid, "slap", which, "err", err)
			res.Reasons = append(res.Reasons, "the slap image was not kept: "+err.Error())
		} else {
			ns = next
		}
	}
	res.Summary = ns.Summary()
	if len(res.Missing) == 0 && res.Recorded {
		c.setLight(hid.PatternDone)
	} else {
		c.setLight(hid.PatternTryAgain)
	}
	c.publish("capture.slap.result", res)
	return res, nil
}

// keepSlap stores the slap image with the box and score of each expected
// finger found on it.
func (c *Controller) keepSlap(sid string, slap int, g *image.Gray, ppi int, seg *finger.SlapResult, expected []int, info devices.Info) (*session.Session, error) {
	b := g.Bounds()
	frame := image.Rect(0, 0, b.Dx(), b.Dy())
	var segs []session.Segment
	for _, f := range seg.Fingers {
		if !slices.Contains(expected, f.Position) || f.Image == nil {
			continue
		}
		r := f.Box.Sub(b.Min).Intersect(frame)
		if r.Empty() {
			continue
		}
		sg := session.Segment{Position: f.Position, X: r.Min.X, Y: r.Min.Y, W: r.Dx(), H: r.Dy(), Score: f.Quality.Score}
		for _, p := range f.Outline {
			p = p.Sub(b.Min)
			sg.Outline = append(sg.Outline, [2]int{min(max(p.X, 0), b.Dx()-1), min(max(p.Y, 0), b.Dy()-1)})
		}
		segs = append(segs, sg)
	}
	data, err := encodePNG(g)
	if err != nil {
		return nil, err
	}
	return c.opts.Sessions.SetSlap(sid, slap, session.Capture{Data: data, Format: "png", Width: b.Dx(), Height: b.Dy(), PPI: ppi,
		Device: info.ID, DeviceUse: c.use(info)}, segs)
}

func slapName(which string) string {
	switch which {
	case "right":
		return "four fingers of the right hand"
	case "left":
		return "four fingers of the left hand"
	}
	return "two thumbs"
}

// slapPreviewWidth is the width the slap image is shrunk to for the UI: a
// 500 ppi four-finger slap is some 1600 px wide, more than a screen shows
// beside the per-finger results, and its PNG would take the socket a while.
const slapPreviewWidth = 800

// previewSlap sends the slap image, shrunk, for the officer to see where
// each fingertip was found (the boxes come with capture.slap.result).
func (c *Controller) previewSlap(sid, which string, g *image.Gray) {
	if c.opts.Bus == nil || c.opts.Bus.Followers() == 0 {
		return
	}
	small := shrinkGray(g, (g.Bounds().Dx()+slapPreviewWidth-1)/slapPreviewWidth)
	data, err := encodePNG(small)
	if err != nil {
		c.log.Warn("slap preview not sent", "err", err)
		return
	}
	sb := small.Bounds()
	c.publishPreview("preview.slap", map[string]any{"session": sid, "slap": which, "format": "png",
		"width": sb.Dx(), "height": sb.Dy()}, data)
}

// shrinkGray averages f×f blocks (f ≥ 1) of g into one pixel each.
func shrinkGray(g *image.Gray, f int) *image.Gray {
	b := g.Bounds()
	if f <= 1 {
		return g
	}
	w, h := b.Dx()/f, b.Dy()/f
	out := image.NewGray(image.Rect(0, 0, max(w, 1), max(h, 1)))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			sum := 0
			for dy := 0; dy < f; dy++ {
				row := g.Pix[(b.Min.Y+y*f+dy-g.Rect.Min.Y)*g.Stride+(b.Min.X+x*f-g.Rect.Min.X):]
				for dx := 0; dx < f; dx++ {
					sum += int(row[dx])
				}
			}
			out.Pix[y*out.Stride+x] = uint8(sum / (f * f))
		}
	}
	return out
}
