package main

import (
	"context"
	"image"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/devices/fingerprint/zfm"
	zfmsim "github.com/openenroll/stationd/firmware-sim/zfm"
	"github.com/openenroll/stationd/station/api"
	"github.com/openenroll/stationd/station/bus"
	"github.com/openenroll/stationd/station/tech"
)

// TestSelftestAndCalibrateCommands runs stationctl against a stationd API
// server with the technician service over a simulated scanner.
func TestSelftestAndCalibrateCommands(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	sim, err := zfmsim.Start(zfmsim.Config{Width: 64, Height: 80, Baud: 115200, NoPacing: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	reg := devices.NewRegistry(devices.Options{RetryMin: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	defer reg.Close()
	sub := reg.Subscribe(0)
	o := zfm.DefaultOptions()
	o.Baud, o.ImageWidth, o.ImageHeight = 115200, 64, 80
	if err := reg.Open(devices.Config{ID: "fp1", Driver: zfm.DriverName, Port: sim.Path(), Options: &o}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == devices.EventAdded {
			break
		}
	}
	sub.Close()
	b := bus.New()
	defer b.Close()
	svc, err := tech.New(tech.Options{Registry: reg, Bus: b, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := api.NewAuth(api.AuthOptions{Token: "tech-test-token-0123"})
	if err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Options{Registry: reg, Bus: b, Commands: svc.Commands(), Auth: auth})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	defer srv.Close()
	addr := strings.TrimPrefix(hs.URL, "http://")

	stationctl := func(args ...string) (int, string, string) {
		var out, errOut strings.Builder
		code := run(args, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	// stationd asks for a login: without the token stationctl is refused
	// and says how to give it.
	code, out, errOut := stationctl("selftest", "-addr", addr, "fp1")
	if code != 1 || !strings.Contains(errOut, "--token") {
		t.Fatalf("without token: exit %d: %s%s", code, out, errOut)
	}
	t.Setenv("STATIOND_TOKEN", "tech-test-token-0123")
	code, out, errOut = stationctl("selftest", "-addr", addr, "fp1")
	if code != 0 {
		t.Fatalf("selftest: exit %d: %s%s", code, out, errOut)
	}
	for _, want := range []string{"fp1: self-test", "[1/2] handshake", "[2/2] blank platen", "PASS  handshake", "blank-platen", "result: pass"} {
		if !strings.Contains(out, want) {
			t.Errorf("selftest output lacks %q:\n%s", want, out)
		}
	}

	// A smudged platen: the calibration fails with advice, exit status 1.
	g := image.NewGray(image.Rect(0, 0, 64, 80))
	for i := range g.Pix {
		g.Pix[i] = 230
		if x, y := i%64, i/64; x >= 16 && x < 48 && y >= 16 && y < 48 {
			g.Pix[i] = 100
		}
	}
	sim.Place(g)
	code, out, errOut = stationctl("calibrate", "-addr", addr, "fp1")
	if code != 1 || !strings.Contains(out, "FAIL  cleanliness") || !strings.Contains(out, "clean the platen") ||
		!strings.Contains(errOut, "calibration of fp1 failed") || !strings.Contains(out, "[2/2] measuring") {
		t.Fatalf("dirty calibration: exit %d\n%s%s", code, out, errOut)
	}
	if st, _ := svc.Calibration("fp1"); st != tech.CalFailed {
		t.Errorf("calibration state %s", st)
	}

	code, _, errOut = stationctl("selftest", "-addr", addr, "nosuch")
	if code != 1 || !strings.Contains(errOut, "not_found") {
		t.Errorf("unknown device: exit %d %s", code, errOut)
	}
	if code, _, errOut = stationctl("calibrate", "-addr", addr); code != 2 {
		t.Errorf("no device: exit %d %s", code, errOut)
	}
	if code, _, errOut = stationctl("selftest", "-addr", "127.0.0.1:1", "fp1"); code != 1 || !strings.Contains(errOut, "cannot reach stationd") {
		t.Errorf("no stationd: exit %d %s", code, errOut)
	}
}

// FuzzTechMessage feeds arbitrary server messages to the run follower:
// it may refuse them, never panic.
func FuzzTechMessage(f *testing.F) {
	f.Add([]byte(`{"v":1,"type":"tech.progress","time":"2026-11-27T06:00:00Z","payload":{"device":"fp1","run":"selftest","step":1,"of":2,"message":"handshake"}}`))
	f.Add([]byte(`{"v":1,"type":"device.selftest.result","id":"tech-1","payload":{"device":"fp1","result":"pass","checks":[{"name":"x","result":"pass"}]}}`))
	f.Add([]byte(`{"v":1,"type":"error","id":"tech-1","payload":{"code":"not_found","message":"no device"}}`))
	f.Add([]byte(`{"v":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		w := &techWatch{device: "fp1", run: tech.RunSelftest, reqID: "tech-1"}
		line, rep, _, err := w.handle(b)
		if err == nil && rep != nil && line != "" {
			t.Fatal("a report and a progress line from one message")
		}
		if strings.ContainsAny(line, "\n\r") {
			t.Fatalf("progress line spans lines: %q", line)
		}
	})
}
