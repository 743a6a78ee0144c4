package tech

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/station/bus"
)

type countedDevice struct{ id string }

func (d countedDevice) Info() devices.Info {
	return devices.Info{ID: d.id, Kind: devices.KindFingerprint, Driver: "test"}
}
func (d countedDevice) Close() error { return nil }

// nextCounters waits for the next device.counters message on the bus.
func nextCounters(t *testing.T, sub *bus.Sub) DeviceCounters {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		m, _, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("no device.counters message: %v", err)
		}
		if m.Type == EventCounters {
			return m.Payload.(DeviceCounters)
		}
	}
}

// Counters count registry events (the error state and a removal as
// errors) and the capture flow's attempts, captures and
// failures, per device, and serve them to the console.
func TestCountersFromRegistryAndCaptures(t *testing.T) {
	reg := devices.NewRegistry(devices.Options{})
	defer reg.Close()
	b := bus.New()
	defer b.Close()
	sub := b.Subscribe(64)
	defer sub.Close()
	c := NewCounters(reg, b)
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()

	rep, err := reg.Attach(countedDevice{"scanner-1"})
	if err != nil {
		t.Fatal(err)
	}
	if d := nextCounters(t, sub); d.Device != "scanner-1" || d.Events != 1 || d.Errors != 0 {
		t.Fatalf("device added: %+v", d)
	}
	rep.SetState(devices.StateError, "checksum errors on the serial line")
	d := nextCounters(t, sub)
	if d.Events != 2 || d.Errors != 1 || d.LastError != "error: checksum errors on the serial line" || d.LastErrorTime.IsZero() {
		t.Fatalf("after the error state: %+v", d)
	}
	rep.SetState(devices.StateReady, "")
	if d = nextCounters(t, sub); d.Events != 3 || d.Errors != 1 {
		t.Fatalf("back to ready: %+v", d)
	}

	c.Attempt("scanner-1", "finger")
	c.Captured("scanner-1", "finger")
	c.Attempt("scanner-1", "finger")
	c.Failed("scanner-1", "finger", errors.New("image upload timed out"))
	for range 4 {
		d = nextCounters(t, sub)
	}
	if d.Attempts != 2 || d.Captures != 1 || d.Errors != 2 || d.LastError != "finger: image upload timed out" || !d.LastErrorTime.Equal(now) {
		t.Fatalf("after captures: %+v", d)
	}
	// A device nothing happened to is listed with zeros; one the registry
	// does not know (counted by id) too.
	c.Attempt("slap-1", "slap")
	nextCounters(t, sub)
	out, err := c.Commands()["device.counters"](ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(out)
	var got struct {
		Counters []DeviceCounters `json:"counters"`
	}
	json.Unmarshal(raw, &got)
	if len(got.Counters) != 2 || got.Counters[0].Device != "scanner-1" || got.Counters[0].Attempts != 2 || got.Counters[1].Device != "slap-1" {
		t.Fatalf("device.counters: %s", raw)
	}
	one, err := c.Commands()["device.counters"](ctx, json.RawMessage(`{"device":"slap-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if l := one.(map[string]any)["counters"].([]DeviceCounters); len(l) != 1 || l[0].Attempts != 1 {
		t.Fatalf("one device: %+v", one)
	}
	if _, err := c.Commands()["device.counters"](ctx, json.RawMessage(`{"devise":"x"}`)); err == nil {
		t.Fatal("unknown field accepted")
	}
	// The device going away is an error the technician sees.
	reg.Detach("scanner-1")
	if d = nextCounters(t, sub); d.Events != 4 || d.Errors != 3 || d.LastError != "disconnected" {
		t.Fatalf("after a removal: %+v", d)
	}
}

// With a file, the counters outlive the process: what one Counters counted
// and saved when its Run ended, the next one loads; a damaged file is
// refused with its name.
func TestCountersFileOutlivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "device-counters.json")
	c := NewCounters(nil, nil)
	if err := c.LoadFile(path); err != nil {
		t.Fatalf("missing file: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	c.Attempt("camera", "portrait")
	c.Captured("camera", "portrait")
	c.Attempt("scanner", "finger")
	c.Failed("scanner", "finger", errors.New("no answer"))
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	c2 := NewCounters(nil, nil)
	if err := c2.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	cam, sc := c2.Get("camera"), c2.Get("scanner")
	if cam.Attempts != 1 || cam.Captures != 1 || sc.Attempts != 1 || sc.Errors != 1 || sc.LastError != "finger: no answer" {
		t.Fatalf("after a restart: camera %+v, scanner %+v", cam, sc)
	}
	c2.Attempt("camera", "portrait")
	if got := c2.Get("camera").Attempts; got != 2 {
		t.Errorf("counting on after the restart: %d attempts, want 2", got)
	}

	os.WriteFile(path, []byte("{not json"), 0o600)
	if err := NewCounters(nil, nil).LoadFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("damaged file: %v", err)
	}
}
