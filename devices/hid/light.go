package hid

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openenroll/stationd/devices"
)

// LightDriverName is the configuration name of the status light driver.
const LightDriverName = "hid-light"

func init() {
	devices.Register(devices.Driver{
		Name: LightDriverName, Kind: devices.KindLight,
		NewOptions: func() any { o := DefaultLightOptions(); return &o },
		Open: func(ctx context.Context, cfg devices.Config, rep devices.Reporter) (devices.Device, error) {
			o := DefaultLightOptions()
			if p, ok := cfg.Options.(*LightOptions); ok && p != nil {
				o = *p
			}
			return OpenLight(ctx, cfg, o, rep)
		},
	})
}

// LightOptions configure the status light driver.
type LightOptions struct {
	LinkOptions
}

// DefaultLightOptions are the light driver's defaults.
func DefaultLightOptions() LightOptions {
	return LightOptions{LinkOptions: LinkOptions{Transport: "usb", VendorID: SimVendorID, ProductID: SimProductLight,
		CommandTimeout: Duration{Duration: time.Second}}}
}

// Pattern is what the light tells the applicant.
type Pattern uint8

// Light patterns (docs/hid-slap.md §7).
const (
	PatternOff          Pattern = 0
	PatternWait         Pattern = 1 // amber, steady: please wait
	PatternPlaceFingers Pattern = 2 // white, blinking: place your fingers
	PatternDone         Pattern = 3 // green, steady: done
	PatternTryAgain     Pattern = 4 // red, blinking: try again
)

func (p Pattern) String() string {
	switch p {
	case PatternOff:
		return "off"
	case PatternWait:
		return "wait"
	case PatternPlaceFingers:
		return "place-fingers"
	case PatternDone:
		return "done"
	case PatternTryAgain:
		return "try-again"
	}
	return fmt.Sprintf("pattern %d", uint8(p))
}

// colour and blink period (in 100 ms; 0 steady) of each pattern.
var patternLook = map[Pattern][4]uint8{
	PatternOff:          {0, 0, 0, 0},
	PatternWait:         {255, 160, 0, 0},
	PatternPlaceFingers: {255, 255, 255, 10},
	PatternDone:         {0, 255, 0, 0},
	PatternTryAgain:     {255, 0, 0, 5},
}

// Light is an open status light.
type Light struct {
	l    *link
	opts LightOptions
	acks tagWaiter[[]byte]
}

// OpenLight finds and opens the status light.
func OpenLight(ctx context.Context, cfg devices.Config, o LightOptions, rep devices.Reporter) (*Light, error) {
	t, err := o.transport(cfg)
	if err != nil {
		return nil, err
	}
	l, err := openLink(ctx, t, Filter{VendorID: o.VendorID, ProductID: o.ProductID, Serial: o.Serial}, cfg, "status light", rep)
	if err != nil {
		return nil, err
	}
	lt := &Light{l: l, opts: o}
	go l.run(LightReportSize, func(b []byte) {
		if b[0] == RepLightAck {
			lt.acks.deliver(b[1], append([]byte(nil), b...))
		}
	})
	return lt, nil
}

// Set shows a pattern and waits until the light confirms it.
func (lt *Light) Set(ctx context.Context, p Pattern) error {
	look, ok := patternLook[p]
	if !ok {
		return fmt.Errorf("status light %q: unknown %v", lt.l.id, p)
	}
	tag, ch := lt.acks.add()
	defer lt.acks.remove(tag)
	ctx, cancel := context.WithTimeout(ctx, lt.opts.CommandTimeout.Duration)
	defer cancel()
	out := []byte{RepLightSet, tag, uint8(p), look[0], look[1], look[2], look[3], 0}
	if err := lt.l.conn.WriteReport(ctx, out); err != nil {
		return fmt.Errorf("status light %q: %w", lt.l.id, err)
	}
	select {
	case a := <-ch:
		if a[3] != 0 || a[2] != uint8(p) {
			return fmt.Errorf("status light %q: refused %v (status %d)", lt.l.id, p, a[3])
		}
		return nil
	case <-lt.l.gone:
		return fmt.Errorf("status light %q: %w; plug it back in", lt.l.id, ErrGone)
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("status light %q: no answer within %v; replug the light", lt.l.id, lt.opts.CommandTimeout.Duration)
		}
		return ctx.Err()
	}
}

// Info implements devices.Device.
func (lt *Light) Info() devices.Info { return lt.l.deviceInfo(devices.KindLight, LightDriverName) }

// Close implements devices.Device.
func (lt *Light) Close() error { return lt.l.close() }
