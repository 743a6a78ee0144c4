package tech

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openenroll/stationd/devices"
)

func TestFileName(t *testing.T) {
	for id, want := range map[string]string{
		"fp1": "fp1.json", "../x": "%2E%2E%2Fx.json", "cam 2": "cam%202.json", ".": "%2E.json",
	} {
		if got := fileName(id); got != want {
			t.Errorf("fileName(%q) = %q, want %q", id, got, want)
		}
	}
}

// TestSavedRecords: records round-trip through the directory, and a
// damaged or foreign file is ignored (the device then needs calibrating)
// rather than stopping the station.
func TestSavedRecords(t *testing.T) {
	dir := t.TempDir()
	reg := devices.NewRegistry(devices.Options{})
	defer reg.Close()
	now := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	svc, err := New(Options{Registry: reg, Dir: dir, Now: func() time.Time { return now }, CalibrationMaxAge: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rep := &Report{Device: "cam/1", Kind: devices.KindCamera, Run: RunCalibrate, Started: now, Finished: now, Result: Warn,
		Checks: []Check{{Name: "focus", Result: Warn, Values: map[string]any{"laplacian_variance": 50.0}}}}
	if err := svc.save(rep); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "torn.json"), []byte(`{"device":"x","selftest":{"device":"x","res`), 0o600)
	os.WriteFile(filepath.Join(dir, "foreign.json"), []byte(`{"device":"y","calibration":{"device":"z","run":"calibrate","result":"pass"}}`), 0o600)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name()[0] == '.' {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
	svc2, err := New(Options{Registry: reg, Dir: dir, Now: func() time.Time { return now.Add(time.Hour) }, CalibrationMaxAge: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if st, at := svc2.Calibration("cam/1"); st != CalOK || !at.Equal(now) {
		t.Errorf("reloaded: %s %v", st, at)
	}
	if len(svc2.records) != 1 {
		t.Errorf("records loaded: %v", svc2.records)
	}
	// Past the maximum age it must be calibrated again.
	svc2.opts.Now = func() time.Time { return now.Add(25 * time.Hour) }
	if st, _ := svc2.Calibration("cam/1"); st != CalNeeded {
		t.Errorf("after a day: %s", st)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	good, _ := json.Marshal(Record{Device: "fp1", Calibration: &Report{Device: "fp1", Run: RunCalibrate, Result: Pass,
		Checks: []Check{{Name: "cleanliness", Result: Pass, Values: map[string]any{"score": 1.0}}}}})
	f.Add(good)
	f.Add([]byte(`{"device":"x","selftest":{"device":"x","run":"selftest","result":"warn"}}`))
	f.Add([]byte(`{"device":""}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		if r.Device == "" || r.Calibration != nil && (r.Calibration.Device != r.Device || r.Calibration.Run != RunCalibrate) {
			t.Fatalf("accepted an inconsistent record: %s", b)
		}
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("accepted record does not encode again: %v", err)
		}
	})
}
