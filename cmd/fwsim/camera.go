package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"io"
	"log/slog"
	"os"
	"strings"

	camsim "github.com/openenroll/stationd/firmware-sim/camera"
)

func init() {
	register(simulator{
		name:    "camera",
		summary: "a camera serving a scripted portrait as an MJPEG stream over HTTP",
		run:     runCamera,
	})
}

// defaultCameraScript is played when no --script is given: a person sits
// down, fidgets, is badly lit for a moment, then sits still.
const defaultCameraScript = `
empty 1s
sit 1.5s
tilt 15 0.5s
hold 1s
tilt 0 0.5s
turn 25 0.5s
turn 0 0.5s
sidelight 0.6 0.5s
sidelight 0 0.5s
light 0.4 0.5s
light 1 0.5s
blink 0.25s
noise 2
hold 4s
leave 1.5s
empty 1s
`

func runCamera(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("camera", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (keep it on loopback)")
	size := fs.String("size", "640x480", "frame size WxH")
	fps := fs.Float64("fps", 25, "frames per second")
	portrait := fs.String("portrait", "testdata/faces/grace_hopper_512x512.jpg", "portrait to play (JPEG or PNG)")
	eyes := fs.String("eyes", "221,177,304,175", "eye centres in the portrait: x1,y1,x2,y2")
	script := fs.String("script", "", "scenario file (see firmware-sim/camera: empty, sit, hold, tilt, turn, blink, light, sidelight, noise, leave, unplug); default: a built-in one")
	loop := fs.Bool("loop", true, "replay the script when it ends (false: the stream ends, as a camera switched off)")
	quality := fs.Int("quality", 85, "JPEG quality of the frames")
	kelvin := fs.Float64("scene-kelvin", camsim.DefaultSceneKelvin, "colour temperature of the booth's light, kelvin")
	focusAt := fs.Float64("focus-at", camsim.DefaultFocusAt, "lens position (0..255) at which the seated person is sharp")
	controls := fs.String("controls", "", `camera settings at start: "misset" (dark, grainy, blue, blurred: for calibration), or name=value,... of exposure (100 µs units), gain (dB), white_balance (K), focus (0..255); default: neutral`)
	stamp := fs.Bool("stamp", false, "draw each frame's capture time into its top rows (for latency measurements; see docs/camera-sim.md)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var w, h int
	if _, err := fmt.Sscanf(*size, "%dx%d", &w, &h); err != nil {
		return fmt.Errorf("--size %q: want WxH like 640x480", *size)
	}
	var e [4]int
	if _, err := fmt.Sscanf(*eyes, "%d,%d,%d,%d", &e[0], &e[1], &e[2], &e[3]); err != nil {
		return fmt.Errorf("--eyes %q: want x1,y1,x2,y2", *eyes)
	}
	person, err := camsim.LoadPerson(*portrait, [2]image.Point{{e[0], e[1]}, {e[2], e[3]}})
	if err != nil {
		return err
	}
	text := defaultCameraScript
	if *script != "" {
		b, err := os.ReadFile(*script)
		if err != nil {
			return err
		}
		text = string(b)
	}
	steps, err := camsim.ParseScript(strings.NewReader(text))
	if err != nil {
		return err
	}
	ctl, err := camsim.ParseControls(*controls, camsim.DefaultControls(*kelvin, *focusAt), *focusAt)
	if err != nil {
		return err
	}
	srv, err := camsim.Start(camsim.Config{
		Addr: *addr, Width: w, Height: h, FPS: *fps, Person: person, Script: steps,
		Loop: *loop, JPEGQuality: *quality, SceneKelvin: *kelvin, FocusAt: *focusAt, Controls: &ctl, Stamp: *stamp,
		Logger: slog.New(slog.NewTextHandler(stderr, nil)),
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(stdout, "stream: %s\n", srv.URL())
	fmt.Fprintf(stdout, "control: %s\n", srv.ControlURL())
	fmt.Fprintf(stdout, "controls: %s\n", srv.ControlsURL())
	<-ctx.Done()
	return nil
}
