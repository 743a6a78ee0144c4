package zfm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/devices/fingerprint"
	"github.com/openenroll/stationd/devices/fingerprint/zfm"
	zfmsim "github.com/openenroll/stationd/firmware-sim/zfm"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Small sensor and fast line for most tests: the protocol is the same,
// the uploads are short.
const (
	testW, testH = 64, 80
	testBaud     = 115200
	safety       = 10 * time.Second // only a guard against hangs
)

func startSim(t testing.TB, cfg zfmsim.Config) *zfmsim.Sim {
	t.Helper()
	if cfg.Width == 0 {
		cfg.Width, cfg.Height = testW, testH
	}
	if cfg.Baud == 0 {
		cfg.Baud = testBaud
	}
	s, err := zfmsim.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testOptions() zfm.Options {
	o := zfm.DefaultOptions()
	o.Baud = testBaud
	o.ImageWidth, o.ImageHeight = testW, testH
	o.PollInterval = zfm.Duration{Duration: 10 * time.Millisecond}
	o.CommandTimeout = zfm.Duration{Duration: time.Second}
	o.CaptureTimeout = zfm.Duration{Duration: 5 * time.Second}
	o.PresenceInterval = zfm.Duration{Duration: 20 * time.Millisecond}
	return o
}

// stateLog records what the scanner reports.
type stateLog struct {
	mu     sync.Mutex
	states []devices.State
	ch     chan devices.State
}

func newStateLog() *stateLog { return &stateLog{ch: make(chan devices.State, 64)} }

func (l *stateLog) SetState(s devices.State, _ string) {
	l.mu.Lock()
	l.states = append(l.states, s)
	l.mu.Unlock()
	select {
	case l.ch <- s:
	default:
	}
}

func (l *stateLog) all() []devices.State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]devices.State(nil), l.states...)
}

func open(t testing.TB, sim *zfmsim.Sim, o zfm.Options, rep devices.Reporter) *zfm.Scanner {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	sc, err := zfm.OpenPort(ctx, "fp-test", sim.Path(), o, rep)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	return sc
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	t.Cleanup(cancel)
	return ctx
}

func TestHandshake(t *testing.T) {
	sim := startSim(t, zfmsim.Config{NoPacing: true, PacketSize: 64, SecurityLevel: 4})
	sc := open(t, sim, testOptions(), nil)
	p := sc.Params()
	if p.Baud != testBaud || p.PacketSize != 64 || p.SecurityLevel != 4 || p.Address != zfm.DefaultAddress || p.LibrarySize != 1000 {
		t.Fatalf("params %+v", p)
	}
	if p.Status&(1<<2) == 0 {
		t.Errorf("status %04X: password-passed bit not set after VfyPwd", p.Status)
	}
	info := sc.Info()
	if info.Driver != "zfm" || info.Kind != devices.KindFingerprint || !strings.Contains(info.Model, "library 1000") || info.Port != sim.Path() {
		t.Fatalf("info %+v", info)
	}
	if n := sim.Commands(); n[zfm.CmdVfyPwd] != 1 || n[zfm.CmdReadSysPara] != 1 {
		t.Fatalf("commands seen %v", n)
	}
}

func TestPassword(t *testing.T) {
	sim := startSim(t, zfmsim.Config{NoPacing: true, Password: 0x1234ABCD})
	o := testOptions()
	_, err := zfm.OpenPort(ctxT(t), "fp", sim.Path(), o, nil)
	var me *zfm.Error
	if !errors.As(err, &me) || me.Code != zfm.CodeWrongPassword || !strings.Contains(err.Error(), "wrong module password") {
		t.Fatalf("open with the wrong password: %v", err)
	}
	o.Password = 0x1234ABCD
	sc := open(t, sim, o, nil)
	if _, err := sc.TemplateCount(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestWrongAddressOrBaud(t *testing.T) {
	sim := startSim(t, zfmsim.Config{NoPacing: true, Baud: 57600})
	o := testOptions() // 115200: the module hears noise and stays silent
	o.CommandTimeout = zfm.Duration{Duration: 100 * time.Millisecond}
	o.Retries = 1
	_, err := zfm.OpenPort(ctxT(t), "fp", sim.Path(), o, nil)
	if !errors.Is(err, zfm.ErrTimeout) || !errors.Is(err, fingerprint.ErrProtocol) || !strings.Contains(err.Error(), "115200 baud") {
		t.Fatalf("wrong baud: %v", err)
	}
	o.Baud = 57600
	o.Address = 0x12345678
	if _, err := zfm.OpenPort(ctxT(t), "fp", sim.Path(), o, nil); !errors.Is(err, zfm.ErrTimeout) {
		t.Fatalf("wrong address: %v", err)
	}
}

func TestSetSysPara(t *testing.T) {
	sim := startSim(t, zfmsim.Config{NoPacing: true})
	sc := open(t, sim, testOptions(), nil)
	ctx := ctxT(t)
	if err := sc.SetSecurityLevel(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if err := sc.SetPacketSize(ctx, 32); err != nil {
		t.Fatal(err)
	}
	if p := sim.Params(); p.SecurityLevel != 5 || p.PacketSize != 32 {
		t.Fatalf("sim params %+v", p)
	}
	if p := sc.Params(); p.SecurityLevel != 5 || p.PacketSize != 32 {
		t.Fatalf("driver params %+v", p)
	}
	// Baud change: the module answers at the old speed, then listens at the
	// new one; the driver re-opens the port at the new speed.
	if err := sc.SetBaud(ctx, 57600); err != nil {
		t.Fatal(err)
	}
	if p := sim.Params(); p.Baud != 57600 {
		t.Fatalf("sim baud %d", p.Baud)
	}
	if p := sc.Params(); p.Baud != 57600 {
		t.Fatalf("driver read back baud %d", p.Baud)
	}
	sim.Place(zfmsim.BuiltinFinger(testW, testH, 3))
	img, err := sc.Capture(ctx, fingerprint.CaptureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	assertSameImage(t, img.Gray, zfmsim.Quantise4(sim.Platen()))

	var me *zfm.Error
	if err := sc.SetSecurityLevel(ctx, 6); err == nil {
		t.Fatal("security level 6 accepted")
	}
	if err := sc.Dev().SetSysParam(ctx, 9, 1); !errors.As(err, &me) || me.Code != zfm.CodeBadRegister {
		t.Fatalf("register 9: %v", err)
	}
	if err := sc.SetBaud(ctx, 12345); err == nil {
		t.Fatal("baud 12345 accepted")
	}
}

func assertSameImage(t *testing.T, got, want *image.Gray) {
	t.Helper()
	if got.Rect != want.Rect {
		t.Fatalf("image %v, want %v", got.Rect, want.Rect)
	}
	for y := want.Rect.Min.Y; y < want.Rect.Max.Y; y++ {
		g := got.Pix[got.PixOffset(0, y) : got.PixOffset(0, y)+want.Rect.Dx()]
		w := want.Pix[want.PixOffset(0, y) : want.PixOffset(0, y)+want.Rect.Dx()]
		if !bytes.Equal(g, w) {
			t.Fatalf("row %d differs:\n got %v\nwant %v", y, g[:16], w[:16])
		}
	}
}

func TestCapture(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  zfmsim.Config
	}{
		{"unpaced", zfmsim.Config{NoPacing: true}},
		{"paced-115200", zfmsim.Config{}},
		{"paced-256-byte-packets", zfmsim.Config{PacketSize: 256}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := startSim(t, tc.cfg)
			states := newStateLog()
			sc := open(t, sim, testOptions(), states)
			finger := zfmsim.BuiltinFinger(testW, testH, 7)
			sim.Place(finger)
			img, err := sc.Capture(ctxT(t), fingerprint.CaptureOptions{Position: 2})
			if err != nil {
				t.Fatal(err)
			}
			assertSameImage(t, img.Gray, zfmsim.Quantise4(finger))
			if img.PPI != 500 || img.Bits != 4 || img.Position != 2 || img.Device != "fp-test" {
				t.Fatalf("image metadata %+v", img)
			}
			if w := float64(testW) * 25.4 / 500; img.WidthMM != w {
				t.Fatalf("width %v mm, want %v", img.WidthMM, w)
			}
			got := states.all()
			if len(got) < 2 || got[0] != devices.StateBusy || got[len(got)-1] != devices.StateReady {
				t.Fatalf("states %v: want busy … ready", got)
			}
			// The finger stays: WaitLift must wait; lifting releases it.
			done := make(chan error, 1)
			go func() { done <- sc.WaitLift(ctxT(t)) }()
			// Let WaitLift poll twice with the finger still on.
			polled := sim.Commands()[zfm.CmdGenImg] + 2
			if err := sim.WaitCommand(ctxT(t), zfm.CmdGenImg, polled); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				t.Fatalf("WaitLift returned with the finger on: %v", err)
			default:
			}
			sim.Lift()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(safety):
				t.Fatal("WaitLift hangs")
			}
		})
	}
}

func TestCaptureNoFingerTimesOut(t *testing.T) {
	sim := startSim(t, zfmsim.Config{NoPacing: true})
	sc := open(t, sim, testOptions(), nil)
	_, err := sc.Capture(ctxT(t), fingerprint.CaptureOptions{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, fingerprint.ErrNoFinger) || !strings.Contains(err.Error(), "place the finger") {
		t.Fatalf("%v", err)
	}
}

func TestCancelFingerWait(t *testing.T) {
	sim := startSim(t, zfmsim.Config{NoPacing: true})
	states := newStateLog()
	o := testOptions()
	o.PollInterval = zfm.Duration{Duration: time.Second} // the cancel must cut the pause short
	sc := open(t, sim, o, states)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := sc.Capture(ctx, fingerprint.CaptureOptions{Timeout: time.Minute})
		done <- err
	}()
	if s := <-states.ch; s != devices.StateBusy {
		t.Fatalf("first state %v", s)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%v", err)
		}
	case <-time.After(safety):
		t.Fatal("capture did not stop on cancel")
	}
}

func TestCloseDuringCapture(t *testing.T) {
	sim := startSim(t, zfmsim.Config{NoPacing: true})
	states := newStateLog()
	sc := open(t, sim, testOptions(), states)
	done := make(chan error, 1)
	go func() {
		_, err := sc.Capture(context.Background(), fingerprint.CaptureOptions{Timeout: time.Minute})
		done <- err
	}()
	<-states.ch
	sc.Close()
	select {
	case err := <-done:
		if !errors.Is(err, zfm.ErrClosed) {
			t.Fatalf("%v", err)
		}
	case <-time.After(safety):
		t.Fatal("capture did not stop on Close")
	}
	for _, s := range states.all() {
		if s == devices.StateAbsent {
			t.Fatal("a Close was reported as an unplug")
		}
	}
}

func TestLED(t *testing.T) {
	sim := startSim(t, zfmsim.Config{NoPacing: true})
	sc := open(t, sim, testOptions(), nil)
	ctx := ctxT(t)
	if err := sc.SetLED(ctx, fingerprint.LED{Mode: fingerprint.LEDBreathing, Color: fingerprint.LEDBlue, Speed: 100, Count: 3}); err != nil {
		t.Fatal(err)
	}
	if l := sim.LED(); l.Control != 1 || l.Color != 2 || l.Speed != 100 || l.Count != 3 {
		t.Fatalf("sim LED %+v", l)
	}
	if err := sc.SetLED(ctx, fingerprint.LED{Mode: fingerprint.LEDOff}); err != nil {
		t.Fatal(err)
	}
	if l := sim.LED(); l.Control != 4 {
		t.Fatalf("sim LED %+v", l)
	}

	o := testOptions()
	o.LED = "onoff"
	sc.Close()
	sc = open(t, sim, o, nil)
	if err := sc.SetLED(ctx, fingerprint.LED{Mode: fingerprint.LEDOn}); err != nil || !sim.LED().On {
		t.Fatalf("open LED: %v, %+v", err, sim.LED())
	}
	if err := sc.SetLED(ctx, fingerprint.LED{Mode: fingerprint.LEDOff}); err != nil || sim.LED().On {
		t.Fatalf("close LED: %v, %+v", err, sim.LED())
	}
	o.LED = "none"
	sc.Close()
	sc = open(t, sim, o, nil)
	if err := sc.SetLED(ctx, fingerprint.LED{Mode: fingerprint.LEDOn}); !errors.Is(err, fingerprint.ErrNotSupported) {
		t.Fatalf("led none: %v", err)
	}
}

func TestTemplateCount(t *testing.T) {
	sim := startSim(t, zfmsim.Config{NoPacing: true, Templates: 42})
	sc := open(t, sim, testOptions(), nil)
	n, err := sc.TemplateCount(ctxT(t))
	if err != nil || n != 42 {
		t.Fatalf("%d, %v", n, err)
	}
}

// TestFaults injects each line fault and checks the driver either recovers
// by retrying or ends in the right typed error.
func TestFaults(t *testing.T) {
	sim := startSim(t, zfmsim.Config{NoPacing: true})
	o := testOptions()
	o.CommandTimeout = zfm.Duration{Duration: 400 * time.Millisecond} // timeouts are part of these cases: short, with room for a loaded host
	sc := open(t, sim, o, nil)
	finger := zfmsim.BuiltinFinger(testW, testH, 11)
	sim.Place(finger)
	want := zfmsim.Quantise4(finger)
	f := func(s string) zfmsim.Fault {
		x, err := zfmsim.ParseFault(s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	capture := func() error {
		img, err := sc.Capture(ctxT(t), fingerprint.CaptureOptions{})
		if err == nil {
			assertSameImage(t, img.Gray, want)
		}
		return err
	}
	count := func() error { _, err := sc.TemplateCount(ctxT(t)); return err }
	for _, tc := range []struct {
		fault    string
		n        int
		op       func() error
		cmd      byte // instruction whose count is checked
		sends    int  // how often the driver must have sent it
		wantErr  error
		wantText string
	}{
		{"checksum", 1, count, zfm.CmdTemplateNum, 2, nil, ""},
		{"drop", 1, count, zfm.CmdTemplateNum, 2, nil, ""},
		{"stall", 1, count, zfm.CmdTemplateNum, 2, nil, ""},
		{"garbage", 1, count, zfm.CmdTemplateNum, 1, nil, ""},
		{"garbage-after", 1, count, zfm.CmdTemplateNum, 1, nil, ""},
		{"code:0x01", 2, count, zfm.CmdTemplateNum, 3, nil, ""},
		// Upload faults (GenImg answers first, then UpImage gets the fault).
		{"checksum-data", 1, capture, zfm.CmdUpImage, 2, nil, ""},
		{"drop-data", 1, capture, zfm.CmdUpImage, 2, nil, ""},
		{"garbage", 1, capture, zfm.CmdUpImage, 1, nil, ""},
		// Persistent faults outlast the retries and end in typed errors.
		{"stall", 3, count, zfm.CmdTemplateNum, 3, zfm.ErrTimeout, "no answer"},
		{"checksum", 3, count, zfm.CmdTemplateNum, 3, zfm.ErrChecksum, "checksum"},
		{"code:0x01", 3, count, zfm.CmdTemplateNum, 3, fingerprint.ErrProtocol, "did not receive the command"},
		{"code:0x06", 1, count, zfm.CmdTemplateNum, 1, fingerprint.ErrBadImage, "image too messy"},
	} {
		t.Run(fmt.Sprintf("%s×%d", tc.fault, tc.n), func(t *testing.T) {
			sim.ClearFaults()
			if tc.cmd == zfm.CmdUpImage {
				// GenImg must pass untouched: arm after a clean GenImg by
				// letting the fault queue start with a harmless entry.
				sim.Inject(f("code:0x00"), 1)
			}
			sim.Inject(f(tc.fault), tc.n)
			before := sim.Commands()[tc.cmd]
			err := tc.op()
			sent := sim.Commands()[tc.cmd] - before
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("not recovered: %v", err)
				}
			} else if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantText) || !strings.Contains(err.Error(), `"fp-test"`) {
				t.Fatalf("error %v, want %v mentioning %q and the device", err, tc.wantErr, tc.wantText)
			}
			if sent != tc.sends {
				t.Fatalf("instruction 0x%02X sent %d times, want %d", tc.cmd, sent, tc.sends)
			}
		})
	}
}

// TestEveryCodeTyped checks that each confirmation code reaches the caller
// as a *zfm.Error with the operator's wording.
func TestEveryCodeTyped(t *testing.T) {
	sim := startSim(t, zfmsim.Config{NoPacing: true})
	sc := open(t, sim, testOptions(), nil)
	for c := 0x02; c <= 0x21; c++ {
		code := zfm.Code(c)
		sim.Inject(zfmsim.Fault{Kind: zfmsim.FaultCode, Code: byte(c)}, 1)
		_, err := sc.TemplateCount(ctxT(t))
		var me *zfm.Error
		if !errors.As(err, &me) || me.Code != code {
			t.Fatalf("code 0x%02X: %v", c, err)
		}
		if !strings.Contains(err.Error(), code.String()) || code.Advice() == "" {
			t.Fatalf("code 0x%02X: %q lacks wording or advice", c, err)
		}
	}
	if !errors.Is(&zfm.Error{Code: zfm.CodeNoFinger}, fingerprint.ErrNoFinger) {
		t.Fatal("no finger does not match fingerprint.ErrNoFinger")
	}
	if zfm.Code(0x02).String() != "no finger on the sensor" || zfm.Code(0x06).String() != "image too messy" {
		t.Fatal("operator wording changed")
	}
}

func TestHangupDuringCommand(t *testing.T) {
	sim := startSim(t, zfmsim.Config{NoPacing: true})
	states := newStateLog()
	sc := open(t, sim, testOptions(), states)
	sim.Inject(zfmsim.Fault{Kind: zfmsim.FaultHangup}, 1)
	_, err := sc.TemplateCount(ctxT(t))
	if !errors.Is(err, zfm.ErrGone) || !errors.Is(err, fingerprint.ErrDeviceGone) {
		t.Fatalf("%v", err)
	}
	if s := states.all(); len(s) == 0 || s[len(s)-1] != devices.StateAbsent {
		t.Fatalf("states %v, want absent", s)
	}
	if _, err := sc.TemplateCount(ctxT(t)); !errors.Is(err, zfm.ErrGone) {
		t.Fatalf("after hang-up: %v", err)
	}
	// Open fails fast while the port is missing.
	if _, err := zfm.OpenPort(ctxT(t), "fp", sim.Path(), testOptions(), nil); !errors.Is(err, zfm.ErrGone) || !strings.Contains(err.Error(), "plugged in") {
		t.Fatalf("open while gone: %v", err)
	}
}

// TestUnplugReplug runs the scanner under the device registry: unplugging
// makes it absent, plugging it back makes it ready again.
func TestUnplugReplug(t *testing.T) {
	sim := startSim(t, zfmsim.Config{NoPacing: true})
	reg := devices.NewRegistry(devices.Options{RetryMin: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	defer reg.Close()
	sub := reg.Subscribe(0)
	defer sub.Close()
	o := testOptions()
	if err := reg.Open(devices.Config{ID: "finger", Driver: "zfm", Port: sim.Path(), Options: &o}); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	wait := func(typ devices.EventType, st devices.State) {
		t.Helper()
		for {
			ev, err := sub.Next(ctx)
			if err != nil {
				t.Fatalf("waiting for %s/%s: %v", typ, st, err)
			}
			if ev.Type == typ && ev.State == st {
				return
			}
		}
	}
	wait(devices.EventAdded, devices.StateReady)
	dev, ok := reg.Get("finger")
	if !ok {
		t.Fatal("not in the registry")
	}
	if _, ok := dev.(fingerprint.Scanner); !ok {
		t.Fatalf("%T is not a fingerprint.Scanner", dev)
	}
	sim.Hangup()
	wait(devices.EventRemoved, devices.StateAbsent)
	if _, ok := reg.Get("finger"); ok {
		t.Fatal("still listed as open after unplug")
	}
	if err := sim.Return(); err != nil {
		t.Fatal(err)
	}
	wait(devices.EventAdded, devices.StateReady)
	dev, _ = reg.Get("finger")
	sim.Place(zfmsim.BuiltinFinger(testW, testH, 5))
	if _, err := dev.(fingerprint.Scanner).Capture(ctx, fingerprint.CaptureOptions{}); err != nil {
		t.Fatal(err)
	}
}
