// Package devices defines what every capture device of the station has in
// common: its identity, its state, driver registration by name (in the manner
// of database/sql), and the Registry that opens configured devices, re-opens
// them when they return after being unplugged, and tells any number of
// subscribers what happened.
//
// Device families live in sub-packages (fingerprint/..., camera, smartcard/...,
// hid...). They register a Driver from an init function; the daemon picks a
// driver by name from its configuration.
package devices

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// Kind is the family a device belongs to.
type Kind string

// Device kinds known to the station.
const (
	KindFingerprint Kind = "fingerprint" // single-finger scanner
	KindSlap        Kind = "slap"        // multi-finger (4-4-2) scanner
	KindCamera      Kind = "camera"
	KindCardReader  Kind = "smartcard"
	KindPedal       Kind = "pedal"
	KindLight       Kind = "light"
)

// State is what the station may expect of a device right now.
type State uint8

// Device states. The zero value is StateAbsent: a configured device that has
// not been found is absent until its driver opens it.
const (
	StateAbsent           State = iota // configured, not connected
	StateReady                         // connected and idle
	StateBusy                          // connected, running a command (capture, read...)
	StateError                         // connected but failing; Detail says why
	StateNeedsCalibration              // usable only after a technician calibrates it
)

var stateNames = [...]string{"absent", "ready", "busy", "error", "needs-calibration"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// MarshalText writes the state's name, so JSON and logs show "ready", not 1.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state name written by MarshalText.
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if n == string(b) {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("devices: unknown state %q", b)
}

// Info is a device's identity. ID is the name the station's configuration
// gives the device (or, for discovered devices, a stable name the driver
// derives); the other fields come from the device itself where it can tell.
type Info struct {
	ID       string `json:"id"`
	Kind     Kind   `json:"kind"`
	Driver   string `json:"driver"`
	Vendor   string `json:"vendor,omitempty"`
	Model    string `json:"model,omitempty"`
	Serial   string `json:"serial,omitempty"`
	Firmware string `json:"firmware,omitempty"`
	Port     string `json:"port,omitempty"`
}

// Device is an open device. Families add their own methods (a fingerprint
// scanner captures, a card reader transmits APDUs); the station reaches them
// with a type assertion on the family's interface.
type Device interface {
	// Info returns the device's identity. It may gain detail after open
	// (firmware version read from the device, for instance).
	Info() Info
	// Close releases the device. It must return promptly and be safe to
	// call more than once.
	Close() error
}

// Reporter is how an open device tells the registry its state changed. A
// driver that detects that its device has gone (port hung up, camera EOF,
// card reader removed) reports StateAbsent; the registry then closes it and
// re-opens it when the device returns.
type Reporter interface {
	SetState(s State, detail string)
}

// Config is one configured device, as the station's configuration file
// describes it. Options holds the driver's own options: the value returned
// by the driver's NewOptions, filled from the file.
type Config struct {
	ID      string
	Driver  string
	Port    string
	Options any
}

// Driver opens devices of one model family.
type Driver struct {
	// Name is what configuration files use to pick this driver ("zfm").
	Name string
	Kind Kind
	// NewOptions returns a pointer to the driver's options struct with its
	// defaults filled in; the configuration loader decodes the device's
	// options table into it (toml tags), rejecting unknown keys. Nil when
	// the driver takes no options.
	NewOptions func() any
	// Open connects to the device. It returns an error when the device is
	// not there (the registry keeps it absent and tries again later). The
	// context bounds only the opening, not the device's life.
	Open func(ctx context.Context, cfg Config, rep Reporter) (Device, error)
}

var (
	driversMu sync.RWMutex
	drivers   = map[string]Driver{}
)

// Register makes a driver available by name. It panics if the name is empty,
// Open is nil, or the name is registered twice: these are programming errors
// found at start-up.
func Register(d Driver) {
	driversMu.Lock()
	defer driversMu.Unlock()
	if d.Name == "" || d.Open == nil {
		panic("devices: Register with empty name or nil Open")
	}
	if _, dup := drivers[d.Name]; dup {
		panic("devices: Register called twice for driver " + d.Name)
	}
	drivers[d.Name] = d
}

// Lookup returns the driver registered under name.
func Lookup(name string) (Driver, bool) {
	driversMu.RLock()
	defer driversMu.RUnlock()
	d, ok := drivers[name]
	return d, ok
}

// Drivers returns the names of all registered drivers, sorted.
func Drivers() []string {
	driversMu.RLock()
	defer driversMu.RUnlock()
	names := make([]string, 0, len(drivers))
	for n := range drivers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
