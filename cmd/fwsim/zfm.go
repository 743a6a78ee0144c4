package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	zfmsim "github.com/openenroll/stationd/firmware-sim/zfm"
)

func init() {
	register(simulator{
		name:    "zfm",
		summary: "an R30x/ZFM serial fingerprint module on a pty (prints its port path)",
		run:     runZFM,
	})
}

func runZFM(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("zfm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: fwsim zfm [flags]\n\nRuns a simulated R30x/ZFM fingerprint module on a pty and prints\n\"port: PATH\" (a stable symlink) and \"control: SOCKET\". Control commands,\none per line, on stdin (-stdin) or the socket (e.g. with socat or nc -U):")
		fmt.Fprintln(stderr, zfmsim.ControlHelp)
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	dir := fs.String("dir", "", "directory for the port symlink and control socket (default: a new temporary directory)")
	link := fs.String("link", "zfm0", "name of the port symlink in -dir")
	baud := fs.Int("baud", 57600, "module line speed, 9600 × N")
	address := fs.Uint("address", 0xFFFFFFFF, "module address")
	password := fs.Uint("password", 0, "module password (non-zero: VfyPwd required)")
	packet := fs.Int("packet-size", 128, "data packet size: 32, 64, 128 or 256")
	width := fs.Int("width", 256, "sensor image width in pixels (even)")
	height := fs.Int("height", 288, "sensor image height in pixels")
	templates := fs.Int("templates", 0, "templates stored in the module's library (TemplateNum)")
	noPace := fs.Bool("no-pace", false, "do not emulate the line rate")
	anySpeed := fs.Bool("any-speed", false, "answer whatever line speed the host sets (default: only the module's baud)")
	genImg := fs.Duration("genimg-time", 150*time.Millisecond, "time GenImg takes with a finger on the platen")
	finger := fs.String("finger", "", "finger on the platen at start: a PNG, builtin[:SEED] or synth:ID:FINGER")
	script := fs.String("script", "", "scenario run at start: control commands separated by ';' (e.g. \"sleep 2s; place synth:1:2; sleep 5s; lift\")")
	control := fs.String("control", "", "control socket path (default: control.sock in -dir; \"none\" for no socket)")
	stdin := fs.Bool("stdin", true, "also read control commands from stdin")
	verbose := fs.Bool("v", false, "log protocol events to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if *address > 0xFFFFFFFF || *password > 0xFFFFFFFF {
		return fmt.Errorf("-address and -password are 32-bit values")
	}
	sim, err := zfmsim.Start(zfmsim.Config{
		Dir: *dir, Link: *link, Baud: *baud, Address: uint32(*address), Password: uint32(*password),
		PacketSize: *packet, Width: *width, Height: *height, Templates: *templates,
		NoPacing: *noPace, IgnoreLineSpeed: *anySpeed, GenImgTime: *genImg, Logger: log,
	})
	if err != nil {
		return err
	}
	defer sim.Close()
	if *finger != "" {
		if _, err := sim.Exec(ctx, "place "+*finger); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "port: %s\n", sim.Path())
	ctlPath := *control
	if ctlPath == "" {
		ctlPath = filepath.Join(filepath.Dir(sim.Path()), "control.sock")
	}
	if ctlPath != "none" {
		wait, err := sim.ListenControl(ctx, ctlPath)
		if err != nil {
			return err
		}
		defer wait()
		fmt.Fprintf(stdout, "control: %s\n", ctlPath)
	}
	if *stdin {
		// Not waited for: a read of the terminal cannot be interrupted,
		// and the process ends with ctx anyway.
		go sim.ServeControl(ctx, os.Stdin, stdout)
	}
	errc := make(chan error, 1)
	if *script != "" {
		go func() { errc <- sim.RunScript(ctx, *script) }()
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		if err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	}
}
