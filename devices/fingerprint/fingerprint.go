// Package fingerprint is the station's view of a fingerprint scanner,
// whatever its model or bus: single-finger serial modules (the zfm driver),
// and later HID slap scanners. Drivers live in sub-packages and register with
// the devices registry; the station reaches an open scanner with a type
// assertion on Scanner and works only with the types of this package.
package fingerprint

import (
	"context"
	"errors"
	"image"
	"time"

	"github.com/openenroll/stationd/devices"
)

// Image is one captured impression as the sensor delivered it.
type Image struct {
	// Gray holds the pixels, 0 black (ridge) to 255 white (background).
	Gray *image.Gray
	// PPI is the sensor's resolution in pixels per inch (≈500 for
	// enrollment-grade optical modules).
	PPI int
	// WidthMM and HeightMM are the imaged area of the platen.
	WidthMM, HeightMM float64
	// Bits is how many significant bits per pixel the sensor sent (4 for
	// modules that pack two pixels per byte); the rest is scaling.
	Bits int
	// Captured is when the sensor took the image.
	Captured time.Time
	// Device is the ID of the scanner that took it.
	Device string
	// Position is the finger position the capture was asked for (ISO/IEC
	// 19794-4 finger position code, 0 unknown); the driver only copies it.
	Position int
}

// CaptureOptions tune one capture.
type CaptureOptions struct {
	// Timeout bounds the wait for a finger; zero takes the driver's
	// configured default. The context may end the wait earlier.
	Timeout time.Duration
	// Position is copied into the returned Image.
	Position int
}

// LEDMode is what a scanner's light ring does.
type LEDMode uint8

// LED modes. Not every scanner has every mode; a driver maps what it can
// and returns ErrNotSupported for the rest.
const (
	LEDOff LEDMode = iota
	LEDOn
	LEDBreathing
	LEDFlashing
	LEDFadeIn
	LEDFadeOut
)

// LEDColor is a light ring's colour.
type LEDColor uint8

// LED colours.
const (
	LEDRed LEDColor = iota + 1
	LEDBlue
	LEDPurple
	LEDGreen
	LEDYellow
	LEDCyan
	LEDWhite
)

// LED is a request for the scanner's light.
type LED struct {
	Mode  LEDMode
	Color LEDColor
	// Speed is the breathing/flashing period step (0 fastest, 255 slowest)
	// and Count how many cycles (0 forever), where the scanner supports it.
	Speed, Count uint8
}

// Scanner is an open fingerprint scanner.
type Scanner interface {
	devices.Device
	// Capture waits for a finger on the sensor, images it and returns the
	// image. It reports the device busy while it runs.
	Capture(ctx context.Context, opts CaptureOptions) (*Image, error)
	// WaitLift returns once no finger is on the sensor, so that the next
	// capture is a fresh impression.
	WaitLift(ctx context.Context) error
	// SetLED sets the scanner's light, for guiding the person.
	SetLED(ctx context.Context, led LED) error
}

// Errors shared by all scanner drivers. Drivers return errors that wrap
// these (errors.Is), with the device name and the operator's advice.
var (
	// ErrNoFinger: no finger was placed within the wait.
	ErrNoFinger = errors.New("no finger on the sensor")
	// ErrBadImage: the scanner could not take a usable image (smudged
	// glass, finger too dry or wet, moved).
	ErrBadImage = errors.New("the sensor could not take a usable image")
	// ErrDeviceGone: the scanner was disconnected.
	ErrDeviceGone = errors.New("scanner disconnected")
	// ErrNotSupported: the scanner has no such function.
	ErrNotSupported = errors.New("not supported by this scanner")
	// ErrProtocol: the scanner answered with something the driver could not
	// understand (line noise, wrong speed, a different device).
	ErrProtocol = errors.New("scanner communication error")
)
