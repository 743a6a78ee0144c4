package tech

import (
	"context"
	"encoding/json"
	"errors"
	"image"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/devices/fingerprint/zfm"
	zfmsim "github.com/openenroll/stationd/firmware-sim/zfm"
	"github.com/openenroll/stationd/station/api"
	"github.com/openenroll/stationd/station/bus"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A small sensor and a fast line: the protocol is the same, uploads short.
const (
	simW, simH = 64, 80
	simBaud    = 115200
	safety     = 20 * time.Second // a guard against hangs only
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	t.Cleanup(cancel)
	return ctx
}

// rig is a registry with one simulated zfm scanner and a tech service.
type rig struct {
	sim *zfmsim.Sim
	reg *devices.Registry
	bus *bus.Bus
	svc *Service
	dir string
}

func newScannerRig(t *testing.T) *rig {
	t.Helper()
	sim, err := zfmsim.Start(zfmsim.Config{Width: simW, Height: simH, Baud: simBaud, NoPacing: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	reg := devices.NewRegistry(devices.Options{RetryMin: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	t.Cleanup(func() { reg.Close() })
	sub := reg.Subscribe(0)
	defer sub.Close()
	o := zfm.DefaultOptions()
	o.Baud, o.ImageWidth, o.ImageHeight = simBaud, simW, simH
	if err := reg.Open(devices.Config{ID: "fp1", Driver: zfm.DriverName, Port: sim.Path(), Options: &o}); err != nil {
		t.Fatal(err)
	}
	waitAdded(t, sub, "fp1")
	r := &rig{sim: sim, reg: reg, bus: bus.New(), dir: t.TempDir()}
	t.Cleanup(r.bus.Close)
	r.svc = r.newService(t)
	return r
}

func (r *rig) newService(t *testing.T) *Service {
	t.Helper()
	s, err := New(Options{Registry: r.reg, Bus: r.bus, Dir: r.dir, CameraFrames: 10})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func waitAdded(t *testing.T, sub *devices.Subscription, id string) {
	t.Helper()
	ctx := ctxT(t)
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for %s to open: %v", id, err)
		}
		if ev.Type == devices.EventAdded && ev.Device.ID == id {
			return
		}
	}
}

func check(t *testing.T, rep *Report, name string) Check {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("report has no check %q: %+v", name, rep.Checks)
	return Check{}
}

// glass is what the sensor images of an empty platen: bright, with the
// slight grain of the optics, and optional smudges (dark blotches).
func glass(w, h int, level uint8, smudges []image.Rectangle) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		img.Pix[i] = level - uint8(rnd.IntN(8))
	}
	for _, r := range smudges {
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				img.Pix[y*img.Stride+x] = level / 2
			}
		}
	}
	return img
}

func TestScannerSelftestAndCalibration(t *testing.T) {
	r := newScannerRig(t)
	ctx := ctxT(t)
	events := r.bus.Subscribe(64)
	defer events.Close()

	if st, at := r.svc.Calibration("fp1"); st != CalNeeded || !at.IsZero() {
		t.Fatalf("before calibration: %s %v", st, at)
	}

	rep, err := r.svc.Selftest(ctx, "fp1")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Result != Pass || rep.Kind != devices.KindFingerprint || rep.Run != RunSelftest {
		t.Fatalf("self-test: %+v", rep)
	}
	hs := check(t, rep, "handshake")
	if hs.Values["baud"] != simBaud || hs.Values["library_size"] != uint16(1000) {
		t.Errorf("handshake values %v", hs.Values)
	}
	if bp := check(t, rep, "blank-platen"); bp.Result != Pass {
		t.Errorf("blank platen %+v", bp)
	}
	// Progress: two steps, then the result.
	var steps []Progress
	for len(steps) < 3 {
		m, _, err := events.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch m.Type {
		case EventProgress:
			steps = append(steps, m.Payload.(Progress))
		case EventResult:
			if len(steps) != 2 || steps[0].Step != 1 || steps[1].Step != 2 || steps[1].Of != 2 || steps[0].Device != "fp1" {
				t.Fatalf("progress before the result: %+v", steps)
			}
			steps = append(steps, Progress{})
		}
	}

	// Calibration on a clean, empty platen: the module's detector finds
	// nothing, contrast cannot be measured.
	rep, err = r.svc.Calibrate(ctx, "fp1")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Result != Pass || check(t, rep, "cleanliness").Result != Pass || check(t, rep, "contrast").Result != Skipped {
		t.Fatalf("clean calibration %+v", rep)
	}
	if st, at := r.svc.Calibration("fp1"); st != CalOK || at.IsZero() {
		t.Fatalf("after calibration: %s %v", st, at)
	}

	// Residue on the glass: the module takes it for a finger. Calibration
	// measures it and asks for cleaning; the self-test fails.
	r.sim.Place(glass(simW, simH, 230, []image.Rectangle{image.Rect(16, 16, 48, 48)}))
	rep, err = r.svc.Calibrate(ctx, "fp1")
	if err != nil {
		t.Fatal(err)
	}
	cl := check(t, rep, "cleanliness")
	if rep.Result != Fail || cl.Result != Fail || !strings.Contains(cl.Advice, "clean the platen") {
		t.Fatalf("dirty platen: %+v", rep)
	}
	if sf := cl.Values["soiled_fraction"].(float64); sf < 0.1 || sf > 0.3 {
		t.Errorf("soiled fraction %v for a 32×32 smudge (4 of 20 blocks)", sf)
	}
	if st, _ := r.svc.Calibration("fp1"); st != CalFailed {
		t.Fatalf("after a failed calibration: %s", st)
	}
	rep, err = r.svc.Selftest(ctx, "fp1")
	if err != nil {
		t.Fatal(err)
	}
	if bp := check(t, rep, "blank-platen"); bp.Result != Fail || !strings.Contains(bp.Advice, "clean the platen") {
		t.Fatalf("self-test on a dirty platen: %+v", bp)
	}

	// A dim sensor: clean, but the glass images dark.
	r.sim.Place(glass(simW, simH, 110, nil))
	rep, _ = r.svc.Calibrate(ctx, "fp1")
	if c := check(t, rep, "contrast"); c.Result != Fail || check(t, rep, "cleanliness").Result != Pass {
		t.Fatalf("dim sensor: %+v", rep.Checks)
	}

	// Clean and bright: both measured and passed.
	r.sim.Place(glass(simW, simH, 235, nil))
	rep, _ = r.svc.Calibrate(ctx, "fp1")
	if rep.Result != Pass || check(t, rep, "contrast").Result != Pass {
		t.Fatalf("clean bright glass: %+v", rep.Checks)
	}
	calAt := rep.Finished

	// A finger left on the glass is named as such.
	r.sim.Place(zfmsim.BuiltinFinger(simW, simH, 7))
	rep, _ = r.svc.Selftest(ctx, "fp1")
	if bp := check(t, rep, "blank-platen"); bp.Result != Fail || !strings.Contains(bp.Message, "finger") {
		t.Fatalf("finger on the glass: %+v", bp)
	}
	r.sim.Lift()

	// The results survive a restart.
	s2 := r.newService(t)
	if st, at := s2.Calibration("fp1"); st != CalOK || !at.Equal(calAt) {
		t.Fatalf("after restart: %s %v, want ok %v", st, at, calAt)
	}
	out, err := s2.Commands()["device.checks"](ctx, json.RawMessage(`{"device":"fp1"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(out)
	if !strings.Contains(string(b), `"calibration_state":"ok"`) || !strings.Contains(string(b), `"blank-platen"`) {
		t.Fatalf("device.checks: %s", b)
	}
}

func TestScannerHandshakeFailure(t *testing.T) {
	r := newScannerRig(t)
	ctx := ctxT(t)
	// The module refuses the password: the handshake fails with the
	// module's advice and the blank-platen test is not run.
	r.sim.Inject(zfmsim.Fault{Kind: zfmsim.FaultCode, Code: byte(zfm.CodeWrongPassword)}, 1)
	rep, err := r.svc.Selftest(ctx, "fp1")
	if err != nil {
		t.Fatal(err)
	}
	hs := check(t, rep, "handshake")
	if rep.Result != Fail || hs.Result != Fail || !strings.Contains(hs.Advice, "password") || check(t, rep, "blank-platen").Result != Skipped {
		t.Fatalf("%+v", rep)
	}
}

func TestCommandRefusals(t *testing.T) {
	r := newScannerRig(t)
	ctx := ctxT(t)
	cmds := r.svc.Commands()
	for _, tc := range []struct{ cmd, payload, code string }{
		{"device.selftest", `{"device":"nope"}`, "not_found"},
		{"device.selftest", `{}`, "bad_request"},
		{"device.calibrate", `{"device":"fp1","extra":1}`, "bad_request"},
	} {
		_, err := cmds[tc.cmd](ctx, json.RawMessage(tc.payload))
		var ce api.CodedError
		if !errors.As(err, &ce) || ce.Code() != tc.code {
			t.Errorf("%s %s: %v, want code %s", tc.cmd, tc.payload, err, tc.code)
		}
	}
	// A device under test is refused a second run.
	if _, _, err := r.svc.claim("fp1", RunSelftest); err != nil {
		t.Fatal(err)
	}
	_, err := cmds["device.calibrate"](ctx, json.RawMessage(`{"device":"fp1"}`))
	var ce api.CodedError
	if !errors.As(err, &ce) || ce.Code() != "device_busy" {
		t.Errorf("second run: %v", err)
	}
	r.svc.release("fp1")
	// An unplugged scanner is unavailable.
	sub := r.reg.Subscribe(0)
	defer sub.Close()
	if err := r.sim.Hangup(); err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == devices.EventRemoved {
			break
		}
	}
	_, err = cmds["device.selftest"](ctx, json.RawMessage(`{"device":"fp1"}`))
	if !errors.As(err, &ce) || ce.Code() != "device_unavailable" {
		t.Errorf("unplugged: %v", err)
	}
}
