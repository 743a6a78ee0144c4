package camera

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	camsim "github.com/openenroll/stationd/firmware-sim/camera"
)

// TestV4L2ControlsRunInCaptureLoop: no V4L2 camera is attached in CI, so
// the V4L2 controller is put on a streaming camera of another backend
// (whose VideoCapture takes the Set and reads back what it has). Changes
// and listings from several goroutines at once go through the capture
// loop between frames (VideoCapture is not safe for two threads; the race
// detector cannot see inside OpenCV, so this checks that they complete
// and frames keep coming), and fail promptly once the camera is closed.
func TestV4L2ControlsRunInCaptureLoop(t *testing.T) {
	p, err := camsim.LoadPerson("../../testdata/faces/grace_hopper_512x512.jpg", camsim.DefaultEyes)
	if err != nil {
		t.Fatal(err)
	}
	steps, _ := camsim.ParseScript(strings.NewReader("hold 1h"))
	srv, err := camsim.Start(camsim.Config{Width: 96, Height: 72, FPS: 50, Person: p, Script: steps})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	o := DefaultOptions()
	o.Source, o.ControlURL = srv.URL(), "none"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := Open(ctx, "loop", o, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.ctl = v4l2Ctl{d: d}
	sub := d.Subscribe(2)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				// FFmpeg's capture has no exposure: it reads back 0 (a
				// V4L2 device without the control would read -1).
				if _, err := d.SetControl(ctx, CtlExposure, float64(10*i+j)); err != nil {
					t.Error(err)
					return
				}
				if _, err := d.Controls(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	f, err := sub.Next(ctx)
	if err != nil {
		t.Fatalf("no frame after the control changes: %v", err)
	}
	if f.Mat.Cols() != 96 {
		t.Errorf("frame %v", f.Mat.Size())
	}
	f.Release()
	sub.Close()
	d.Close()
	if _, err := d.SetControl(ctx, CtlFocus, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("after close: %v", err)
	}
}

func TestAutoExposureMapping(t *testing.T) {
	for _, c := range []struct{ in, dev, back float64 }{{1, 3, 1}, {0, 1, 0}, {0.7, 3, 1}} {
		if d := toDevice(CtlAutoExposure, c.in); d != c.dev {
			t.Errorf("%v -> device %v", c.in, d)
		}
		if b := fromDevice(CtlAutoExposure, c.dev); b != c.back {
			t.Errorf("device %v -> %v", c.dev, b)
		}
	}
	if fromDevice(CtlAutoExposure, 2) != 1 || toDevice(CtlFocus, 42) != 42 {
		t.Error("shutter priority or a plain control mapped wrong")
	}
}

func TestV4L2QueryCtrlLayout(t *testing.T) {
	// struct v4l2_queryctrl is 68 bytes, minimum at 40, flags at 56
	// (linux/videodev2.h); the ioctl number encodes the size.
	var q v4l2QueryCtrl
	if unsafe.Sizeof(q) != 68 || unsafe.Offsetof(q.Minimum) != 40 || unsafe.Offsetof(q.Flags) != 56 || vidiocQueryCtrl>>16&0x3fff != 68 {
		t.Fatalf("v4l2_queryctrl layout: size %d, minimum at %d, flags at %d", unsafe.Sizeof(q), unsafe.Offsetof(q.Minimum), unsafe.Offsetof(q.Flags))
	}
	for src, want := range map[string]string{"0": "/dev/video0", "/dev/video2": "/dev/video2", "12": "/dev/video12"} {
		if got, ok := v4l2Node(src); !ok || got != want {
			t.Errorf("%s: %q", src, got)
		}
	}
	if _, ok := v4l2Node("http://x/stream"); ok {
		t.Error("URL taken for a V4L2 node")
	}
	// Not a V4L2 device: an error, no ranges, no panic.
	if r, err := v4l2Ranges("/dev/null"); err == nil || len(r) != 0 {
		t.Errorf("/dev/null: %v %v", r, err)
	}
	if _, err := v4l2Ranges("/dev/video-none"); err == nil {
		t.Error("missing node queried")
	}
}
