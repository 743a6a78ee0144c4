// Command camsimd runs only the simulated camera (fwsim camera runs it
// too, among the other simulators). Tests build it without the race
// detector and start it as a separate process, so the simulator keeps its
// frame rate while the driver under test runs instrumented:
//
//	camsimd -size 480x360 -fps 25 -portrait PORTRAIT -script FILE [-controls misset] [-stamp]
//
// It prints "stream: URL", "control: URL" and "controls: URL" and serves
// until killed or until its standard input closes.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	camsim "github.com/openenroll/stationd/firmware-sim/camera"
)

func main() {
	size := flag.String("size", "640x480", "frame size WxH")
	fps := flag.Float64("fps", 25, "frames per second")
	portrait := flag.String("portrait", "testdata/faces/grace_hopper_512x512.jpg", "portrait file")
	script := flag.String("script", "", "scenario file")
	loop := flag.Bool("loop", false, "replay the script when it ends")
	controls := flag.String("controls", "", `camera settings at start: "misset", or name=value,... (exposure, gain, white_balance, focus)`)
	stamp := flag.Bool("stamp", false, "draw each frame's capture time into its top rows")
	flag.Parse()
	if err := run(*size, *fps, *portrait, *script, *loop, *controls, *stamp); err != nil {
		fmt.Fprintln(os.Stderr, "camsimd:", err)
		os.Exit(1)
	}
}

func run(size string, fps float64, portrait, script string, loop bool, controls string, stamp bool) error {
	var w, h int
	if _, err := fmt.Sscanf(size, "%dx%d", &w, &h); err != nil {
		return fmt.Errorf("-size %q: want WxH", size)
	}
	p, err := camsim.LoadPerson(portrait, camsim.DefaultEyes)
	if err != nil {
		return err
	}
	text := "hold 1h"
	if script != "" {
		b, err := os.ReadFile(script)
		if err != nil {
			return err
		}
		text = string(b)
	}
	steps, err := camsim.ParseScript(strings.NewReader(text))
	if err != nil {
		return err
	}
	ctl, err := camsim.ParseControls(controls, camsim.DefaultControls(camsim.DefaultSceneKelvin, camsim.DefaultFocusAt), camsim.DefaultFocusAt)
	if err != nil {
		return err
	}
	srv, err := camsim.Start(camsim.Config{Width: w, Height: h, FPS: fps, Person: p, Script: steps, Loop: loop, Controls: &ctl, Stamp: stamp})
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Printf("stream: %s\ncontrol: %s\ncontrols: %s\n", srv.URL(), srv.ControlURL(), srv.ControlsURL())
	// The parent closes our stdin (or dies): stop then.
	io.Copy(io.Discard, os.Stdin)
	return nil
}
