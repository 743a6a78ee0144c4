package tech

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/devices/camera"
	"github.com/openenroll/stationd/station/bus"
)

// EventCalibrationApplied is published when a camera's saved calibration
// was set on it again after it was opened (payload: CalibrationApplied).
const EventCalibrationApplied = "tech.calibration.applied"

// CalibrationApplied says which saved settings went back onto a camera.
type CalibrationApplied struct {
	Device string `json:"device"`
	// Set maps each control to the value the camera accepted.
	Set map[string]float64 `json:"set"`
	// Failed maps a control the camera refused to the reason.
	Failed map[string]string `json:"failed,omitempty"`
}

// KeepCalibration follows the registry until ctx ends: whenever a camera
// is opened (at start, after it was unplugged, or after the registry
// re-opened it), the controls its last calibration left it with are set
// on it again. A camera that comes back from a reconnect starts from its
// configured or power-on settings, and the packets' manifests would
// otherwise state a calibration the camera no longer runs with.
// Calibrations that failed, and cameras without runtime controls, are
// left alone.
func (s *Service) KeepCalibration(ctx context.Context) {
	sub := s.opts.Registry.Subscribe(0)
	defer sub.Close()
	apply := func(id string) {
		if a, ok := s.reapply(ctx, id); ok {
			s.log.Info("camera calibration set again", "device", a.Device, "set", a.Set, "failed", a.Failed)
			if s.opts.Bus != nil {
				s.opts.Bus.Publish(bus.Message{Type: EventCalibrationApplied, Payload: a})
			}
		}
	}
	// Cameras opened before this started (stationd opens its devices
	// first) get their calibration now; later openings come as events.
	for _, st := range s.opts.Registry.Snapshot() {
		if st.Info.Kind == devices.KindCamera { // not open yet: reapply skips it
			apply(st.Info.ID)
		}
	}
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			return
		}
		if ev.Type == devices.EventAdded && ev.Device.Kind == devices.KindCamera {
			apply(ev.Device.ID)
		}
	}
}

// calibratedControls returns the settings the device's last usable
// calibration ended with ("after" in its adjustment check), or nil.
func (s *Service) calibratedControls(id string) map[string]float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.records[id]
	if rec == nil || rec.Calibration == nil || rec.Calibration.Result == Fail {
		return nil
	}
	for _, c := range rec.Calibration.Checks {
		if c.Name != "adjustment" || c.Result == Fail {
			continue
		}
		// One decoding for both forms the values come in: the
		// map[string]float64 the calibration wrote in memory, and the
		// map[string]any JSON made of it in the saved record.
		b, err := json.Marshal(c.Values["after"])
		if err != nil {
			return nil
		}
		var out map[string]float64
		if json.Unmarshal(b, &out) != nil {
			return nil
		}
		return out
	}
	return nil
}

// reapply sets the device's calibrated controls on it; ok is false when
// there was nothing to set.
func (s *Service) reapply(ctx context.Context, id string) (CalibrationApplied, bool) {
	want := s.calibratedControls(id)
	if len(want) == 0 {
		return CalibrationApplied{}, false
	}
	dev, ok := s.opts.Registry.Get(id)
	if !ok {
		return CalibrationApplied{}, false
	}
	cam, ok := dev.(*camera.Device)
	if !ok {
		return CalibrationApplied{}, false
	}
	if _, adjustable := cam.Adjustable(); !adjustable {
		return CalibrationApplied{}, false
	}
	a := CalibrationApplied{Device: id, Set: map[string]float64{}}
	// camera.AllControls lists each automatic switch before the value it
	// governs: the switch goes off first, then the value holds.
	done := map[string]bool{}
	apply := func(name string, v float64) {
		got, err := cam.SetControl(ctx, camera.Control(name), v)
		if err != nil {
			if a.Failed == nil {
				a.Failed = map[string]string{}
			}
			a.Failed[name] = err.Error()
			return
		}
		a.Set[name] = got
	}
	for _, n := range camera.AllControls {
		if v, ok := want[string(n)]; ok {
			apply(string(n), v)
			done[string(n)] = true
		}
	}
	var rest []string
	for n := range want {
		if !done[n] {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	for _, n := range rest {
		apply(n, want[n])
	}
	return a, true
}

// String is the applied settings in one line, for logs and tests.
func (a CalibrationApplied) String() string {
	return fmt.Sprintf("%s: set %v, failed %v", a.Device, a.Set, a.Failed)
}
