package tech

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/openenroll/stationd/devices/camera"
	"github.com/openenroll/stationd/station/bus"
)

// Closed-loop camera calibration: exposure, then white balance, then
// focus, each adjusted in bounded steps from measurements of the live
// image taken after the camera has had time to apply the change, until
// the image meets its target or the control can go no further.

// calibSteps: reading, exposure, white balance, focus, final measurement.
const calibSteps = 5

// Loop limits and tolerances.
const (
	// Frames skipped after a change before measuring: frames already in
	// flight (a USB camera's buffers, a network stream's socket) show the
	// old setting, and cameras apply some controls a frame late.
	changeSettleFrames = 2
	// Frames averaged per measurement.
	measureFrames = 2

	maxExposureSteps = 8
	lumaTolerance    = 12.0 // grey levels around lumaTarget counted as on target
	// exposureStepMax bounds one exposure change to ×2 or ×½: a scene
	// measured while clipped is darker or brighter than it reads.
	exposureStepMax = 2.0

	maxWBSteps = 8
	// wbTolerance on ln(R/B) of the gray-world means: 3% red against blue.
	wbTolerance = 0.03
	// wbSlope is the first guess of how ln(R/B) moves per mired of white
	// balance (≈0.36% per mired for consumer sensors between daylight and
	// tungsten); later steps use the slope observed.
	wbSlope      = 0.0036
	wbMiredStep  = 60.0 // largest change per step, mired
	wbSlopeFloor = 0.0005

	// Focus: a sweep of focusSweep positions across the range, then a
	// hill climb from the sharpest with halving steps.
	focusSweep    = 9
	maxFocusSteps = 14
	// focusGain: a neighbour must be this much sharper to move to it
	// (above the measure's frame-to-frame noise).
	focusGain = 1.03
)

// detail publishes a progress message under the current step.
func (p *progress) detail(msg string) {
	if p.s.opts.Bus != nil {
		p.s.opts.Bus.Publish(bus.Message{Type: EventProgress,
			Payload: Progress{Device: p.device, Run: p.run, Step: p.step, Of: p.of, Message: msg}})
	}
}

// calib is one calibration run on an adjustable camera.
type calib struct {
	d       *camera.Device
	sub     *camera.Subscription
	p       *progress
	ctls    map[camera.Control]camera.ControlInfo
	changed time.Time // when a control last changed
	sets    int       // control changes made
	fps     float64
}

// stage is the outcome of one loop.
type stage struct {
	name      string
	converged bool
	skipped   bool
	steps     int
	why       string // when not converged or skipped
}

func (t *cam) adjust(ctx context.Context, p *progress, sub *camera.Subscription, first imageMeasures) []Check {
	c := &calib{d: t.d, sub: sub, p: p, ctls: map[camera.Control]camera.ControlInfo{}, fps: t.d.Settings().FPS}
	via, _ := t.d.Adjustable()
	list, err := t.d.Controls(ctx)
	if err != nil {
		p.next("measuring exposure, white balance and focus")
		return []Check{first.exposure(), first.whiteBalance(), first.focus(),
			{Name: "adjustment", Result: Fail, Message: fmt.Sprintf("the camera's controls could not be read (%v); the image was only measured", err),
				Advice: "check the camera's connection and calibrate again"}}
	}
	for _, ci := range list {
		c.ctls[ci.Name] = ci
	}
	before := c.values()
	// Automatic modes would fight the loop: switch them off.
	for _, a := range []camera.Control{camera.CtlAutoExposure, camera.CtlAutoWhiteBalance, camera.CtlAutoFocus} {
		if ci, ok := c.ctls[a]; ok && ci.Value != 0 {
			if _, err := c.set(ctx, a, 0); err != nil {
				p.detail(fmt.Sprintf("%s could not be switched off: %v", a, err))
			}
		}
	}
	p.next(fmt.Sprintf("exposure: adjusting towards mean luma %.0f", lumaTarget))
	stages := []stage{c.exposureLoop(ctx, first)}
	p.next("white balance: adjusting towards a neutral grey")
	stages = append(stages, c.whiteBalanceLoop(ctx))
	p.next("focus: searching for the sharpest lens position")
	stages = append(stages, c.focusLoop(ctx))
	p.next("measuring the result")
	m, err := c.measure(ctx)
	if err != nil {
		return []Check{{Name: "exposure", Result: Fail, Message: fmt.Sprintf("no image from the camera after adjusting: %v", err),
			Advice: "check the camera's cable and reconnect it, then calibrate again"}}
	}
	adj := Check{Name: "adjustment", Values: map[string]any{"adjustable": true, "via": via, "changes": c.sets,
		"before": before, "after": c.values()}}
	var msgs, advice []string
	adj.Result = Pass
	for _, s := range stages {
		adj.Values[s.name+"_steps"] = s.steps
		switch {
		case s.skipped:
			msgs = append(msgs, s.name+": "+s.why)
		case s.converged:
			msgs = append(msgs, fmt.Sprintf("%s on target in %d steps", s.name, s.steps))
		default:
			adj.Result = Warn
			msgs = append(msgs, fmt.Sprintf("%s not on target after %d steps: %s", s.name, s.steps, s.why))
			advice = append(advice, adviceFor(s.name))
		}
		adj.Values[s.name+"_converged"] = s.converged
	}
	if ctx.Err() != nil {
		adj.Result = Fail
		msgs = append(msgs, "stopped: "+ctx.Err().Error())
	}
	// The camera keeps the settings while it stays open, and
	// KeepCalibration sets them again whenever it is opened later.
	var keep []string
	for _, n := range []camera.Control{camera.CtlExposure, camera.CtlGain, camera.CtlWhiteBalance, camera.CtlFocus} {
		if ci, ok := c.ctls[n]; ok {
			keep = append(keep, fmt.Sprintf("%s = %g", n, ci.Value))
		}
	}
	if len(keep) > 0 {
		adj.Values["options"] = strings.Join(keep, ", ")
		msgs = append(msgs, "the camera now runs with "+strings.Join(keep, ", ")+
			" (stationd sets them again when the camera is reconnected or restarted; to make them the configured values, put them in the camera's [device.options])")
	}
	adj.Message = strings.Join(msgs, "; ")
	adj.Advice = strings.Join(advice, "; ")
	return []Check{m.exposure(), m.whiteBalance(), m.focus(), adj}
}

func adviceFor(stage string) string {
	switch stage {
	case "exposure":
		return "fix the booth's light so the face is lit evenly and neither dim nor glaring, then calibrate again"
	case "white_balance":
		return "use daylight-white lamps and a neutral grey or white background, then calibrate again"
	default:
		return "clean the lens and check the seat is at the usual distance, then calibrate again"
	}
}

// values are the controls' current values, for the report.
func (c *calib) values() map[string]float64 {
	out := map[string]float64{}
	for n, ci := range c.ctls {
		out[string(n)] = ci.Value
	}
	return out
}

// set changes a control (clamped to its range where known) and records
// what the camera accepted.
func (c *calib) set(ctx context.Context, n camera.Control, v float64) (float64, error) {
	ci := c.ctls[n]
	if ci.Ranged {
		v = math.Max(ci.Min, math.Min(ci.Max, v))
	}
	got, err := c.d.SetControl(ctx, n, v)
	if err != nil {
		return 0, err
	}
	c.changed = time.Now()
	c.sets++
	ci.Value = got
	c.ctls[n] = ci
	return got, nil
}

// measure waits for frames taken after the last change (and
// changeSettleFrames more) and averages measureFrames of them.
func (c *calib) measure(ctx context.Context) (imageMeasures, error) {
	var acc imageMeasures
	skip, n := changeSettleFrames, 0
	for n < measureFrames {
		f, err := c.sub.Next(ctx)
		if err != nil {
			return acc, err
		}
		if f.At.Before(c.changed) {
			f.Release()
			continue
		}
		if skip > 0 {
			skip--
			f.Release()
			continue
		}
		m, err := measureMat(f.Mat)
		f.Release()
		if err != nil {
			return acc, err
		}
		acc.Luma += m.Luma
		acc.ClipHigh += m.ClipHigh
		acc.ClipLow += m.ClipLow
		acc.R += m.R
		acc.G += m.G
		acc.B += m.B
		acc.LaplacianVar += m.LaplacianVar
		acc.GrayWorldPixels += m.GrayWorldPixels
		acc.Width, acc.Height = m.Width, m.Height
		n++
	}
	k := float64(n)
	acc.Luma /= k
	acc.ClipHigh /= k
	acc.ClipLow /= k
	acc.R /= k
	acc.G /= k
	acc.B /= k
	acc.LaplacianVar /= k
	acc.GrayWorldPixels /= n
	if acc.G > 0 {
		acc.Cast = math.Max(math.Abs(acc.R/acc.G-1), math.Abs(acc.B/acc.G-1))
	}
	return acc, nil
}

// gainDB: gain is adjusted only where its unit is known to be decibels;
// a V4L2 camera's gain is in its own steps, and is left as it is.
func (c *calib) gainDB() (camera.ControlInfo, bool) {
	g, ok := c.ctls[camera.CtlGain]
	return g, ok && g.Ranged && g.Unit == "dB"
}

// exposureMax is the longest exposure to use: the device's maximum, and
// no longer than a frame period (a longer one lowers the frame rate).
// Exposure is in 100 µs units (UVC exposure_time_absolute, UVC 1.5
// §4.2.2.1.4), as V4L2 and the simulator give it.
func (c *calib) exposureMax() float64 {
	e := c.ctls[camera.CtlExposure]
	mx := math.Inf(1)
	if e.Ranged {
		mx = e.Max
	}
	if c.fps > 0 && c.fps < 1000 {
		mx = math.Min(mx, 1e4/c.fps)
	}
	return mx
}

// scaleBrightness changes exposure and gain to multiply the image's
// brightness by r, with exposure first when brightening and gain first
// when darkening (the least gain for the least noise). It returns the
// factor applied.
func (c *calib) scaleBrightness(ctx context.Context, r float64) (float64, error) {
	applied := 1.0
	e, hasE := c.ctls[camera.CtlExposure]
	g, hasG := c.gainDB()
	setE := func(want float64) error {
		want = math.Min(want, c.exposureMax())
		if e.Ranged {
			want = math.Max(want, e.Min)
		}
		if math.Abs(want-e.Value) < 0.5 {
			return nil
		}
		old := e.Value
		got, err := c.set(ctx, camera.CtlExposure, want)
		if err != nil {
			return err
		}
		if old > 0 {
			applied *= got / old
		}
		e = c.ctls[camera.CtlExposure]
		return nil
	}
	setG := func(wantDB float64) error {
		wantDB = math.Max(g.Min, math.Min(g.Max, wantDB))
		if math.Abs(wantDB-g.Value) < math.Max(g.Step, 0.1)/2 {
			return nil
		}
		old := g.Value
		got, err := c.set(ctx, camera.CtlGain, wantDB)
		if err != nil {
			return err
		}
		applied *= math.Pow(10, (got-old)/20)
		g = c.ctls[camera.CtlGain]
		return nil
	}
	if r >= 1 {
		if hasE {
			if err := setE(e.Value * r); err != nil {
				return applied, err
			}
		}
		if rest := r / applied; hasG && rest > 1.01 {
			if err := setG(g.Value + 20*math.Log10(rest)); err != nil {
				return applied, err
			}
		}
		return applied, nil
	}
	if hasG && g.Value > g.Min {
		if err := setG(g.Value + 20*math.Log10(r)); err != nil {
			return applied, err
		}
	}
	if rest := r / applied; hasE && rest < 0.99 {
		if err := setE(e.Value * rest); err != nil {
			return applied, err
		}
	}
	return applied, nil
}

func lumaOnTarget(m imageMeasures) bool {
	return math.Abs(m.Luma-lumaTarget) <= lumaTolerance && m.ClipHigh <= clipWarn
}

func (c *calib) exposureLoop(ctx context.Context, first imageMeasures) stage {
	st := stage{name: "exposure"}
	_, hasE := c.ctls[camera.CtlExposure]
	g, hasG := c.gainDB()
	if !hasE && !hasG {
		st.skipped, st.why = true, "the camera has no exposure control"
		return st
	}
	// Gain traded for exposure first: the same brightness with less noise.
	if hasE && hasG && g.Value > g.Min {
		lin := math.Pow(10, (g.Value-g.Min)/20)
		e := c.ctls[camera.CtlExposure]
		room := c.exposureMax() / math.Max(e.Value, 1e-9)
		if trade := math.Min(lin, room); trade > 1.01 {
			c.p.detail(fmt.Sprintf("exposure: trading %.1f dB of gain for a longer exposure (less noise)", 20*math.Log10(trade)))
			if _, err := c.set(ctx, camera.CtlGain, g.Value-20*math.Log10(trade)); err != nil {
				st.why = err.Error()
				return st
			}
			if _, err := c.set(ctx, camera.CtlExposure, e.Value*trade); err != nil {
				st.why = err.Error()
				return st
			}
			st.steps++
		}
	}
	m := first
	if st.steps > 0 {
		var err error
		if m, err = c.measure(ctx); err != nil {
			st.why = err.Error()
			return st
		}
	}
	for {
		if lumaOnTarget(m) {
			st.converged = true
			return st
		}
		if st.steps >= maxExposureSteps {
			st.why = fmt.Sprintf("mean luma %.0f, target %.0f±%.0f", m.Luma, lumaTarget, lumaTolerance)
			return st
		}
		r := lumaTarget / math.Max(m.Luma, 1)
		if m.ClipHigh > clipWarn && r > 0.9 {
			r = 0.9 // burnt-out highlights: the mean underestimates the light
		}
		r = math.Max(1/exposureStepMax, math.Min(exposureStepMax, r))
		applied, err := c.scaleBrightness(ctx, r)
		if err != nil {
			st.why = err.Error()
			return st
		}
		st.steps++
		c.p.detail(fmt.Sprintf("exposure step %d: mean luma %.0f, brightness ×%.2f (exposure %g, gain %g)", st.steps, m.Luma, applied,
			c.ctls[camera.CtlExposure].Value, c.ctls[camera.CtlGain].Value))
		if math.Abs(applied-1) < 0.005 {
			if r > 1 {
				st.why = fmt.Sprintf("too dark (mean luma %.0f) at the longest usable exposure (%g, a frame period at %.0f fps) and the highest gain", m.Luma, c.ctls[camera.CtlExposure].Value, c.fps)
			} else {
				st.why = fmt.Sprintf("too bright (mean luma %.0f) at the shortest exposure and lowest gain", m.Luma)
			}
			return st
		}
		if m, err = c.measure(ctx); err != nil {
			st.why = err.Error()
			return st
		}
	}
}

// rb is ln(R/B) of the gray-world means: positive is a warm (reddish)
// picture, negative a cold one.
func rb(m imageMeasures) float64 {
	if m.R <= 0 || m.B <= 0 {
		return math.NaN()
	}
	return math.Log(m.R / m.B)
}

func (c *calib) whiteBalanceLoop(ctx context.Context) stage {
	st := stage{name: "white_balance"}
	wb, ok := c.ctls[camera.CtlWhiteBalance]
	if !ok {
		st.skipped, st.why = true, "the camera has no white balance control"
		return st
	}
	slope := wbSlope
	m, err := c.measure(ctx)
	if err != nil {
		st.why = err.Error()
		return st
	}
	prevQ, prevM := math.NaN(), 0.0
	for {
		q := rb(m)
		if math.IsNaN(q) {
			st.why = "no well exposed pixels to judge the colour by"
			return st
		}
		mired := 1e6 / math.Max(wb.Value, 1)
		if !math.IsNaN(prevQ) && mired != prevM {
			// The slope observed over the last step, if it is plausible.
			if s := (prevQ - q) / (mired - prevM); s > wbSlopeFloor && s < 20*wbSlope {
				slope = s
			}
		}
		if math.Abs(q) <= wbTolerance {
			st.converged = true
			return st
		}
		if st.steps >= maxWBSteps {
			st.why = fmt.Sprintf("red/blue balance ln(R/B) = %.3f, target 0±%.2f", q, wbTolerance)
			return st
		}
		// Raising the camera's white balance mired (lowering kelvin)
		// cools the picture: a reddish picture (q > 0) needs more mired.
		d := math.Max(-wbMiredStep, math.Min(wbMiredStep, q/slope))
		want := 1e6 / (mired + d)
		got, err := c.set(ctx, camera.CtlWhiteBalance, want)
		if err != nil {
			st.why = err.Error()
			return st
		}
		st.steps++
		tint := "bluish"
		if q > 0 {
			tint = "reddish"
		}
		c.p.detail(fmt.Sprintf("white balance step %d: picture %s (ln R/B %.3f), %g K → %g K", st.steps, tint, q, wb.Value, got))
		if math.Abs(got-wb.Value) < 0.5 {
			st.why = fmt.Sprintf("the picture is still %s with white balance at its limit (%g K)", tint, got)
			return st
		}
		prevQ, prevM = q, mired
		wb = c.ctls[camera.CtlWhiteBalance]
		if m, err = c.measure(ctx); err != nil {
			st.why = err.Error()
			return st
		}
	}
}

// focusRange is where to search: the control's range, or 0..255 (the
// usual UVC focus_absolute range) when the device does not say.
func (c *calib) focusRange() (lo, hi, step float64) {
	f := c.ctls[camera.CtlFocus]
	if f.Ranged && f.Max > f.Min {
		return f.Min, f.Max, math.Max(f.Step, 1)
	}
	return 0, 255, 1
}

func (c *calib) focusLoop(ctx context.Context) stage {
	st := stage{name: "focus"}
	if _, ok := c.ctls[camera.CtlFocus]; !ok {
		st.skipped, st.why = true, "the camera has no focus control"
		return st
	}
	lo, hi, unit := c.focusRange()
	sharp := map[float64]float64{}
	at := func(pos float64) (float64, error) {
		got, err := c.set(ctx, camera.CtlFocus, pos)
		if err != nil {
			return 0, err
		}
		if v, ok := sharp[got]; ok {
			return v, nil
		}
		m, err := c.measure(ctx)
		if err != nil {
			return 0, err
		}
		st.steps++
		sharp[got] = m.LaplacianVar
		c.p.detail(fmt.Sprintf("focus step %d: lens at %g, sharpness %.0f", st.steps, got, m.LaplacianVar))
		return m.LaplacianVar, nil
	}
	best, bestV := c.ctls[camera.CtlFocus].Value, -1.0
	for i := range focusSweep {
		pos := lo + float64(i)*(hi-lo)/(focusSweep-1)
		v, err := at(pos)
		if err != nil {
			st.why = err.Error()
			return st
		}
		if v > bestV {
			best, bestV = c.ctls[camera.CtlFocus].Value, v
		}
	}
	step := (hi - lo) / (focusSweep - 1) / 2
	minStep := math.Max(unit, (hi-lo)/64)
	cut := false
	for step >= minStep && !cut {
		moved := false
		for _, pos := range []float64{best + step, best - step} {
			if pos < lo || pos > hi {
				continue
			}
			if st.steps >= focusSweep+maxFocusSteps {
				cut = true
				break
			}
			v, err := at(pos)
			if err != nil {
				st.why = err.Error()
				return st
			}
			if v > bestV*focusGain {
				best, bestV, moved = c.ctls[camera.CtlFocus].Value, v, true
				break
			}
		}
		if !moved && !cut {
			step /= 2
		}
	}
	if _, err := c.set(ctx, camera.CtlFocus, best); err != nil {
		st.why = err.Error()
		return st
	}
	if bestV < focusWarn {
		st.why = fmt.Sprintf("the picture is soft at every lens position (best sharpness %.0f at %g)", bestV, best)
		return st
	}
	if cut {
		st.why = fmt.Sprintf("search stopped after %d steps at lens position %g", st.steps, best)
		return st
	}
	st.converged = true
	return st
}
