package enroll

import (
	"context"
	"errors"

	"github.com/openenroll/stationd/devices/fingerprint"
	"github.com/openenroll/stationd/devices/smartcard"
)

// Usage hears how each device's work goes, for the technician's counters
// (station/tech.Counters): stationd keeps them, not the page, so they
// survive a reload of the console and count what every client started.
type Usage interface {
	// Attempt: a capture (or card read or write) started on the device.
	Attempt(device, what string)
	// Captured: it delivered (an image, a card read or written).
	Captured(device, what string)
	// Failed: the device failed it. Not called for a request cancelled by
	// the client, nor when the applicant did not place a finger, face the
	// camera or insert a card in time: those are not the device's errors.
	Failed(device, what string, err error)
}

func (c *Controller) attempt(device, what string) {
	if c.opts.Usage != nil {
		c.opts.Usage.Attempt(device, what)
	}
}

func (c *Controller) captured(device, what string) {
	if c.opts.Usage != nil {
		c.opts.Usage.Captured(device, what)
	}
}

// failed reports a device error unless it was the client's cancellation or
// the applicant's part (see Usage.Failed).
func (c *Controller) failed(ctx context.Context, device, what string, err error) {
	if c.opts.Usage == nil || err == nil || ctx.Err() != nil ||
		errors.Is(err, context.Canceled) || errors.Is(err, fingerprint.ErrNoFinger) || errors.Is(err, smartcard.ErrNoCard) {
		return
	}
	c.opts.Usage.Failed(device, what, err)
}
