package hid

import (
	"context"
	"errors"
	"fmt"
	"sync"

	khid "github.com/karalabe/hid"
)

// USBTransport reaches real USB HID devices through github.com/karalabe/hid
// (hidapi; on Linux its bundled libusb backend, so no udev is needed but the
// process needs permission on /dev/bus/usb: see docs/hid-slap.md).
type USBTransport struct{}

// USBSupported reports whether this build can reach USB HID devices (it
// cannot without cgo or on unsupported platforms).
func USBSupported() bool { return khid.Supported() }

// Enumerate lists the USB HID interfaces that pass f.
func (USBTransport) Enumerate(f Filter) ([]DeviceInfo, error) {
	if !khid.Supported() {
		return nil, fmt.Errorf("USB HID: %w (build with cgo)", khid.ErrUnsupportedPlatform)
	}
	list, err := khid.Enumerate(f.VendorID, f.ProductID)
	if err != nil {
		return nil, fmt.Errorf("USB HID enumerate: %w", err)
	}
	var out []DeviceInfo
	for _, k := range list {
		d := DeviceInfo{
			Path: k.Path, VendorID: k.VendorID, ProductID: k.ProductID, Release: k.Release,
			UsagePage: k.UsagePage, Usage: k.Usage, Serial: k.Serial,
			Manufacturer: k.Manufacturer, Product: k.Product,
		}
		if f.Match(d) {
			out = append(out, d)
		}
	}
	return out, nil
}

// usbPollMillis is how long one hidapi read waits before the context is
// checked again: hid_read_timeout cannot be interrupted, so cancelling a
// read takes at most this long.
const usbPollMillis = 50

// Open opens the device at d.Path.
func (USBTransport) Open(ctx context.Context, d DeviceInfo) (Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	list, err := khid.Enumerate(d.VendorID, d.ProductID)
	if err != nil {
		return nil, fmt.Errorf("USB HID %s: %w", d.Path, err)
	}
	for _, k := range list {
		if k.Path != d.Path {
			continue
		}
		dev, err := k.Open()
		if err != nil {
			return nil, fmt.Errorf("USB HID %s: open: %w (check permissions on /dev/bus/usb)", d.Path, err)
		}
		return &usbConn{dev: dev}, nil
	}
	return nil, fmt.Errorf("USB HID %s: %w", d.Path, ErrGone)
}

type usbConn struct {
	dev  khid.Device
	rmu  sync.Mutex
	once sync.Once
}

func (c *usbConn) ReadReport(ctx context.Context, buf []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		n, err := c.dev.ReadTimeout(buf, usbPollMillis)
		if err != nil {
			if errors.Is(err, khid.ErrDeviceClosed) {
				return 0, ErrGone
			}
			return 0, fmt.Errorf("%w (%v)", ErrGone, err)
		}
		if n > 0 {
			return n, nil
		}
	}
}

func (c *usbConn) WriteReport(ctx context.Context, report []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := c.dev.Write(report); err != nil {
		return fmt.Errorf("%w (%v)", ErrGone, err)
	}
	return nil
}

func (c *usbConn) Close() error {
	var err error
	c.once.Do(func() { err = c.dev.Close() })
	return err
}
