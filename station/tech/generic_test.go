package tech

import (
	"context"
	"errors"
	"fmt"
	"image"
	"testing"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/devices/fingerprint"
)

// plainScanner is a scanner driver with nothing beyond the
// fingerprint.Scanner interface, as a future HID scanner would be: the
// self-test can only ask it for a capture of the empty glass.
type plainScanner struct {
	glass *image.Gray // nil: nothing on the glass
}

func (p *plainScanner) Info() devices.Info { return devices.Info{Kind: devices.KindFingerprint} }
func (p *plainScanner) Close() error       { return nil }
func (p *plainScanner) Capture(ctx context.Context, o fingerprint.CaptureOptions) (*fingerprint.Image, error) {
	if p.glass == nil {
		return nil, fmt.Errorf("plain scanner: %w within %v", fingerprint.ErrNoFinger, o.Timeout)
	}
	return &fingerprint.Image{Gray: p.glass, PPI: 500}, nil
}
func (p *plainScanner) WaitLift(ctx context.Context) error { return nil }
func (p *plainScanner) SetLED(ctx context.Context, led fingerprint.LED) error {
	return fingerprint.ErrNotSupported
}

var thePlain = &plainScanner{}

func init() {
	devices.Register(devices.Driver{Name: "tech-test-plain", Kind: devices.KindFingerprint,
		Open: func(ctx context.Context, cfg devices.Config, rep devices.Reporter) (devices.Device, error) {
			return thePlain, nil
		}})
}

func TestPlainScannerAndCancel(t *testing.T) {
	reg := devices.NewRegistry(devices.Options{})
	defer reg.Close()
	sub := reg.Subscribe(0)
	defer sub.Close()
	if err := reg.Open(devices.Config{ID: "plain", Driver: "tech-test-plain"}); err != nil {
		t.Fatal(err)
	}
	waitAdded(t, sub, "plain")
	svc, err := New(Options{Registry: reg, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	rep, err := svc.Selftest(ctx, "plain")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Result != Pass || check(t, rep, "handshake").Result != Skipped || check(t, rep, "blank-platen").Result != Pass {
		t.Fatalf("empty glass: %+v", rep)
	}
	thePlain.glass = glass(128, 128, 120, nil)
	defer func() { thePlain.glass = nil }()
	rep, _ = svc.Calibrate(ctx, "plain")
	if rep.Result != Fail || check(t, rep, "contrast").Result != Fail {
		t.Fatalf("dim glass: %+v", rep)
	}
	// A run whose client went away is not a result: nothing is saved.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = svc.Calibrate(cctx, "plain")
	var e *Error
	if !errors.As(err, &e) || e.Code() != "cancelled" {
		t.Fatalf("cancelled run: %v", err)
	}
	if svc.records["plain"].Calibration.Finished != rep.Finished {
		t.Error("a cancelled run replaced the saved calibration")
	}
	if _, running := svc.Running("plain"); running {
		t.Error("device still marked under test")
	}
}
