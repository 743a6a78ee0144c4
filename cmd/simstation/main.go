// Command simstation is `make run`: it starts the simulated devices, the
// reference central and stationd configured to use them, prints the operator
// UI's address, and on Ctrl-C stops everything it started, by process id.
//
//	simstation -bin bin [-listen 127.0.0.1:8787] [-dir var/sim]
//
// The simulated scanner is fed by a "finger feeder" that places a
// synthetic finger on the platen a moment after the previous one was lifted,
// so an officer can click through a whole enrollment. -feed=false turns it
// off; then drive the scanner with `fwsim` control commands on its socket.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/openenroll/stationd/cmd/internal/simrig"
	"github.com/openenroll/stationd/internal/pcscdtest"
)

func main() {
	bin := flag.String("bin", "bin", "directory holding the built stationd, fwsim and central")
	dir := flag.String("dir", filepath.Join("var", "sim"), "directory for the simulated station's logs, keys and data")
	listen := flag.String("listen", "127.0.0.1:8787", "address of the operator UI")
	feed := flag.Bool("feed", true, "place and lift synthetic fingers on the simulated scanner by themselves")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rig, err := simrig.New(*bin, *dir)
	if err == nil {
		err = start(ctx, rig, *listen, *feed)
	}
	if err == nil {
		<-ctx.Done()
		fmt.Println("\nsimstation: stopping")
	}
	if serr := rig.StopAll(); serr != nil {
		fmt.Fprintln(os.Stderr, "simstation:", serr)
	}
	if pcscd != nil {
		pcscd.Stop()
	}
	if err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "simstation:", err)
		os.Exit(1)
	}
}

func start(ctx context.Context, rig *simrig.Rig, listen string, feed bool) error {
	keys, err := rig.MakeKeys()
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if _, err := rig.StartCentral(ctx, keys); err != nil {
		return err
	}
	if _, err := rig.StartZFM(ctx); err != nil {
		return err
	}
	portrait, _ := filepath.Abs(filepath.Join("testdata", "faces", "grace_hopper_512x512.jpg"))
	if _, err := rig.StartCamera(ctx, portrait, ""); err != nil {
		return err
	}
	// The slap scanner, foot pedal and status light on the virtual HID
	// transport: the fingers step then offers 4-4-2 slaps.
	if _, err := rig.StartHID(ctx); err != nil {
		return err
	}
	cfg := simrig.Config{Keys: keys, Uplink: true, Face: true}
	// The chip card needs the PC/SC daemon; without it (not root, pcscd
	// missing) the booth runs without the card step.
	sample, _ := filepath.Abs(filepath.Join("testdata", "card", "sample"))
	if d, err := pcscdtest.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "simstation: no chip card (%v)\n", err)
	} else {
		pcscd = d
		if _, err := rig.StartCard(ctx, sample); err != nil {
			return err
		}
		cfg.Card, cfg.CSCA = "read", filepath.Join(sample, "csca.crt")
	}
	if _, err := rig.WriteConfig(cfg); err != nil {
		return err
	}
	if _, err := rig.StartStationd(ctx, listen); err != nil {
		return err
	}
	if feed {
		go feeder(ctx, rig)
	}
	fmt.Printf(`
Simulated booth running.
  Operator UI:      http://%s/   (login token: %s)
  Central:          %s  (packets listed at %s/packets)
  Finger scanner:   %s  (control: %s)
  Camera:           %s
  Chip card:        %s
  Slap scanner, foot pedal, status light: %s
  Logs and data:    %s
Ctrl-C stops the station and its simulators.
`, rig.StationAddr, rig.Token, rig.CentralURL, rig.CentralHTTP, rig.ZFMPort, rig.ZFMControl, rig.CameraURL, cardLine(), rig.HIDDir, rig.Dir)
	return nil
}

// pcscd is the PC/SC daemon simstation started (nil when it used one
// already running, or none).
var pcscd *pcscdtest.Daemon

func cardLine() string {
	if pcscd == nil {
		return "none (pcscd unavailable)"
	}
	return "sample CCCD on \"Virtual PCD 00 00\": CAN 123456, MRZ 203012345 / 900115 / 300115"
}

// feeder plays the applicant: a finger of one synthetic identity on the
// platen for a few seconds, then off for a moment, cycling through the ten
// fingers.
func feeder(ctx context.Context, rig *simrig.Rig) {
	for i := 0; ctx.Err() == nil; i++ {
		pos := i%10 + 1
		identity := 1 + i/10
		rig.ZFM(fmt.Sprintf("place synth:%d:%d", identity, pos))
		sleep(ctx, 3*time.Second)
		rig.ZFM("lift")
		sleep(ctx, 1500*time.Millisecond)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
