package main

import (
	"context"
	"fmt"
	"image/png"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/openenroll/stationd/devices/fingerprint"
	"github.com/openenroll/stationd/devices/fingerprint/zfm"
)

func init() {
	register(command{
		name:    "capture-finger",
		summary: "capture one finger from a serial (zfm) scanner and save it as PNG",
		run:     runCaptureFinger,
	})
}

func runCaptureFinger(args []string, stdout io.Writer) error {
	fs := newFlags("capture-finger", os.Stderr)
	def := zfm.DefaultOptions()
	port := fs.String("port", "", "the scanner's serial port (e.g. /dev/ttyUSB0, or the path fwsim zfm prints)")
	baud := fs.Int("baud", def.Baud, "the module's line speed")
	address := fs.Uint("address", uint(def.Address), "module address")
	password := fs.Uint("password", 0, "module password")
	width := fs.Int("width", def.ImageWidth, "sensor image width in pixels")
	height := fs.Int("height", def.ImageHeight, "sensor image height in pixels")
	timeout := fs.Duration("timeout", def.CaptureTimeout.Duration, "how long to wait for a finger")
	out := fs.String("out", "", "PNG file to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *port == "" || *out == "" {
		return usageError{"capture-finger needs --port PATH and --out FILE.png"}
	}
	if *address > 0xFFFFFFFF || *password > 0xFFFFFFFF {
		return usageError{"--address and --password are 32-bit values"}
	}
	o := def
	o.Baud, o.Address, o.Password = *baud, uint32(*address), uint32(*password)
	o.ImageWidth, o.ImageHeight = *width, *height
	o.CaptureTimeout = zfm.Duration{Duration: *timeout}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	openCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	sc, err := zfm.OpenPort(openCtx, "", *port, o, nil)
	cancel()
	if err != nil {
		return err
	}
	defer sc.Close()
	fmt.Fprintf(stdout, "scanner on %s: %s; place a finger on the sensor\n", *port, sc.Info().Model)
	img, err := sc.Capture(ctx, fingerprint.CaptureOptions{})
	if err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img.Gray); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", *out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", *out, err)
	}
	b := img.Gray.Bounds()
	fmt.Fprintf(stdout, "captured %d × %d px at %d ppi (%.1f × %.1f mm, %d-bit) -> %s\n",
		b.Dx(), b.Dy(), img.PPI, img.WidthMM, img.HeightMM, img.Bits, *out)
	return nil
}
