package main

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	zfmsim "github.com/openenroll/stationd/firmware-sim/zfm"
)

func TestCaptureFinger(t *testing.T) {
	sim, err := zfmsim.Start(zfmsim.Config{Baud: 115200, Width: 48, Height: 40})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	finger := zfmsim.BuiltinFinger(48, 40, 8)
	sim.Place(finger)
	out := filepath.Join(t.TempDir(), "finger.png")
	var stdout bytes.Buffer
	err = runCaptureFinger([]string{"--port", sim.Path(), "--baud", "115200", "--width", "48", "--height", "40", "--out", out}, &stdout)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "captured 48 × 40 px at 500 ppi") {
		t.Fatalf("stdout %q", stdout.String())
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	g, ok := img.(*image.Gray)
	if !ok || !bytes.Equal(g.Pix, zfmsim.Quantise4(finger).Pix) {
		t.Fatalf("PNG (%T) differs from the finger on the platen", img)
	}
}

func TestCaptureFingerErrors(t *testing.T) {
	var stdout bytes.Buffer
	if err := runCaptureFinger([]string{"--out", "x.png"}, &stdout); err == nil {
		t.Fatal("no --port accepted")
	} else if _, ok := err.(usageError); !ok {
		t.Fatalf("%T %v, want a usage error", err, err)
	}
	err := runCaptureFinger([]string{"--port", filepath.Join(t.TempDir(), "ttyNONE"), "--out", "x.png"}, &stdout)
	if err == nil || !strings.Contains(err.Error(), "plugged in") {
		t.Fatalf("missing port: %v", err)
	}
}
