package camera_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/openenroll/stationd/devices/camera"
	camsim "github.com/openenroll/stationd/firmware-sim/camera"
)

func startMissetSim(t *testing.T) *camsim.Server {
	t.Helper()
	p, err := camsim.LoadPerson(portrait, camsim.DefaultEyes)
	if err != nil {
		t.Fatal(err)
	}
	steps, _ := camsim.ParseScript(strings.NewReader("sit 0.1s\nhold 1h"))
	ctl := camsim.MissetControls(camsim.DefaultFocusAt)
	srv, err := camsim.Start(camsim.Config{Width: 160, Height: 120, FPS: 25, Person: p, Script: steps, Controls: &ctl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func meanLuma(m gocv.Mat) float64 {
	s := m.Mean()
	return 0.114*s.Val1 + 0.587*s.Val2 + 0.299*s.Val3
}

// TestSimulatorControlsWhileStreaming: the driver finds the simulated
// camera's control endpoint beside its stream, applies the configured
// exposure through it, reports what the camera accepted (clamped to its
// range), and a control set while streaming changes the picture.
func TestSimulatorControlsWhileStreaming(t *testing.T) {
	srv := startMissetSim(t)
	o := camera.DefaultOptions()
	o.Source = srv.URL()
	gain := 30.0 // beyond the simulator's 24 dB
	o.Gain = &gain
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cam, err := camera.Open(ctx, "sim", o, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	via, ok := cam.Adjustable()
	set := cam.Settings()
	if !ok || via != camera.SimControlsProtocol || set.Controls != via || set.Exposure != 25 || set.Gain != 24 || set.WhiteBalance != 3000 {
		t.Fatalf("adjustable %v via %q, settings %+v", ok, via, set)
	}
	if len(set.Refused) != 1 || !strings.Contains(set.Refused[0], "gain: asked 30, got 24") {
		t.Errorf("refused %q", set.Refused)
	}
	if srv.Controls().Gain != 24 {
		t.Errorf("simulator gain %v", srv.Controls().Gain)
	}
	l, err := cam.Controls(ctx)
	if err != nil || len(l) != 4 || !l[0].Ranged || l[0].Name != camera.CtlExposure || l[0].Max != 2000 {
		t.Fatalf("controls %+v %v", l, err)
	}
	if _, err := cam.SetControl(ctx, camera.CtlAutoFocus, 1); !errors.Is(err, camera.ErrNotAdjustable) {
		t.Errorf("auto focus on a manual camera: %v", err)
	}
	if _, err := cam.SetControl(ctx, "iris", 1); err == nil {
		t.Error("unknown control accepted")
	}

	sub := cam.Subscribe(2)
	defer sub.Close()
	// waitLuma reads frames until one is within [lo, hi]: the frames in
	// flight still show the old settings, the camera's next ones the new.
	waitLuma := func(what string, lo, hi float64) float64 {
		t.Helper()
		var l float64
		for i := 0; i < 25; i++ {
			f, err := sub.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			l = meanLuma(f.Mat)
			f.Release()
			if l >= lo && l <= hi {
				return l
			}
		}
		t.Fatalf("%s: 25 frames later luma is %.1f, want %.0f..%.0f", what, l, lo, hi)
		return 0
	}
	if _, err := cam.SetControl(ctx, camera.CtlGain, 0); err != nil {
		t.Fatal(err)
	}
	// A quarter of the nominal exposure: about a quarter of the scene's
	// brightness (about 120 in grey levels).
	dim := waitLuma("exposure 25, gain 0", 15, 45)
	got, err := cam.SetControl(ctx, camera.CtlExposure, 100.4)
	if err != nil || got != 100 {
		t.Fatalf("exposure: accepted %v, %v", got, err)
	}
	if s := cam.Settings(); s.Exposure != 100 || s.Gain != 0 {
		t.Errorf("settings after set: %+v", s)
	}
	bright := waitLuma("exposure 100", 3.3*dim, 5*dim)
	t.Logf("luma %.1f at exposure 25, %.1f at 100", dim, bright)
}

// TestNotAdjustable: a file has no controls, nor a simulator whose
// endpoint is switched off in the options.
func TestNotAdjustable(t *testing.T) {
	dir := t.TempDir()
	for i := range 40 {
		m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 100, 110, 0), 48, 64, gocv.MatTypeCV8UC3)
		gocv.IMWrite(filepath.Join(dir, fmt.Sprintf("img_%03d.png", i)), m)
		m.Close()
	}
	srv := startMissetSim(t)
	ctx := context.Background()
	for _, tc := range []struct{ source, url string }{
		{filepath.Join(dir, "img_%03d.png"), ""},
		{srv.URL(), "none"},
	} {
		o := camera.DefaultOptions()
		o.Source, o.ControlURL = tc.source, tc.url
		cam, err := camera.Open(ctx, "fixed", o, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := cam.Adjustable(); ok {
			t.Errorf("%s: adjustable", tc.source)
		}
		_, err = cam.Controls(ctx)
		_, err2 := cam.SetControl(ctx, camera.CtlExposure, 100)
		for _, e := range []error{err, err2} {
			if !errors.Is(e, camera.ErrNotAdjustable) || !strings.Contains(e.Error(), `camera "fixed"`) {
				t.Errorf("%s: %v", tc.source, e)
			}
		}
		cam.Close()
	}
	if c := srv.Controls(); c.Exposure != 25 {
		t.Errorf("simulator with control_url none was changed: %+v", c)
	}
}

func FuzzParseSimControls(f *testing.F) {
	f.Add([]byte(`{"protocol":"camsim-controls/1","controls":{"exposure":{"value":100,"min":1,"max":2000,"step":1,"default":100,"unit":"100us"}}}`))
	f.Add([]byte(`{"protocol":"camsim-controls/1","controls":{"focus":{"value":300,"min":0,"max":255}}}`))
	f.Add([]byte(`{"protocol":"other"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := camera.ParseSimControls(b)
		if err != nil {
			return
		}
		for _, c := range l {
			if c.Value < c.Min || c.Value > c.Max {
				t.Fatalf("%+v accepted", c)
			}
		}
	})
}
