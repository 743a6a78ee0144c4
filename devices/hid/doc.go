// Package hid drives the booth's USB HID devices: the 4-4-2 slap fingerprint
// scanner, the foot pedal and the status light.
//
// Every driver talks to its device through a Transport (enumerate by vendor,
// product and usage; open; read and write fixed-size reports with report IDs)
// in the manner of periph.io's conn.Conn, so the same driver runs over:
//
//   - USBTransport: real devices through github.com/karalabe/hid (hidapi with
//     its bundled libusb backend on Linux, built with cgo);
//   - VirtualTransport: the same reports carried over unix sockets, one per
//     plugged device, to the simulators in firmware-sim/hidsim (libfprint's
//     virtual device driver does the same for CI; this machine has no
//     /dev/uhid for kernel HID emulation).
//
// The report protocols are documented in docs/hid-slap.md; the simulator
// implements them separately from the same document, so a protocol bug on
// one side is caught by the other.
//
// Drivers register with the devices registry: "hid-slap" (devices.KindSlap),
// "hid-pedal" (devices.KindPedal) and "hid-light" (devices.KindLight). A
// device whose transport closes reports devices.StateAbsent; Open fails fast
// while it is gone, so the registry re-opens it when it is plugged back in.
package hid
