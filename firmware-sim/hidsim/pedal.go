package hidsim

import (
	"context"
	"sync"
)

// Pedal is a simulated USB foot pedal (docs/hid-slap.md §6): 8-byte input
// reports [0x01, buttons, sequence] on every change.
type Pedal struct {
	Serial string

	mu    sync.Mutex
	down  bool
	seq   uint8
	conns map[*Conn]struct{}
	// DropNext loses the next n state reports (a lossy link).
	dropNext int
}

// Descriptor implements Device.
func (p *Pedal) Descriptor() Descriptor {
	return Descriptor{ReportSize: 8, VendorID: VendorID, ProductID: ProductPedal, Release: 0x0100,
		UsagePage: UsagePageVendor, Usage: 0x02, Serial: p.Serial, Manufacturer: "OpenEnroll sim", Product: "Foot pedal"}
}

// Serve implements Device.
func (p *Pedal) Serve(ctx context.Context, c *Conn) {
	p.mu.Lock()
	if p.conns == nil {
		p.conns = map[*Conn]struct{}{}
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
	}()
	for {
		if _, err := c.Read(); err != nil { // the pedal has no output reports; read to see the hang-up
			return
		}
	}
}

// Connected returns how many hosts have the pedal open.
func (p *Pedal) Connected() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// DropNext makes the next n state reports get lost on the way.
func (p *Pedal) DropNext(n int) {
	p.mu.Lock()
	p.dropNext = n
	p.mu.Unlock()
}

// Press puts the pedal down; Release lets it up.
func (p *Pedal) Press()   { p.set(true) }
func (p *Pedal) Release() { p.set(false) }

func (p *Pedal) set(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	p.seq++
	if p.dropNext > 0 {
		p.dropNext--
		return
	}
	var b byte
	if down {
		b = 1
	}
	for c := range p.conns {
		c.Write([]byte{0x01, b, p.seq}, true)
	}
}

// Light is a simulated status light (docs/hid-slap.md §7).
type Light struct {
	Serial string

	mu      sync.Mutex
	pattern uint8
	rgb     [3]uint8
	period  uint8
	changes int
}

// Descriptor implements Device.
func (l *Light) Descriptor() Descriptor {
	return Descriptor{ReportSize: 8, VendorID: VendorID, ProductID: ProductLight, Release: 0x0100,
		UsagePage: UsagePageVendor, Usage: 0x03, Serial: l.Serial, Manufacturer: "OpenEnroll sim", Product: "Status light"}
}

// Serve implements Device.
func (l *Light) Serve(ctx context.Context, c *Conn) {
	for {
		r, err := c.Read()
		if err != nil {
			return
		}
		if r[0] != 0x01 {
			continue
		}
		status := uint8(0)
		if r[2] > 4 {
			status = 1 // unknown pattern
		} else {
			l.mu.Lock()
			l.pattern, l.rgb, l.period = r[2], [3]uint8{r[3], r[4], r[5]}, r[6]
			l.changes++
			l.mu.Unlock()
		}
		if c.Write([]byte{0x81, r[1], r[2], status}, true) != nil {
			return
		}
	}
}

// LightState is what the light shows.
type LightState struct {
	Pattern uint8
	RGB     [3]uint8
	Period  uint8 // blink period in 100 ms, 0 steady
	Changes int
}

// State returns what the light shows now.
func (l *Light) State() LightState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return LightState{l.pattern, l.rgb, l.period, l.changes}
}
