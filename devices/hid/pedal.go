package hid

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openenroll/stationd/devices"
)

// Pedal and light report protocols, docs/hid-slap.md §6 and §7.
const (
	PedalReportSize = 8
	RepPedalState   = 0x01 // input: [1] buttons (bit 0: pedal down) [2] sequence

	LightReportSize = 8
	RepLightSet     = 0x01 // output: [1] tag [2] pattern [3..5] R G B [6] period in 100 ms
	RepLightAck     = 0x81 // input:  [1] tag [2] pattern [3] status
)

// PedalDriverName is the configuration name of the foot pedal driver.
const PedalDriverName = "hid-pedal"

func init() {
	devices.Register(devices.Driver{
		Name: PedalDriverName, Kind: devices.KindPedal,
		NewOptions: func() any { o := DefaultPedalOptions(); return &o },
		Open: func(ctx context.Context, cfg devices.Config, rep devices.Reporter) (devices.Device, error) {
			o := DefaultPedalOptions()
			if p, ok := cfg.Options.(*PedalOptions); ok && p != nil {
				o = *p
			}
			return OpenPedal(ctx, cfg, o, rep)
		},
	})
}

// PedalOptions configure the pedal driver.
type PedalOptions struct {
	LinkOptions
	// QueueLen is the length of the event queue; when nobody reads it the
	// oldest events are dropped, never the pedal's reports.
	QueueLen int `toml:"queue_len"`
}

// DefaultPedalOptions are the pedal driver's defaults.
func DefaultPedalOptions() PedalOptions {
	return PedalOptions{
		LinkOptions: LinkOptions{Transport: "usb", VendorID: SimVendorID, ProductID: SimProductPedal,
			CommandTimeout: Duration{Duration: time.Second}},
		QueueLen: 16,
	}
}

// PedalEvent is one press or release.
type PedalEvent struct {
	Pressed bool
	Time    time.Time
	// Missed is true when the pedal's sequence number shows reports were
	// lost just before this one.
	Missed bool
}

// Pedal is an open foot pedal.
type Pedal struct {
	l       *link
	events  chan PedalEvent
	mu      sync.Mutex
	down    bool
	seq     uint8
	started bool
	missed  bool // a lost report not yet told with an event
	dropped atomic.Uint64
}

// OpenPedal finds and opens the pedal.
func OpenPedal(ctx context.Context, cfg devices.Config, o PedalOptions, rep devices.Reporter) (*Pedal, error) {
	t, err := o.transport(cfg)
	if err != nil {
		return nil, err
	}
	l, err := openLink(ctx, t, Filter{VendorID: o.VendorID, ProductID: o.ProductID, Serial: o.Serial}, cfg, "foot pedal", rep)
	if err != nil {
		return nil, err
	}
	p := &Pedal{l: l, events: make(chan PedalEvent, max(o.QueueLen, 1))}
	go func() {
		l.run(PedalReportSize, p.handle)
		close(p.events)
	}()
	return p, nil
}

// Events delivers presses and releases; it is closed when the pedal is
// closed or unplugged (the registry opens a new Pedal when it returns).
func (p *Pedal) Events() <-chan PedalEvent { return p.events }

// Dropped counts events lost because nobody read Events in time.
func (p *Pedal) Dropped() uint64 { return p.dropped.Load() }

// Pressed reports whether the pedal is down now.
func (p *Pedal) Pressed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.down
}

func (p *Pedal) handle(b []byte) {
	if b[0] != RepPedalState {
		return
	}
	down, seq := b[1]&1 == 1, b[2]
	p.mu.Lock()
	p.missed = p.missed || (p.started && seq != p.seq+1)
	changed := down != p.down
	p.down, p.seq, p.started = down, seq, true
	missed := p.missed
	if changed {
		p.missed = false
	}
	p.mu.Unlock()
	if !changed {
		return // a repeated state report (after a lost one, or a keep-alive)
	}
	ev := PedalEvent{Pressed: down, Time: time.Now(), Missed: missed}
	for {
		select {
		case p.events <- ev:
			return
		default:
		}
		select { // full: drop the oldest, keep the newest
		case <-p.events:
			p.dropped.Add(1)
		default:
		}
	}
}

// Info implements devices.Device.
func (p *Pedal) Info() devices.Info { return p.l.deviceInfo(devices.KindPedal, PedalDriverName) }

// Close implements devices.Device.
func (p *Pedal) Close() error { return p.l.close() }
