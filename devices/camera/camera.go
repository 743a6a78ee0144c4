// Package camera is the station's camera driver: it opens a camera through
// OpenCV's video I/O (gocv) — a V4L2 device by index or path, a video
// file, an image sequence, or an RTSP/HTTP stream URL such as the
// simulated camera of firmware-sim/camera — sets frame size, frame rate,
// exposure, gain, white balance and focus where the device supports them,
// reads back what the device accepted, and hands frames to any number of
// subscribers through bounded queues that drop the oldest frame rather
// than stall capture.
//
// When the stream ends or the device disappears the driver reports
// devices.StateAbsent; the registry then closes it and opens it again when
// it returns.
//
// Configuration (driver "opencv"):
//
//	[[device]]
//	id = "camera"
//	driver = "opencv"
//	port = "/dev/video0"            # or 0, a file, "dir/img_%04d.jpg", "rtsp://…", "http://…/stream.mjpg"
//	[device.options]
//	width = 1920
//	height = 1080
//	fps = 30
//	fourcc = "MJPG"
//	exposure = 156                   # device units; unset: leave as is
//	auto_exposure = false
//	control_url = ""                 # "": probe an HTTP source's simulator control endpoint; "none": don't
//
// Exposure, gain, white balance and focus can also be changed while the
// camera streams (Device.SetControl), with the value the device accepted
// read back: on V4L2 cameras through OpenCV's VideoCapture properties, on
// the simulated camera of firmware-sim/camera through its small HTTP
// control endpoint (docs/camera-sim.md), since OpenCV cannot send
// controls over an HTTP stream. Other sources are not adjustable.
package camera

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"

	"github.com/openenroll/stationd/devices"
)

// DriverName is the name configurations use for this driver.
const DriverName = "opencv"

func init() {
	devices.Register(devices.Driver{
		Name:       DriverName,
		Kind:       devices.KindCamera,
		NewOptions: func() any { o := DefaultOptions(); return &o },
		Open: func(ctx context.Context, cfg devices.Config, rep devices.Reporter) (devices.Device, error) {
			o := DefaultOptions()
			switch v := cfg.Options.(type) {
			case nil:
			case *Options:
				o = *v
			case Options:
				o = v
			default:
				return nil, fmt.Errorf("camera %q: options of type %T, want *camera.Options", cfg.ID, cfg.Options)
			}
			if o.Source == "" {
				o.Source = cfg.Port
			}
			return Open(ctx, cfg.ID, o, rep)
		},
	})
}

// Options configure a camera. Pointer fields left nil are not touched:
// the device keeps its own setting.
type Options struct {
	// Source: a V4L2 index ("0") or device path ("/dev/video0"), a video
	// file, an image sequence ("dir/img_%04d.jpg"), or an RTSP/HTTP URL.
	// Empty: the device's port from the configuration.
	Source string `toml:"source"`
	// API forces an OpenCV backend: "auto", "v4l2", "ffmpeg", "gstreamer",
	// "images". Auto picks V4L2 for devices, images for %-patterns and
	// FFmpeg for files and URLs.
	API    string  `toml:"api"`
	Width  int     `toml:"width"`
	Height int     `toml:"height"`
	FPS    float64 `toml:"fps"`
	// FourCC asks a V4L2 camera for a pixel format, e.g. "MJPG" (needed by
	// most USB cameras for 1080p at 30 fps) or "YUYV".
	FourCC           string   `toml:"fourcc"`
	Exposure         *float64 `toml:"exposure"`
	AutoExposure     *bool    `toml:"auto_exposure"`
	Gain             *float64 `toml:"gain"`
	WhiteBalance     *float64 `toml:"white_balance"` // kelvin
	AutoWhiteBalance *bool    `toml:"auto_white_balance"`
	Focus            *float64 `toml:"focus"`
	AutoFocus        *bool    `toml:"auto_focus"`
	// ControlURL is the control endpoint of a simulated camera (see
	// docs/camera-sim.md). Empty: for an HTTP source, the driver tries
	// /controls on the stream's host and uses it if it answers the
	// simulator's protocol. "none": no runtime controls.
	ControlURL string `toml:"control_url"`
	// QueueLen is the default length of a subscriber's frame queue.
	QueueLen int `toml:"queue_len"`
	// ReadTimeout bounds a stalled network stream's read: after it the
	// camera is reported absent. Applies to FFmpeg sources.
	ReadTimeout time.Duration `toml:"read_timeout"`
	Logger      *slog.Logger  `toml:"-"`
}

// DefaultOptions: keep the device's own settings, queue two frames.
func DefaultOptions() Options {
	return Options{API: "auto", QueueLen: 2, ReadTimeout: 3 * time.Second}
}

// Settings are what the device accepted, read back after opening.
type Settings struct {
	Backend          string  `json:"backend"`
	Width            int     `json:"width"`
	Height           int     `json:"height"`
	FPS              float64 `json:"fps"`
	FourCC           string  `json:"fourcc,omitempty"`
	Exposure         float64 `json:"exposure"`
	AutoExposure     float64 `json:"auto_exposure"`
	Gain             float64 `json:"gain"`
	WhiteBalance     float64 `json:"white_balance"`
	AutoWhiteBalance float64 `json:"auto_white_balance"`
	Focus            float64 `json:"focus"`
	AutoFocus        float64 `json:"auto_focus"`
	// Controls names how controls can be changed while streaming ("v4l2",
	// "camsim-controls/1"); empty: they cannot.
	Controls string `json:"controls,omitempty"`
	// Refused lists requested settings the device did not take, as
	// "name: asked X, got Y".
	Refused []string `json:"refused,omitempty"`
}

// Device is an open camera.
type Device struct {
	info devices.Info
	opts Options
	rep  devices.Reporter
	log  *slog.Logger
	vc   *gocv.VideoCapture
	ctl  controller // nil: not adjustable while streaming

	// streaming: the capture loop owns vc; control changes go through
	// ctlReqs.
	streaming atomic.Bool
	ctlReqs   chan ctlReq

	mu     sync.Mutex
	set    Settings
	subs   map[*Subscription]struct{}
	closed bool
	frames uint64

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// kind of source, which decides the backend.
func backendFor(src, api string) (gocv.VideoCaptureAPI, string, error) {
	switch strings.ToLower(api) {
	case "v4l2":
		return gocv.VideoCaptureV4L2, "v4l2", nil
	case "ffmpeg":
		return gocv.VideoCaptureFFmpeg, "ffmpeg", nil
	case "gstreamer":
		return gocv.VideoCaptureGstreamer, "gstreamer", nil
	case "images":
		return gocv.VideoCaptureImages, "images", nil
	case "", "auto":
	default:
		return 0, "", fmt.Errorf("unknown api %q (auto, v4l2, ffmpeg, gstreamer, images)", api)
	}
	if _, err := strconv.Atoi(src); err == nil || strings.HasPrefix(src, "/dev/video") {
		return gocv.VideoCaptureV4L2, "v4l2", nil
	}
	if strings.Contains(src, "%") && !strings.Contains(src, "://") {
		return gocv.VideoCaptureImages, "images", nil
	}
	return gocv.VideoCaptureFFmpeg, "ffmpeg", nil
}

// Open opens a camera. rep may be nil (no state reports).
func Open(ctx context.Context, id string, o Options, rep devices.Reporter) (*Device, error) {
	if o.Source == "" {
		return nil, fmt.Errorf("camera %q: no source configured (set port or options.source to a device, file or URL)", id)
	}
	api, apiName, err := backendFor(o.Source, o.API)
	if err != nil {
		return nil, fmt.Errorf("camera %q: %w", id, err)
	}
	if o.QueueLen <= 0 {
		o.QueueLen = 2
	}
	if apiName == "v4l2" && strings.HasPrefix(o.Source, "/dev/") {
		// Fail fast while an unplugged camera's node is missing.
		if _, err := os.Stat(o.Source); err != nil {
			return nil, fmt.Errorf("camera %q: %w (is the camera plugged in?)", id, err)
		}
	}
	if apiName == "ffmpeg" && o.ReadTimeout > 0 && os.Getenv("OPENCV_FFMPEG_CAPTURE_OPTIONS") == "" {
		// FFmpeg's I/O timeout in microseconds: a stalled stream then
		// ends the read instead of hanging for FFmpeg's default 30 s.
		os.Setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", fmt.Sprintf("rw_timeout;%d", o.ReadTimeout.Microseconds()))
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	// OpenCV's open blocks and cannot be interrupted: run it aside and
	// give up waiting when ctx ends (the late result is closed).
	type opened struct {
		vc  *gocv.VideoCapture
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		vc, err := gocv.OpenVideoCaptureWithAPI(o.Source, api)
		if err == nil && !vc.IsOpened() {
			err = errors.New("not opened")
		}
		if err != nil && vc != nil {
			vc.Close()
			vc = nil
		}
		ch <- opened{vc, err}
	}()
	var res opened
	select {
	case res = <-ch:
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.vc != nil {
				r.vc.Close()
			}
		}()
		return nil, fmt.Errorf("camera %q: opening %s: %w", id, o.Source, ctx.Err())
	}
	if res.err != nil {
		return nil, fmt.Errorf("camera %q: cannot open %s with OpenCV %s backend (%v); check the device path or URL and that no other program holds the camera", id, o.Source, apiName, res.err)
	}
	d := &Device{
		info: devices.Info{ID: id, Kind: devices.KindCamera, Driver: DriverName, Port: o.Source},
		opts: o, rep: rep, log: log, vc: res.vc,
		subs: map[*Subscription]struct{}{},
		stop: make(chan struct{}), done: make(chan struct{}),
		ctlReqs: make(chan ctlReq),
	}
	d.apply(ctx, apiName)
	// The first frame proves the source delivers and gives the true size.
	first := gocv.NewMat()
	if !d.vc.Read(&first) || first.Empty() {
		first.Close()
		d.vc.Close()
		return nil, fmt.Errorf("camera %q: %s opened but gives no frames (stream ended, or the device is busy)", id, o.Source)
	}
	if first.Type() != gocv.MatTypeCV8UC3 {
		first.Close()
		d.vc.Close()
		return nil, fmt.Errorf("camera %q: frames of type %v, want 8-bit BGR", id, first.Type())
	}
	d.set.Width, d.set.Height = first.Cols(), first.Rows()
	d.info.Model = fmt.Sprintf("%s %dx%d@%.4g", d.set.Backend, d.set.Width, d.set.Height, d.set.FPS)
	for _, r := range d.set.Refused {
		log.Warn("camera setting refused", "device", id, "setting", r)
	}
	log.Info("camera opened", "device", id, "source", o.Source, "backend", d.set.Backend,
		"width", d.set.Width, "height", d.set.Height, "fps", d.set.FPS)
	d.streaming.Store(true)
	go d.run(first)
	return d, nil
}

// apply sets the requested properties and reads back what took. Image
// controls go through the runtime controller where the source has one.
func (d *Device) apply(ctx context.Context, apiName string) {
	o, vc := d.opts, d.vc
	var refused []string
	check := func(name string, v, got float64) {
		if math.Abs(got-v) > math.Max(0.5, 0.01*math.Abs(v)) {
			refused = append(refused, fmt.Sprintf("%s: asked %g, got %g", name, v, got))
		}
	}
	setF := func(name string, p gocv.VideoCaptureProperties, v float64) {
		vc.Set(p, v)
		check(name, v, vc.Get(p))
	}
	if o.FourCC != "" && len(o.FourCC) == 4 {
		setF("fourcc", gocv.VideoCaptureFOURCC, vc.ToCodec(o.FourCC))
	}
	if o.Width > 0 {
		setF("width", gocv.VideoCaptureFrameWidth, float64(o.Width))
	}
	if o.Height > 0 {
		setF("height", gocv.VideoCaptureFrameHeight, float64(o.Height))
	}
	if o.FPS > 0 {
		setF("fps", gocv.VideoCaptureFPS, o.FPS)
	}
	switch {
	case apiName == "v4l2":
		ctl := v4l2Ctl{d: d}
		if node, ok := v4l2Node(o.Source); ok {
			r, err := v4l2Ranges(node)
			if err != nil {
				d.log.Warn("camera control ranges unknown", "device", d.info.ID, "node", node, "err", err)
			}
			ctl.ranges = r
		}
		d.ctl = ctl
	case o.ControlURL == "none":
	case o.ControlURL != "" || simControlsURL(o.Source) != "":
		u := o.ControlURL
		if u == "" {
			u = simControlsURL(o.Source)
		}
		c, err := probeSim(ctx, u)
		switch {
		case err == nil:
			d.ctl = c
		case o.ControlURL != "":
			d.log.Warn("camera control endpoint not usable: the camera streams, but calibration cannot adjust it",
				"device", d.info.ID, "url", u, "err", err)
		default:
			d.log.Debug("stream source has no simulator control endpoint", "device", d.info.ID, "url", u, "err", err)
		}
	}
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	want := map[Control]*float64{}
	for c, p := range map[Control]*bool{CtlAutoExposure: o.AutoExposure, CtlAutoWhiteBalance: o.AutoWhiteBalance, CtlAutoFocus: o.AutoFocus} {
		if p != nil {
			v := b2f(*p)
			want[c] = &v
		}
	}
	want[CtlExposure], want[CtlGain], want[CtlWhiteBalance], want[CtlFocus] = o.Exposure, o.Gain, o.WhiteBalance, o.Focus
	set := Settings{Backend: apiName, FPS: vc.Get(gocv.VideoCaptureFPS), FourCC: fourCC(vc.Get(gocv.VideoCaptureFOURCC))}
	for _, c := range AllControls {
		v := want[c]
		if v == nil {
			continue
		}
		if d.ctl == nil {
			// No controls on this source (a file, a stream): OpenCV's
			// backend may still take some property; what it reads back
			// tells.
			vc.Set(v4l2Props[c], *v)
			check(string(c), *v, vc.Get(v4l2Props[c]))
			continue
		}
		got, err := d.ctl.set(ctx, c, *v)
		if err != nil {
			refused = append(refused, fmt.Sprintf("%s: asked %g: %v", c, *v, err))
			continue
		}
		check(string(c), *v, got)
	}
	if d.ctl != nil {
		set.Controls = d.ctl.via()
		if l, err := d.ctl.list(ctx); err == nil {
			for _, ci := range l {
				set.setControl(ci.Name, ci.Value)
			}
		}
	} else {
		for _, c := range AllControls {
			set.setControl(c, vc.Get(v4l2Props[c]))
		}
	}
	set.Refused = refused
	d.set = set
}

func fourCC(v float64) string {
	n := uint32(v)
	if n == 0 {
		return ""
	}
	b := []byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}
	for _, c := range b {
		if c < 32 || c > 126 {
			return ""
		}
	}
	return string(b)
}

// Info implements devices.Device.
func (d *Device) Info() devices.Info { return d.info }

// Settings returns what the device accepted, at open and by SetControl
// since.
func (d *Device) Settings() Settings {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.set
	s.Refused = slices.Clone(s.Refused)
	return s
}

// Frames returns how many frames have been read since open.
func (d *Device) Frames() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.frames
}

// Subscribe returns a queue of the frames read from now on. queueLen <= 0
// takes the configured default.
func (d *Device) Subscribe(queueLen int) *Subscription {
	if queueLen <= 0 {
		queueLen = d.opts.QueueLen
	}
	s := &Subscription{cam: d, q: make([]*Frame, queueLen), notify: make(chan struct{}, 1), done: make(chan struct{})}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		s.closeLocal()
		return s
	}
	d.subs[s] = struct{}{}
	return s
}

func (d *Device) unsubscribe(s *Subscription) {
	d.mu.Lock()
	delete(d.subs, s)
	d.mu.Unlock()
}

// maxReadFailures: consecutive failed reads before the camera counts as
// gone. A V4L2 device sometimes fails a single read under load.
const maxReadFailures = 3

// run reads frames until Close or the source ends.
func (d *Device) run(first gocv.Mat) {
	defer close(d.done)
	fps := d.set.FPS
	if fps <= 0 || fps > 1000 {
		fps = 25
	}
	var seq uint64
	m := first
	fails := 0
	for {
		select {
		case <-d.stop:
			m.Close()
			return
		default:
		}
		if !m.Empty() {
			fails = 0
			t := time.Duration(float64(seq) / fps * float64(time.Second))
			f := newFrame(seq, t, m)
			seq++
			d.publish(f)
			f.Release()
			m = gocv.NewMat()
		} else {
			fails++
			if fails >= maxReadFailures {
				m.Close()
				d.lost(fmt.Sprintf("camera stream ended or device unplugged after %d frames", seq))
				return
			}
		}
		d.runControls()
		if !d.vc.Read(&m) {
			// Read gives false at end of stream and on a lost device; the
			// Mat is then empty and counts as a failure above.
			if !m.Empty() {
				m.Close()
				m = gocv.NewMat()
			}
		}
	}
}

func (d *Device) publish(f *Frame) {
	d.mu.Lock()
	d.frames++
	subs := make([]*Subscription, 0, len(d.subs))
	for s := range d.subs {
		subs = append(subs, s)
	}
	d.mu.Unlock()
	for _, s := range subs {
		s.push(f)
	}
}

// lost ends the subscriptions and tells the registry the camera is gone.
func (d *Device) lost(why string) {
	d.log.Warn("camera lost", "device", d.info.ID, "reason", why)
	d.endSubs()
	if d.rep != nil {
		d.rep.SetState(devices.StateAbsent, why)
	}
}

func (d *Device) endSubs() {
	d.mu.Lock()
	d.closed = true
	subs := d.subs
	d.subs = map[*Subscription]struct{}{}
	d.mu.Unlock()
	for s := range subs {
		s.closeLocal()
	}
}

// Close stops capture and releases the device. It waits for the read in
// progress, which a live camera finishes within a frame period and a
// stalled stream within ReadTimeout.
func (d *Device) Close() error {
	d.once.Do(func() {
		close(d.stop)
		<-d.done
		d.endSubs()
		d.vc.Close()
	})
	return nil
}
