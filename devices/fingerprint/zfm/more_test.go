package zfm_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/devices/fingerprint"
	"github.com/openenroll/stationd/devices/fingerprint/zfm"
	zfmsim "github.com/openenroll/stationd/firmware-sim/zfm"
)

// TestCancelUpload cancels a capture in the middle of the paced image
// upload: the capture stops, and the next command still works because the
// driver lets the abandoned upload finish before sending.
func TestCancelUpload(t *testing.T) {
	sim := startSim(t, zfmsim.Config{Baud: 57600, Templates: 7})
	o := testOptions()
	o.Baud = 57600
	sc := open(t, sim, o, nil)
	sim.Place(zfmsim.BuiltinFinger(testW, testH, 2))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := sc.Capture(ctx, fingerprint.CaptureOptions{})
		done <- err
	}()
	if err := sim.WaitCommand(ctxT(t), zfm.CmdUpImage, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%v", err)
		}
	case <-time.After(safety):
		t.Fatal("upload did not stop on cancel")
	}
	n, err := sc.TemplateCount(ctxT(t))
	if err != nil || n != 7 {
		t.Fatalf("after a cancelled upload: %d, %v", n, err)
	}
	// The module answers in order: once ReadSysPara is answered, every
	// earlier command has been too. A TemplateNum sent twice (a timeout
	// while the old upload was still on the line) would leave a stale
	// answer behind for the next command.
	if _, err := sc.Dev().ReadSysParams(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if c := sim.Commands()[zfm.CmdTemplateNum]; c != 1 {
		t.Fatalf("TemplateNum sent %d times, want once", c)
	}
}

// TestOneCommandInFlight runs commands from many goroutines: each gets its
// own answer.
func TestOneCommandInFlight(t *testing.T) {
	sim := startSim(t, zfmsim.Config{NoPacing: true, Templates: 42})
	sc := open(t, sim, testOptions(), nil)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				var n int
				if n, err = sc.TemplateCount(ctxT(t)); err == nil && n != 42 {
					err = errors.New("wrong count")
				}
			} else {
				var p zfm.SysParams
				if p, err = sc.Dev().ReadSysParams(ctxT(t)); err == nil && p.LibrarySize != 1000 {
					err = errors.New("wrong parameters")
				}
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestOptionsTOML(t *testing.T) {
	drv, ok := devices.Lookup("zfm")
	if !ok || drv.Kind != devices.KindFingerprint {
		t.Fatal("zfm driver not registered")
	}
	src := `baud = 115200
address = 4294967295
password = 305419896
poll_interval = "50ms"
command_timeout = "500ms"
genimg_timeout = "1.5s"
capture_timeout = "20s"
retries = 3
image_width = 192
image_height = 192
ppi = 508
led = "onoff"
presence_interval = "1s"
`
	opts := drv.NewOptions()
	dec := toml.NewDecoder(strings.NewReader(src)).DisallowUnknownFields()
	if err := dec.Decode(opts); err != nil {
		t.Fatal(err)
	}
	o := opts.(*zfm.Options)
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if o.Baud != 115200 || o.Password != 0x12345678 || o.PollInterval.Duration != 50*time.Millisecond ||
		o.GenImgTimeout.Duration != 1500*time.Millisecond || o.ImageWidth != 192 || o.LED != "onoff" || o.Retries != 3 {
		t.Fatalf("decoded %+v", o)
	}
	if err := toml.NewDecoder(strings.NewReader("speed = 1")).DisallowUnknownFields().Decode(drv.NewOptions()); err == nil {
		t.Fatal("unknown key accepted")
	}
	for _, bad := range []string{`baud = 12345`, `poll_interval = "0s"`, `image_width = 255`, `led = "rgb"`, `ppi = 5`, `retries = -1`} {
		o := drv.NewOptions().(*zfm.Options)
		if err := toml.Unmarshal([]byte(bad), o); err != nil {
			t.Fatalf("%s: %v", bad, err)
		}
		if err := o.Validate(); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	var e bytes.Buffer
	if err := toml.NewEncoder(&e).Encode(zfm.DefaultOptions()); err != nil || !strings.Contains(e.String(), `poll_interval = '100ms'`) {
		t.Fatalf("defaults encode as %q, %v", e.String(), err)
	}
}
