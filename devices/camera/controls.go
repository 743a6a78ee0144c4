package camera

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"gocv.io/x/gocv"
)

// Control is an image control that can be changed while the camera
// streams.
type Control string

// Controls a camera may have. Values are in the device's units: for V4L2
// cameras exposure is in 100 µs (UVC exposure_time_absolute), gain in the
// device's own steps, white balance in kelvin, focus a lens position; the
// automatic switches are 1 (on) and 0 (off) whatever the device's own
// encoding.
const (
	CtlExposure         Control = "exposure"
	CtlGain             Control = "gain"
	CtlWhiteBalance     Control = "white_balance"
	CtlFocus            Control = "focus"
	CtlAutoExposure     Control = "auto_exposure"
	CtlAutoWhiteBalance Control = "auto_white_balance"
	CtlAutoFocus        Control = "auto_focus"
)

// AllControls in the order they are applied and listed: automatic
// switches before the values they govern.
var AllControls = []Control{CtlAutoExposure, CtlExposure, CtlGain, CtlAutoWhiteBalance, CtlWhiteBalance, CtlAutoFocus, CtlFocus}

// ControlInfo is a control's current value and, where the device tells,
// its range.
type ControlInfo struct {
	Name  Control `json:"name"`
	Value float64 `json:"value"`
	// Ranged: Min, Max and Step are known (for V4L2 asked of the kernel
	// with VIDIOC_QUERYCTRL, since OpenCV does not report them). Where
	// they are not, the device clamps what it is given, and the value
	// read back shows where.
	Ranged bool    `json:"ranged"`
	Min    float64 `json:"min,omitempty"`
	Max    float64 `json:"max,omitempty"`
	Step   float64 `json:"step,omitempty"`
	Unit   string  `json:"unit,omitempty"`
}

// ErrNotAdjustable: the camera's source has no way to change controls
// while it streams (a file, an image sequence, a network stream without a
// control endpoint), or the device lacks that control.
var ErrNotAdjustable = errors.New("not adjustable")

// controller changes controls on a running camera.
type controller interface {
	// via names the channel ("v4l2", or the simulator's protocol).
	via() string
	list(ctx context.Context) ([]ControlInfo, error)
	set(ctx context.Context, c Control, v float64) (float64, error)
}

// Adjustable reports whether the camera's controls can be changed while
// it streams, and through what ("v4l2", "camsim-controls/1").
func (d *Device) Adjustable() (via string, ok bool) {
	if d.ctl == nil {
		return "", false
	}
	return d.ctl.via(), true
}

// Controls lists the controls the camera has, with their current values.
// A camera without runtime controls gives an error wrapping
// ErrNotAdjustable.
func (d *Device) Controls(ctx context.Context) ([]ControlInfo, error) {
	if d.ctl == nil {
		return nil, d.notAdjustable()
	}
	l, err := d.ctl.list(ctx)
	if err != nil {
		return nil, fmt.Errorf("camera %q: reading controls through %s: %w", d.info.ID, d.ctl.via(), err)
	}
	return l, nil
}

func (d *Device) notAdjustable() error {
	return fmt.Errorf("camera %q: %w: its source (%s backend, %s) has no runtime controls; set exposure, white_balance and focus in [device.options] or on the camera itself",
		d.info.ID, ErrNotAdjustable, d.set.Backend, d.info.Port)
}

// SetControl sets a control while the camera streams and returns the
// value the device accepted, read back from it (a device clamps to its
// range and rounds to its step). The accepted value also shows in
// Settings.
func (d *Device) SetControl(ctx context.Context, c Control, v float64) (float64, error) {
	if !slices.Contains(AllControls, c) {
		return 0, fmt.Errorf("camera %q: unknown control %q", d.info.ID, c)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("camera %q: control %s: %v is not a value", d.info.ID, c, v)
	}
	if d.ctl == nil {
		return 0, d.notAdjustable()
	}
	got, err := d.ctl.set(ctx, c, v)
	if err != nil {
		return 0, fmt.Errorf("camera %q: setting %s to %g through %s: %w", d.info.ID, c, v, d.ctl.via(), err)
	}
	d.mu.Lock()
	d.set.setControl(c, got)
	d.mu.Unlock()
	d.log.Info("camera control set", "device", d.info.ID, "control", string(c), "asked", v, "accepted", got)
	return got, nil
}

func (s *Settings) setControl(c Control, v float64) {
	switch c {
	case CtlExposure:
		s.Exposure = v
	case CtlGain:
		s.Gain = v
	case CtlWhiteBalance:
		s.WhiteBalance = v
	case CtlFocus:
		s.Focus = v
	case CtlAutoExposure:
		s.AutoExposure = v
	case CtlAutoWhiteBalance:
		s.AutoWhiteBalance = v
	case CtlAutoFocus:
		s.AutoFocus = v
	}
}

// ---- V4L2, through OpenCV's VideoCapture.Set/Get ----------------------

// v4l2Ctl changes controls of a V4L2 camera. OpenCV's VideoCapture is not
// safe for use from two threads, so once the camera streams each change
// runs in the capture loop, between two frames.
type v4l2Ctl struct {
	d *Device
	// ranges the kernel gave for the device's value controls (may be
	// empty: they are then unknown, and the device clamps).
	ranges map[Control]ControlInfo
}

func (v4l2Ctl) via() string { return "v4l2" }

var v4l2Props = map[Control]gocv.VideoCaptureProperties{
	CtlExposure: gocv.VideoCaptureExposure, CtlGain: gocv.VideoCaptureGain,
	CtlWhiteBalance: gocv.VideoCaptureWBTemperature, CtlFocus: gocv.VideoCaptureFocus,
	CtlAutoExposure: gocv.VideoCaptureAutoExposure, CtlAutoWhiteBalance: gocv.VideoCaptureAutoWB,
	CtlAutoFocus: gocv.VideoCaptureAutoFocus,
}

// V4L2_CID_EXPOSURE_AUTO's menu (linux/v4l2-controls.h): 1 manual,
// 3 aperture priority (the automatic mode UVC cameras offer).
const (
	v4l2ExposureManual   = 1
	v4l2ExposureAperture = 3
)

// toDevice and fromDevice translate the automatic-exposure switch; the
// other controls pass as they are.
func toDevice(c Control, v float64) float64 {
	if c == CtlAutoExposure {
		if v >= 0.5 {
			return v4l2ExposureAperture
		}
		return v4l2ExposureManual
	}
	return v
}

func fromDevice(c Control, v float64) float64 {
	if c == CtlAutoExposure && v > 0 {
		if v == v4l2ExposureManual {
			return 0
		}
		return 1
	}
	return v
}

// do runs fn with the VideoCapture: directly while the camera is being
// opened, in the capture loop once it streams.
func (c v4l2Ctl) do(ctx context.Context, fn func(vc *gocv.VideoCapture)) error {
	d := c.d
	if !d.streaming.Load() {
		fn(d.vc)
		return nil
	}
	r := ctlReq{fn: fn, done: make(chan struct{})}
	select {
	case d.ctlReqs <- r:
	case <-d.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-r.done:
		return nil
	case <-d.done:
		// The loop ended; it may have run the request or not.
		select {
		case <-r.done:
			return nil
		default:
			return ErrClosed
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c v4l2Ctl) list(ctx context.Context) ([]ControlInfo, error) {
	var out []ControlInfo
	err := c.do(ctx, func(vc *gocv.VideoCapture) {
		for _, name := range AllControls {
			// OpenCV's V4L2 backend answers -1 for a control the device
			// does not have (its VIDIOC_G_CTRL failed).
			if v := vc.Get(v4l2Props[name]); v != -1 {
				ci := c.ranges[name]
				ci.Name, ci.Value = name, fromDevice(name, v)
				out = append(out, ci)
			}
		}
	})
	return out, err
}

func (c v4l2Ctl) set(ctx context.Context, name Control, v float64) (float64, error) {
	got := -1.0
	err := c.do(ctx, func(vc *gocv.VideoCapture) {
		p := v4l2Props[name]
		if vc.Get(p) == -1 {
			return
		}
		vc.Set(p, toDevice(name, v))
		got = vc.Get(p)
	})
	if err != nil {
		return 0, err
	}
	if got == -1 {
		return 0, fmt.Errorf("%w: the camera has no %s control", ErrNotAdjustable, name)
	}
	return fromDevice(name, got), nil
}

// ctlReq is a control change waiting for the capture loop.
type ctlReq struct {
	fn   func(vc *gocv.VideoCapture)
	done chan struct{}
}

// runControls runs the control changes waiting, between two frames.
func (d *Device) runControls() {
	for {
		select {
		case r := <-d.ctlReqs:
			r.fn(d.vc)
			close(r.done)
		default:
			return
		}
	}
}

// ---- the simulated camera's control endpoint -------------------------

// SimControlsProtocol is the protocol of the simulated camera's control
// endpoint (docs/camera-sim.md): GET lists the controls as JSON, POST of
// {"name": value} sets them and answers the same list.
const SimControlsProtocol = "camsim-controls/1"

// simControlsPath is where the simulator serves its controls, on the host
// and port of its stream.
const simControlsPath = "/controls"

// simCtl changes controls of the simulated camera over HTTP: OpenCV has
// no way to send a control over an HTTP stream.
type simCtl struct {
	url    string
	client *http.Client
}

func (simCtl) via() string { return SimControlsProtocol }

// simControlNames: the simulator has these; the automatic switches it
// does not have (it is a manual camera).
var simControlNames = []Control{CtlExposure, CtlGain, CtlWhiteBalance, CtlFocus}

// simControlsURL is where the control endpoint of an HTTP stream source
// would be; "" when the source is not HTTP.
func simControlsURL(source string) string {
	u, err := url.Parse(source)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: simControlsPath}).String()
}

// probeTimeout bounds the probe of a stream's control endpoint at open.
const probeTimeout = time.Second

// probeSim returns a controller when url answers the simulator's control
// protocol.
func probeSim(ctx context.Context, url string) (*simCtl, error) {
	c := &simCtl{url: url, client: &http.Client{Timeout: 2 * time.Second}}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if _, err := c.list(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// maxControlsReply bounds what the endpoint may answer.
const maxControlsReply = 64 << 10

func (c *simCtl) do(ctx context.Context, method string, body []byte) ([]ControlInfo, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxControlsReply+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("control endpoint %s: %s: %s", c.url, resp.Status, strings.TrimSpace(string(b[:min(len(b), 200)])))
	}
	return ParseSimControls(b)
}

func (c *simCtl) list(ctx context.Context) ([]ControlInfo, error) {
	return c.do(ctx, http.MethodGet, nil)
}

func (c *simCtl) set(ctx context.Context, name Control, v float64) (float64, error) {
	if !slices.Contains(simControlNames, name) {
		return 0, fmt.Errorf("%w: the simulated camera has no %s control", ErrNotAdjustable, name)
	}
	body, _ := json.Marshal(map[Control]float64{name: v})
	l, err := c.do(ctx, http.MethodPost, body)
	if err != nil {
		return 0, err
	}
	for _, ci := range l {
		if ci.Name == name {
			return ci.Value, nil
		}
	}
	return 0, fmt.Errorf("control endpoint %s did not report %s after setting it", c.url, name)
}

// ParseSimControls reads the simulated camera's control list (the answer
// to GET and POST on its control endpoint).
func ParseSimControls(b []byte) ([]ControlInfo, error) {
	if len(b) > maxControlsReply {
		return nil, fmt.Errorf("controls reply of more than %d bytes", maxControlsReply)
	}
	var r struct {
		Protocol string `json:"protocol"`
		Controls map[string]struct {
			Value   *float64 `json:"value"`
			Min     float64  `json:"min"`
			Max     float64  `json:"max"`
			Step    float64  `json:"step"`
			Default float64  `json:"default"`
			Unit    string   `json:"unit"`
		} `json:"controls"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("controls reply is not the simulator's JSON: %v", err)
	}
	if r.Protocol != SimControlsProtocol {
		return nil, fmt.Errorf("controls reply speaks %q, want %q", r.Protocol, SimControlsProtocol)
	}
	var out []ControlInfo
	for _, name := range simControlNames {
		c, ok := r.Controls[string(name)]
		if !ok {
			continue
		}
		if c.Value == nil {
			return nil, fmt.Errorf("controls reply: %s has no value", name)
		}
		if !(c.Min <= c.Max) || c.Step < 0 || *c.Value < c.Min || *c.Value > c.Max {
			return nil, fmt.Errorf("controls reply: %s: value %g outside its range %g..%g (step %g)", name, *c.Value, c.Min, c.Max, c.Step)
		}
		out = append(out, ControlInfo{Name: name, Value: *c.Value, Ranged: true, Min: c.Min, Max: c.Max, Step: c.Step, Unit: c.Unit})
	}
	if len(out) == 0 {
		return nil, errors.New("controls reply lists no control")
	}
	return out, nil
}
