package tech

import (
	"context"
	"encoding/json"
	"image"
	"maps"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/devices/camera"
	camsim "github.com/openenroll/stationd/firmware-sim/camera"
	"github.com/openenroll/stationd/station/bus"
)

// TestCameraSelftestAndCalibration runs both on the simulated camera's
// MJPEG stream, through the registry and the OpenCV driver. The frame rate
// achieved depends on the machine, so only its measurement is checked.
func TestCameraSelftestAndCalibration(t *testing.T) {
	p, err := camsim.LoadPerson("../../testdata/faces/grace_hopper_512x512.jpg", camsim.DefaultEyes)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := camsim.ParseScript(strings.NewReader("sit 0.2s\nhold 60s\n"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := camsim.Start(camsim.Config{Width: 320, Height: 240, FPS: 20, Person: p, Script: steps})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	reg := devices.NewRegistry(devices.Options{RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond})
	defer reg.Close()
	sub := reg.Subscribe(0)
	defer sub.Close()
	o := camera.DefaultOptions()
	o.ControlURL = "none" // as a network camera without controls
	if err := reg.Open(devices.Config{ID: "cam", Driver: camera.DriverName, Port: srv.URL(), Options: &o}); err != nil {
		t.Fatal(err)
	}
	waitAdded(t, sub, "cam")
	svc, err := New(Options{Registry: reg, Dir: t.TempDir(), CameraFrames: 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	rep, err := svc.Selftest(ctx, "cam")
	if err != nil {
		t.Fatal(err)
	}
	fr := check(t, rep, "frame-rate")
	if fps, ok := fr.Values["fps"].(float64); !ok || fps <= 0 || fr.Values["frames"] != 10 {
		t.Fatalf("frame rate: %+v", fr)
	}
	if sz := check(t, rep, "frame-size"); sz.Result != Pass || sz.Values["width"] != 320 || sz.Values["height"] != 240 {
		t.Errorf("frame size: %+v", sz)
	}
	t.Logf("frame rate %v fps (target %v): %s", fr.Values["fps"], fr.Values["target_fps"], fr.Result)

	rep, err = svc.Calibrate(ctx, "cam")
	if err != nil {
		t.Fatal(err)
	}
	ex, wb := check(t, rep, "exposure"), check(t, rep, "white-balance")
	// The simulator shows a photograph in a plain booth: exposed and
	// neutral enough (it is a black-and-white portrait).
	adj := check(t, rep, "adjustment")
	if ex.Result == Fail || wb.Result != Pass || adj.Result != Skipped || !strings.HasPrefix(adj.Message, "not adjustable") || adj.Values["adjustable"] != false {
		t.Fatalf("calibration: %+v", rep.Checks)
	}
	if st, _ := svc.Calibration("cam"); st == CalNeeded || st == CalNotApplicable {
		t.Fatalf("camera calibration state %s", st)
	}
}

// TestCameraCalibrationConverges: a simulated camera starts mis-set
// (dark and grainy, blue, out of focus); calibration adjusts it through
// the driver's runtime controls until the live image meets the targets,
// within a bounded number of steps, and the simulator's own settings end
// near the scene's true light and focus.
func TestCameraCalibrationConverges(t *testing.T) {
	p, err := camsim.LoadPerson("../../testdata/faces/grace_hopper_512x512.jpg", camsim.DefaultEyes)
	if err != nil {
		t.Fatal(err)
	}
	steps, _ := camsim.ParseScript(strings.NewReader("sit 0.2s\nhold 1h\n"))
	ctl := camsim.MissetControls(camsim.DefaultFocusAt)
	srv, err := camsim.Start(camsim.Config{Width: 320, Height: 240, FPS: 25, Person: p, Script: steps, Controls: &ctl})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	reg := devices.NewRegistry(devices.Options{RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond})
	defer reg.Close()
	sub := reg.Subscribe(0)
	defer sub.Close()
	o := camera.DefaultOptions()
	if err := reg.Open(devices.Config{ID: "cam", Driver: camera.DriverName, Port: srv.URL(), Options: &o}); err != nil {
		t.Fatal(err)
	}
	waitAdded(t, sub, "cam")
	b := bus.New()
	defer b.Close()
	events := b.Subscribe(1024)
	dir := t.TempDir()
	svc, err := New(Options{Registry: reg, Dir: dir, Bus: b})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := svc.Calibrate(ctxT(t), "cam")
	if err != nil {
		t.Fatal(err)
	}
	adj := check(t, rep, "adjustment")
	t.Logf("adjustment: %s (%v)", adj.Message, adj.Values)
	for _, name := range []string{"exposure", "white-balance", "focus"} {
		c := check(t, rep, name)
		t.Logf("%s: %s %s", name, c.Result, c.Message)
		if c.Result != Pass {
			t.Errorf("%s after calibration: %+v", name, c)
		}
	}
	if adj.Result != Pass || adj.Values["exposure_converged"] != true || adj.Values["white_balance_converged"] != true || adj.Values["focus_converged"] != true {
		t.Errorf("adjustment: %+v", adj)
	}
	// Bounded: N steps per loop (the focus search's sweep included).
	if n := adj.Values["exposure_steps"].(int); n > maxExposureSteps {
		t.Errorf("exposure took %d steps", n)
	}
	if n := adj.Values["white_balance_steps"].(int); n > maxWBSteps {
		t.Errorf("white balance took %d steps", n)
	}
	if n := adj.Values["focus_steps"].(int); n > focusSweep+maxFocusSteps {
		t.Errorf("focus took %d steps", n)
	}
	// The camera itself now sits near the scene's truth.
	got := srv.Controls()
	if got.Gain != 0 || math.Abs(got.Focus-camsim.DefaultFocusAt) > 10 || math.Abs(got.WhiteBalance-camsim.DefaultSceneKelvin) > 800 ||
		got.Exposure < 60 || got.Exposure > 160 {
		t.Errorf("simulator controls after calibration: %+v", got)
	}
	if st, _ := svc.Calibration("cam"); st != CalOK {
		t.Errorf("calibration state %s", st)
	}
	// Progress was reported step by step.
	details := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		m, _, err := events.Next(ctx)
		cancel()
		if err != nil {
			break
		}
		if pr, ok := m.Payload.(Progress); ok && pr.Of == calibSteps {
			details++
		}
	}
	if details < 10 {
		t.Errorf("%d progress events", details)
	}

	// stationd restarts and the camera comes back from a reconnect with
	// its power-on (mis-set) values: the saved calibration goes back onto
	// it when the registry opens it.
	calibrated := srv.Controls()
	reg.Close()
	for name, v := range map[string]float64{"exposure": ctl.Exposure, "gain": ctl.Gain, "white_balance": ctl.WhiteBalance, "focus": ctl.Focus} {
		if _, err := srv.SetControl(name, v); err != nil {
			t.Fatal(err)
		}
	}
	reg2 := devices.NewRegistry(devices.Options{RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond})
	defer reg2.Close()
	svc2, err := New(Options{Registry: reg2, Dir: dir, Bus: b})
	if err != nil {
		t.Fatal(err)
	}
	keep := func() (stop func()) {
		kctx, kcancel := context.WithCancel(context.Background())
		kdone := make(chan struct{})
		go func() { defer close(kdone); svc2.KeepCalibration(kctx) }()
		return func() { kcancel(); <-kdone }
	}
	stopKeep := keep()
	defer func() { stopKeep() }()
	if err := reg2.Open(devices.Config{ID: "cam", Driver: camera.DriverName, Port: srv.URL(), Options: &o}); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	for {
		m, _, err := events.Next(ctx)
		if err != nil {
			t.Fatalf("no %s event after the camera came back: %v (simulator at %+v)", EventCalibrationApplied, err, srv.Controls())
		}
		if m.Type != EventCalibrationApplied {
			continue
		}
		a := m.Payload.(CalibrationApplied)
		t.Logf("after the reconnect: %s", a)
		if len(a.Failed) > 0 {
			t.Errorf("controls refused: %v", a.Failed)
		}
		break
	}
	if got := srv.Controls(); got != calibrated {
		t.Errorf("after the reconnect the camera runs with %+v, calibrated %+v", got, calibrated)
	}

	// A camera already open when KeepCalibration starts (stationd opens
	// its devices first) gets its calibration at the start.
	stopKeep()
	if _, err := srv.SetControl("focus", ctl.Focus); err != nil {
		t.Fatal(err)
	}
	stopKeep = keep()
	for {
		m, _, err := events.Next(ctx)
		if err != nil {
			t.Fatalf("no %s event for the camera already open: %v", EventCalibrationApplied, err)
		}
		if m.Type == EventCalibrationApplied {
			break
		}
	}
	if got := srv.Controls(); got != calibrated {
		t.Errorf("camera already open: runs with %+v, calibrated %+v", got, calibrated)
	}
}

// bgr is a synthetic camera image: a gray level per channel plus a
// pattern whose sharpness is set by blur (0 sharp checkerboard).
func bgr(w, h int, b, g, r float64, texture float64) []byte {
	pix := make([]byte, w*h*3)
	rnd := rand.New(rand.NewPCG(3, 4))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := 0.0
			if texture > 0 && (x/2+y/2)%2 == 0 {
				v = texture
			}
			n := float64(rnd.IntN(3))
			for c, base := range []float64{b, g, r} {
				pix[(y*w+x)*3+c] = uint8(min(255, max(0, base+v+n)))
			}
		}
	}
	return pix
}

func TestMeasureBGR(t *testing.T) {
	const w, h = 160, 120
	for _, tc := range []struct {
		name                string
		pix                 []byte
		exposure, wb, focus string
		adviceHas           string
	}{
		{"good", bgr(w, h, 110, 110, 110, 40), Pass, Pass, Pass, ""},
		{"dark", bgr(w, h, 30, 30, 30, 20), Fail, Pass, Pass, "add light"},
		{"burnt", bgr(w, h, 250, 250, 250, 0), Fail, Fail, Fail, "reduce the light"},
		{"warm", bgr(w, h, 80, 110, 150, 40), Pass, Fail, Pass, ""},
		{"flat", bgr(w, h, 120, 120, 120, 0), Pass, Pass, Fail, ""},
	} {
		m := measureBGR(tc.pix, w, h, 3*w)
		ex, wb, fo := m.exposure(), m.whiteBalance(), m.focus()
		if ex.Result != tc.exposure || wb.Result != tc.wb || fo.Result != tc.focus {
			t.Errorf("%s: exposure %s (%s), white balance %s (%s), focus %s (%s)", tc.name,
				ex.Result, ex.Message, wb.Result, wb.Message, fo.Result, fo.Message)
		}
		if tc.adviceHas != "" && !strings.Contains(ex.Advice, tc.adviceHas) {
			t.Errorf("%s: exposure advice %q", tc.name, ex.Advice)
		}
	}
	if m := measureBGR(make([]byte, 10), w, h, 3*w); m.Luma != 0 {
		t.Errorf("short buffer measured: %+v", m)
	}
	if m := measureBGR(bgr(w, h, 80, 110, 150, 40), w, h, 3*w); !strings.Contains(m.whiteBalance().Message, "reddish") {
		t.Errorf("warm cast named %q", m.whiteBalance().Message)
	}
}

func TestAnalyzePlaten(t *testing.T) {
	clean := analyzePlaten(glass(256, 288, 230, nil))
	if clean.Soiled != 0 || clean.FingerLike || clean.cleanliness().Result != Pass || clean.contrast().Result != Pass {
		t.Errorf("clean glass: %+v", clean)
	}
	// One 48×48 smudge is 9 of 288 blocks (3 %): a warning.
	speck := analyzePlaten(glass(256, 288, 230, []image.Rectangle{image.Rect(32, 32, 80, 80)}))
	if c := speck.cleanliness(); c.Result != Warn {
		t.Errorf("small smudge: %+v", c)
	}
	uneven := glass(256, 288, 230, nil)
	for y := 0; y < 288; y++ {
		for x := 0; x < 96; x++ {
			uneven.Pix[y*uneven.Stride+x] = 150 // the left third dim: light falling off
		}
	}
	um := analyzePlaten(uneven)
	if c := um.contrast(); c.Result != Warn || !strings.Contains(c.Message, "uneven") || um.cleanliness().Result != Pass {
		t.Errorf("dim third: %+v %+v", c, um.cleanliness())
	}
	if m := analyzePlaten(image.NewGray(image.Rect(0, 0, 8, 8))); m.Blocks != 0 || m.contrast().Result != Fail {
		t.Errorf("tiny image: %+v", m)
	}
}

func BenchmarkAnalyzePlaten(b *testing.B) {
	img := glass(256, 288, 230, []image.Rectangle{image.Rect(32, 32, 80, 80)})
	b.SetBytes(int64(len(img.Pix)))
	for b.Loop() {
		analyzePlaten(img)
	}
}

func BenchmarkMeasureCameraFrame1080p(b *testing.B) {
	const w, h = 1920, 1080
	pix := bgr(w, h, 110, 110, 110, 40)
	b.SetBytes(int64(len(pix)))
	for b.Loop() {
		measureBGR(pix, w, h, 3*w)
	}
}

// TestCalibrationSaysWhyNot: in a booth far too dark for the camera, the
// exposure loop stops at the longest exposure that keeps the frame rate
// and the highest gain, within its step bound, and says so.
func TestCalibrationSaysWhyNot(t *testing.T) {
	p, err := camsim.LoadPerson("../../testdata/faces/grace_hopper_512x512.jpg", camsim.DefaultEyes)
	if err != nil {
		t.Fatal(err)
	}
	steps, _ := camsim.ParseScript(strings.NewReader("sit 0.1s\nlight 0.01 0.1s\nhold 1h\n"))
	srv, err := camsim.Start(camsim.Config{Width: 160, Height: 120, FPS: 25, Person: p, Script: steps})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := ctxT(t)
	o := camera.DefaultOptions()
	o.Source = srv.URL()
	d, err := camera.Open(ctx, "dark", o, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	sub := d.Subscribe(2)
	defer sub.Close()
	l, err := d.Controls(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := &calib{d: d, sub: sub, p: &progress{s: &Service{}}, ctls: map[camera.Control]camera.ControlInfo{}, fps: d.Settings().FPS}
	for _, ci := range l {
		c.ctls[ci.Name] = ci
	}
	first, err := c.measure(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := c.exposureLoop(ctx, first)
	t.Logf("%+v", st)
	if st.converged || !strings.Contains(st.why, "too dark") || st.steps > maxExposureSteps {
		t.Errorf("exposure stage %+v", st)
	}
	if got := srv.Controls(); got.Gain != 24 || got.Exposure != 1e4/d.Settings().FPS {
		t.Errorf("camera left at %+v (fps %v)", got, d.Settings().FPS)
	}
}

// TestCalibratedControlsBothForms: the settings a calibration ended with
// are read back the same whether the record is the one just made (values
// as map[string]float64) or the one loaded from disk (JSON's
// map[string]any); a failed adjustment gives none.
func TestCalibratedControlsBothForms(t *testing.T) {
	after := map[string]float64{"exposure": 120, "gain": 3.5, "focus": 118}
	made := &Report{Result: Pass, Checks: []Check{{Name: "adjustment", Result: Pass, Values: map[string]any{"after": after}}}}
	b, err := json.Marshal(made)
	if err != nil {
		t.Fatal(err)
	}
	var loaded Report
	if err := json.Unmarshal(b, &loaded); err != nil {
		t.Fatal(err)
	}
	failed := &Report{Result: Warn, Checks: []Check{{Name: "adjustment", Result: Fail, Values: map[string]any{"after": after}}}}
	s := &Service{records: map[string]*Record{"made": {Calibration: made}, "loaded": {Calibration: &loaded}, "failed": {Calibration: failed}}}
	for _, id := range []string{"made", "loaded"} {
		if got := s.calibratedControls(id); !maps.Equal(got, after) {
			t.Errorf("%s: %v, want %v", id, got, after)
		}
	}
	if got := s.calibratedControls("failed"); got != nil {
		t.Errorf("failed adjustment: %v, want none", got)
	}
	if got := s.calibratedControls("absent"); got != nil {
		t.Errorf("no record: %v", got)
	}
}
