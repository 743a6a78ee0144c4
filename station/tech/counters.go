package tech

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/station/api"
	"github.com/openenroll/stationd/station/bus"
)

// DeviceCounters are what the technician console shows per device: how
// much it was used and how it failed, since the counters file was started
// (or since stationd started, without a file).
type DeviceCounters struct {
	Device string `json:"device"`
	// Attempts started on the device (captures, card reads and writes);
	// Captures the ones that delivered.
	Attempts int64 `json:"attempts"`
	Captures int64 `json:"captures"`
	// Errors counts the device's failures: failed captures, the registry
	// seeing it in the error state, losing it, or failing to open it.
	Errors        int64     `json:"errors"`
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
	// Events counts the registry's events for the device (added, removed,
	// state changes): a device that comes and goes shows here.
	Events int64 `json:"events"`
}

// EventCounters is the bus message published when a device's counters
// change (payload: DeviceCounters).
const EventCounters = "device.counters"

// Counters keeps per-device counters in stationd, fed by the registry's
// events (Run) and by the capture flow (it implements enroll.Usage), so
// that the console shows the same numbers to every page, after a reload
// too. With a file (LoadFile) they also outlive a restart of stationd:
// Run writes them there every few seconds while they change, and once
// more when it stops.
type Counters struct {
	reg *devices.Registry
	sub *devices.Subscription // taken at NewCounters: no event is missed before Run
	bus *bus.Bus
	now func() time.Time

	mu    sync.Mutex
	dev   map[string]*DeviceCounters
	path  string // "" without a file
	dirty bool   // changed since the last save
}

// saveEvery is how often Run writes changed counters to their file.
const saveEvery = 3 * time.Second

// LoadFile keeps the counters in path (JSON): what it holds is loaded now
// (a missing file starts from zero) and Run saves there. Call it before
// Run.
func (c *Counters) LoadFile(path string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.path = path
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("device counters: %w", err)
	}
	var list []DeviceCounters
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("device counters %s: %w (delete the file to start the counters again)", path, err)
	}
	for _, d := range list {
		if d.Device != "" {
			d := d
			c.dev[d.Device] = &d
		}
	}
	return nil
}

// save writes the counters to their file when they changed (temporary
// file, then rename: a crash leaves the old or the new file, never half).
func (c *Counters) save() error {
	c.mu.Lock()
	if c.path == "" || !c.dirty {
		c.mu.Unlock()
		return nil
	}
	list := make([]DeviceCounters, 0, len(c.dev))
	for _, d := range c.dev {
		list = append(list, *d)
	}
	c.dirty = false
	path := c.path
	c.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].Device < list[j].Device })
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("device counters: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("device counters: %w", err)
	}
	return nil
}

// NewCounters returns counters for reg's devices; changes are published on
// b (which may be nil).
func NewCounters(reg *devices.Registry, b *bus.Bus) *Counters {
	c := &Counters{reg: reg, bus: b, now: time.Now, dev: map[string]*DeviceCounters{}}
	if reg != nil {
		c.sub = reg.Subscribe(0)
	}
	return c
}

// Run follows the registry's events, from NewCounters on, and saves the
// counters to their file while they change, until ctx ends (call it once).
// A failed save is returned when Run ends (and tried again meanwhile).
func (c *Counters) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if c.sub != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.sub.Close()
			for {
				ev, err := c.sub.Next(ctx)
				if err != nil {
					return
				}
				c.onEvent(ev)
			}
		}()
	}
	var saveErr error
	tick := time.NewTicker(saveEvery)
	defer tick.Stop()
	for ctx.Err() == nil {
		select {
		case <-tick.C:
			if err := c.save(); err != nil {
				saveErr = err
				c.mu.Lock()
				c.dirty = true
				c.mu.Unlock()
			}
		case <-ctx.Done():
		}
	}
	wg.Wait()
	if err := c.save(); err != nil {
		return err
	}
	if saveErr != nil {
		return saveErr
	}
	return nil
}

func (c *Counters) onEvent(ev devices.Event) {
	c.update(ev.Device.ID, func(d *DeviceCounters) {
		d.Events++
		// The error state, a device lost (unplugged, or gone quiet: the
		// registry closed it), and an absent device's reason for not
		// opening are the device's errors.
		var msg string
		switch {
		case ev.State == devices.StateError:
			msg = "error"
		case ev.Type == devices.EventRemoved:
			msg = "disconnected"
		case ev.State == devices.StateAbsent && ev.Detail != "":
			msg = "absent"
		default:
			return
		}
		if ev.Detail != "" {
			msg += ": " + ev.Detail
		}
		d.Errors++
		d.LastError = msg
		d.LastErrorTime = ev.Time
	})
}

// Attempt counts a capture started on device (enroll.Usage).
func (c *Counters) Attempt(device, what string) {
	c.update(device, func(d *DeviceCounters) { d.Attempts++ })
}

// Captured counts a capture that delivered (enroll.Usage).
func (c *Counters) Captured(device, what string) {
	c.update(device, func(d *DeviceCounters) { d.Captures++ })
}

// Failed counts a failure of the device (enroll.Usage).
func (c *Counters) Failed(device, what string, err error) {
	msg := what + " failed"
	if err != nil {
		msg = what + ": " + err.Error()
	}
	c.update(device, func(d *DeviceCounters) {
		d.Errors++
		d.LastError = msg
		d.LastErrorTime = c.now().UTC()
	})
}

func (c *Counters) update(id string, fn func(*DeviceCounters)) {
	if id == "" {
		return
	}
	c.mu.Lock()
	d := c.dev[id]
	if d == nil {
		d = &DeviceCounters{Device: id}
		c.dev[id] = d
	}
	fn(d)
	c.dirty = true
	snap := *d
	c.mu.Unlock()
	if c.bus != nil {
		c.bus.Publish(bus.Message{Type: EventCounters, Payload: snap})
	}
}

// Get returns one device's counters (zero when nothing happened to it).
func (c *Counters) Get(id string) DeviceCounters {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.dev[id]; d != nil {
		return *d
	}
	return DeviceCounters{Device: id}
}

// All returns every device's counters: the registry's devices (zeros for
// one nothing happened to yet) and any other device counted, by id.
func (c *Counters) All() []DeviceCounters {
	ids := map[string]bool{}
	if c.reg != nil {
		for _, st := range c.reg.Snapshot() {
			ids[st.Info.ID] = true
		}
	}
	c.mu.Lock()
	for id := range c.dev {
		ids[id] = true
	}
	c.mu.Unlock()
	out := make([]DeviceCounters, 0, len(ids))
	for id := range ids {
		out = append(out, c.Get(id))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Device < out[j].Device })
	return out
}

// Commands returns device.counters (technicians only, as every device.
// command): {"counters": [DeviceCounters…]}, or one device's with
// {"device": id}.
func (c *Counters) Commands() map[string]api.CommandFunc {
	return map[string]api.CommandFunc{"device.counters": c.cmdCounters}
}

func (c *Counters) cmdCounters(ctx context.Context, p json.RawMessage) (any, error) {
	in, err := decodeRef(p)
	if err != nil {
		return nil, err
	}
	if in.Device != "" {
		return map[string]any{"counters": []DeviceCounters{c.Get(in.Device)}}, nil
	}
	return map[string]any{"counters": c.All()}, nil
}
