package hid

import (
	"context"
	"errors"
	"fmt"
)

// DeviceInfo describes one HID interface found by a Transport.
type DeviceInfo struct {
	Path         string // transport-specific path (hidraw/libusb path, socket path)
	VendorID     uint16
	ProductID    uint16
	Release      uint16 // bcdDevice
	UsagePage    uint16 // top-level collection usage page (0 where the platform does not tell)
	Usage        uint16
	Serial       string
	Manufacturer string
	Product      string
	// ReportSize is the size of every input and output report including
	// the report ID byte (0 when the transport cannot tell: the driver
	// then uses its protocol's size).
	ReportSize int
}

// Filter selects devices; a zero field matches anything.
type Filter struct {
	VendorID, ProductID uint16
	UsagePage, Usage    uint16
	Serial              string
}

// Match reports whether d passes the filter.
func (f Filter) Match(d DeviceInfo) bool {
	return (f.VendorID == 0 || f.VendorID == d.VendorID) &&
		(f.ProductID == 0 || f.ProductID == d.ProductID) &&
		(f.UsagePage == 0 || d.UsagePage == 0 || f.UsagePage == d.UsagePage) &&
		(f.Usage == 0 || d.Usage == 0 || f.Usage == d.Usage) &&
		(f.Serial == "" || f.Serial == d.Serial)
}

// Transport finds and opens HID devices.
type Transport interface {
	// Enumerate lists the devices that pass the filter now. No device is
	// not an error.
	Enumerate(f Filter) ([]DeviceInfo, error)
	// Open opens one enumerated device.
	Open(ctx context.Context, d DeviceInfo) (Conn, error)
}

// Conn is an open HID device. Reports are whole: report[0] is the report
// ID and the rest its payload, exactly as hidraw and hidapi pass them.
type Conn interface {
	// WriteReport sends one output report.
	WriteReport(ctx context.Context, report []byte) error
	// ReadReport waits for one input report and copies it into buf,
	// returning its length. It returns ErrGone once the device has been
	// unplugged, and the context's error when it ends first.
	ReadReport(ctx context.Context, buf []byte) (int, error)
	// Close releases the device; a blocked ReadReport returns. Safe to call
	// more than once.
	Close() error
}

// ErrGone is returned by a Conn whose device was unplugged.
var ErrGone = errors.New("hid: device unplugged")

// ErrNotFound is returned by drivers when no matching device is plugged in.
var ErrNotFound = errors.New("hid: no matching device plugged in")

// findOne enumerates and returns the single device that passes f (the
// first by path when several do and no serial was given).
func findOne(t Transport, f Filter, what string) (DeviceInfo, error) {
	list, err := t.Enumerate(f)
	if err != nil {
		return DeviceInfo{}, fmt.Errorf("%s: enumerating HID devices: %w", what, err)
	}
	if len(list) == 0 {
		return DeviceInfo{}, fmt.Errorf("%s (vendor %04x product %04x serial %q): %w; check the USB cable", what, f.VendorID, f.ProductID, f.Serial, ErrNotFound)
	}
	best := list[0]
	for _, d := range list[1:] {
		if d.Path < best.Path {
			best = d
		}
	}
	return best, nil
}
